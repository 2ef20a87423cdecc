"""What a compromised mail service could reach: the real mail container (as `mailctl install` mounts and
shifts data_path, with the mail zone's input policy on its bridge) seen from inside and from the host."""

from __future__ import annotations

import contextlib
import http.server
import os
import socket
import threading
from collections.abc import Iterator

import pytest

from secumail.container import idmap

pytestmark = pytest.mark.integration

SECRET = "not-for-the-container-7f3a"


@pytest.fixture(scope="module")
def host_secrets(mailworld) -> Iterator[dict[str, str]]:
    """What data_path holds beside the mail: the mesh node key, the backup repository, an ACME account key."""
    data = mailworld.data
    files = {
        "mesh": os.path.join(data, "mesh", "node.key"),
        "backup": os.path.join(data, "backup", "repo", "config"),
        "acme": os.path.join(data, "ssl", "acme", "default", "account.key"),
    }
    for path in files.values():
        os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
        with open(path, "w") as handle:
            handle.write(SECRET + "\n")
    yield files
    for path in files.values():
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)


def _sh(mailworld, script: str):
    return mailworld.lxc.container.exec(["bash", "-c", script], timeout=60)


def test_only_the_mail_service_parts_of_data_path_are_visible_inside(mailworld, host_secrets):
    listing = _sh(mailworld, "ls -A /srv/mailserver").stdout.split()
    # relay: read-only, smarthost logins; mta-sts and autoconfig: read-only, what lighttpd serves; dav: Radicale's
    assert sorted(listing) == ["autoconfig", "config", "dav", "dkim", "home", "mail", "mta-sts", "relay", "ssl"]
    for inside in ("/srv/mailserver/mesh", "/srv/mailserver/backup", "/srv/mailserver/ssl/acme/default"):
        assert _sh(mailworld, f"test -e {inside}").returncode != 0, f"{inside} is visible in the container"
    found = _sh(mailworld, f"grep -rl {SECRET} /srv /var/spool/postfix /etc /root /tmp 2>/dev/null; true").stdout
    assert found.strip() == "", found
    # what the services need is there
    assert _sh(mailworld, "test -r /srv/mailserver/ssl/privkey.pem && test -r /srv/mailserver/ssl/fullchain.pem"
               ).returncode == 0  # fmt: skip


def test_read_only_mounts_cannot_be_written_or_remounted(mailworld):
    for target in ("/srv/mailserver/config/users", "/srv/mailserver/ssl/fullchain.pem",
                   "/srv/mailserver/config/live/container/reload"):  # fmt: skip
        res = _sh(mailworld, f"echo x >> {target}")
        assert res.returncode != 0 and "Read-only file system" in res.stderr, (target, res)
    res = _sh(mailworld, "mount -o remount,rw /srv/mailserver/config")
    assert res.returncode != 0
    res = _sh(mailworld, "umount /srv/mailserver/ssl/acme")
    assert res.returncode != 0


def test_data_is_owned_by_the_mapped_ids_and_the_services_run_as_their_own_users(mailworld):
    mapping = mailworld.lxc.spec.idmap
    data = mailworld.data
    vmail = os.stat(os.path.join(data, "mail"))  # made vmail's by the container's reload script
    assert (vmail.st_uid, vmail.st_gid) == (mapping.uid(5000), mapping.gid(5000))
    assert os.stat(os.path.join(data, "ssl", "privkey.pem")).st_uid == mapping.uid(0)
    users = os.stat(os.path.join(data, "config", "users"))
    assert users.st_gid == mapping.gid(idmap.image_id(mailworld.lxc.rootfs, "dovecot"))
    assert users.st_mode & 0o777 == 0o640
    acme = os.stat(os.path.join(data, "ssl", "acme"))
    assert acme.st_uid == 0 and acme.st_mode & 0o077 == 0  # the host's, not the container's
    # each service's processes, by user name inside and uid on the host
    script = ('for p in /proc/[0-9]*; do c=$(cat $p/comm 2>/dev/null) || continue; '
              'u=$(awk \'/^Uid:/{print $3}\' $p/status); echo "$c $(getent passwd $u | cut -d: -f1)"; done')
    seen = {tuple(line.split()) for line in _sh(mailworld, script).stdout.splitlines() if len(line.split()) == 2}
    for process, user in (("master", "root"), ("qmgr", "postfix"), ("dovecot", "root"), ("imap-login", "dovenull"),
                          ("opendkim", "opendkim")):  # fmt: skip
        assert (process, user) in seen, (process, user, sorted(seen))
    init = mailworld.lxc.container.pid()
    with open(f"/proc/{init}/status") as handle:
        assert f"Uid:\t{mapping.uid(0)}" in handle.read()


class _Quiet(http.server.BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 - http.server's name
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"luci")

    def log_message(self, *args):
        pass


@pytest.fixture
def router_services(mailworld) -> Iterator[dict[str, int]]:
    """Listeners on the bridge address standing for the router's LuCI (80), SSH (22, or 2222 when taken),
    the mesh SFTP port and its DNS resolver (53/udp)."""
    host = mailworld.lxc.host_ip
    servers, sockets = [], []
    ports = {"luci": 80, "mesh": mailworld.settings.mesh.port}
    httpd = http.server.HTTPServer((host, 80), _Quiet)
    servers.append(httpd)
    for name, candidates in (("ssh", (22, 2222)), ("mesh", (ports["mesh"],))):
        for port in candidates:
            sock = socket.socket()
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind((host, port))
            except OSError:
                sock.close()
                continue
            sock.listen(4)
            sockets.append(sock)
            ports[name] = port
            break
    dns = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    dns.bind((host, 53))
    sockets.append(dns)
    ports["dns"] = 53

    def answer():
        with contextlib.suppress(OSError):
            while True:
                data, peer = dns.recvfrom(512)
                dns.sendto(b"pong:" + data, peer)

    threads = [threading.Thread(target=httpd.serve_forever, daemon=True), threading.Thread(target=answer, daemon=True)]
    for thread in threads:
        thread.start()
    try:
        yield ports
    finally:
        httpd.shutdown()
        httpd.server_close()
        for sock in sockets:
            sock.close()


def test_from_inside_the_router_answers_dns_only(mailworld, router_services):
    host = mailworld.lxc.host_ip
    # the listeners are up: the host itself reaches them
    with socket.create_connection((host, 80), timeout=5) as conn:
        conn.sendall(b"GET / HTTP/1.0\r\n\r\n")
        reply = b""
        while chunk := conn.recv(512):  # HTTP/1.0: the server closes; headers and body may come apart
            reply += chunk
        assert b"luci" in reply
    for name in ("luci", "ssh", "mesh"):
        port = router_services[name]
        res = _sh(mailworld, f"timeout 5 bash -c 'exec 3<>/dev/tcp/{host}/{port}' && echo CONNECTED")
        assert "CONNECTED" not in res.stdout, f"{name} (port {port}) is reachable from the container"
        assert "refused" in res.stderr.lower(), (name, res.stderr)  # rejected at once, not a timeout
    res = _sh(mailworld, f"exec 3<>/dev/udp/{host}/53; printf query >&3; timeout 5 head -c 10 <&3")
    assert res.stdout == "pong:query", res


def test_the_host_network_mode_config_passes_the_real_checks(mailworld):
    """network_mode host renders an empty mynetworks and an InternalHosts without entries: Postfix and
    OpenDKIM themselves accept both (the deploy checks, run on that generation)."""
    import dataclasses
    import shutil

    from secumail.appliance.ownership import hand_over
    from secumail.mail import deploy, render, store

    settings = mailworld.settings
    host = dataclasses.replace(settings, container=dataclasses.replace(settings.container, network_mode="host"))
    staging = os.path.join(mailworld.data, "config", "generated", "host-mode-check")
    try:
        gen = render.container_path(settings, staging)
        domains = store.load(settings.main.data_path, settings.main.domain).domains
        deploy.write_files(staging, render.render_all(host, domains, gen))  # staged as deploy stages it
        hand_over(settings, "config")
        deploy.check(mailworld.lxc.container, gen, dkim=True)
        res = mailworld.exec(["postconf", "-c", f"{gen}/postfix", "-h", "mynetworks"])
        assert res.returncode == 0 and res.stdout.strip() == "", res
    finally:
        shutil.rmtree(staging, ignore_errors=True)
