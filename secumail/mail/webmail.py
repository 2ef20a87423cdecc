"""Roundcube in its own container: the packages of its image and every file it is configured with.

Pure functions of Settings (and of a few values the caller reads: the secret key, the PHP version
of the image). The webmail container is a client of this server like any other: it logs in over
IMAPS, sends over SMTPS with the user's own password and edits filters over ManageSieve (STARTTLS),
each connection verifying the server's certificate against its name. It sees nothing of data_path
but its own directory (the SQLite database of sessions, contacts and preferences).
"""

from __future__ import annotations

import ipaddress
import json

from secumail.config.settings import Settings

# What Roundcube needs, and nothing else: php-fpm behind lighttpd, SQLite for its own database.
# dbconfig-no-thanks: the packages' database setup is ours (bin/initdb.sh at first start).
PACKAGES: tuple[str, ...] = (
    "roundcube-core",
    "roundcube-sqlite3",
    "roundcube-plugins",
    "php-fpm",
    "lighttpd",
    "dbconfig-no-thanks",
    "ca-certificates",
    "tini",
)

# Inside the container.
DATA = "/srv/webmail"  # data_path/webmail: roundcube.db
DB = f"{DATA}/roundcube.db"
CA_FILE = "/etc/roundcube/mail-ca.pem"
FPM_SOCKET = "/run/php/webmail-fpm.sock"
DOCROOT = "/var/lib/roundcube/public_html"
PLUGINS = ("managesieve", "archive", "zipdownload")
PASSWORD_FIELDS = ("user", "curpass", "newpass")  # the form fields Roundcube's httpapi driver posts


def webmail_address(settings: Settings) -> ipaddress.IPv4Interface:
    """The webmail container's address: the one after the mail container's, on the same bridge."""
    mail = settings.container.address
    return ipaddress.IPv4Interface(f"{mail.ip + 1}/{mail.network.prefixlen}")


def _php(value: object) -> str:
    """A PHP literal for a str/int/bool/list/dict (JSON's strings are valid PHP double-quoted strings
    once `$` is escaped)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value).replace("$", "\\$")
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_php(item) for item in value) + "]"
    if isinstance(value, dict):
        return "[" + ", ".join(f"{_php(k)} => {_php(v)}" for k, v in value.items()) + "]"
    raise TypeError(f"no PHP literal for {type(value).__name__}")


def _tls(settings: Settings) -> dict[str, object]:
    """Stream options of every connection to the mail server: the certificate must name the server
    and chain to CA_FILE (the system's CAs, plus the server's own certificate when it is self-signed)."""
    return {"ssl": {"verify_peer": True, "verify_peer_name": True, "peer_name": settings.main.fqdn,
                    "cafile": CA_FILE, "allow_self_signed": False}}  # fmt: skip


def servers(settings: Settings) -> dict[str, str]:
    """Roundcube's IMAP, SMTP and ManageSieve URLs: implicit TLS where the port is on, else STARTTLS."""
    fqdn, ports = settings.main.fqdn, settings.ports
    imap = f"ssl://{fqdn}:{ports.imaps}" if ports.imaps else f"tls://{fqdn}:{ports.imap}"
    smtp = f"ssl://{fqdn}:{ports.smtps}" if ports.smtps else f"tls://{fqdn}:{ports.submission}"
    sieve = f"tls://{fqdn}:{ports.sieve}" if ports.sieve else ""
    return {"imap": imap, "smtp": smtp, "sieve": sieve}


def plugins(settings: Settings) -> tuple[str, ...]:
    """managesieve only when the server offers it (ports.sieve), password only with webmail.password_port."""
    names = tuple(name for name in PLUGINS if name != "managesieve" or settings.ports.sieve)
    return names + ("password",) if settings.webmail.password_port else names


def password_url(settings: Settings) -> str:
    """secumaild's password-change service, on the bridge's host address (secumail.appliance.webmailpass)."""
    return f"http://{settings.container.host_address.ip}:{settings.webmail.password_port}/"


def password_config(settings: Settings, key: str) -> str:
    """The password plugin's config.inc.php: its httpapi driver posts (user, current, new) to the host's
    service with `key` as a bearer token; the service checks the current password against the account
    file and changes it as `mailctl user passwd` does. The container never writes the account store."""
    from secumail.mail.passwords import MIN_CHARS

    values: dict[str, object] = {
        "password_driver": "httpapi",
        "password_confirm_current": True,
        "password_minimum_length": MIN_CHARS,
        "password_require_nonalpha": False,
        "password_force_save": False,
        "password_httpapi_url": password_url(settings) if settings.webmail.password_port else "",
        "password_httpapi_method": "POST",
        "password_httpapi_var_user": PASSWORD_FIELDS[0],
        "password_httpapi_var_curpass": PASSWORD_FIELDS[1],
        "password_httpapi_var_newpass": PASSWORD_FIELDS[2],
        "password_httpapi_expect": "/^OK$/",
        "password_http_client": {"timeout": 20, "headers": {"Authorization": f"Bearer {key}"}},  # Guzzle's
    }
    lines = ["<?php", "// Written by secumail.", "$config = [];",
             *(f"$config[{_php(k)}] = {_php(v)};" for k, v in values.items())]  # fmt: skip
    return "\n".join(lines) + "\n"


def roundcube_config(settings: Settings, des_key: str) -> str:
    """/etc/roundcube/config.inc.php (replaces Debian's, which reads dbconfig's file)."""
    urls = servers(settings)
    values: dict[str, object] = {
        "db_dsnw": f"sqlite:///{DB}?mode=0640",
        "imap_host": urls["imap"],
        "imap_conn_options": _tls(settings),
        "smtp_host": urls["smtp"],
        "smtp_user": "%u",
        "smtp_pass": "%p",
        "smtp_conn_options": _tls(settings),
        "username_domain": settings.main.domain,
        "mail_domain": "%d",
        "product_name": f"Webmail {settings.main.domain}",
        "support_url": "",
        "des_key": des_key,
        "plugins": list(plugins(settings)),
        "skin": "elastic",
        "enable_installer": False,
        "enable_spellcheck": False,  # its default engine asks a service on the internet
        "log_driver": "stdout",  # php-fpm's log, then the container's console: no log files to rotate
        "login_autocomplete": 0,
        "ip_check": True,
        "session_lifetime": 30,
    }
    lines = ["<?php", "// Written by secumail from the mailserver UCI settings: changes here are overwritten.",
             "$config = [];"]  # fmt: skip
    lines += [f"$config[{_php(key)}] = {_php(value)};" for key, value in values.items()]
    return "\n".join(lines) + "\n"


def managesieve_config(settings: Settings) -> str:
    """The managesieve plugin's own config.inc.php (loaded after the main one, so it names the server too)."""
    values = {"managesieve_host": servers(settings)["sieve"], "managesieve_auth_type": "PLAIN",
              "managesieve_conn_options": _tls(settings), "managesieve_vacation": 1}  # fmt: skip
    lines = ["<?php", "$config = [];", *(f"$config[{_php(k)}] = {_php(v)};" for k, v in values.items())]
    return "\n".join(lines) + "\n"


def lighttpd_conf(settings: Settings) -> str:
    """lighttpd on webmail.port: Roundcube's public_html only, PHP through php-fpm's socket."""
    return f"""# Written by secumail: Roundcube on port {settings.webmail.port}.
server.modules = ("mod_access", "mod_fastcgi")
server.document-root = "{DOCROOT}"
server.port = {settings.webmail.port}
server.username = "www-data"
server.groupname = "www-data"
server.pid-file = "/run/lighttpd.pid"
server.errorlog = "/var/log/lighttpd/error.log"
server.tag = ""
server.max-connections = 64
server.follow-symlink = "enable"
index-file.names = ("index.php")
url.access-deny = ("~", ".inc", ".sh", ".sql", ".md")
include_shell "/usr/share/lighttpd/create-mime.conf.pl"
fastcgi.server = (".php" => ((
    "socket" => "{FPM_SOCKET}",
    "broken-scriptfilename" => "enable",
)))
"""


def fpm_pool() -> str:
    """One php-fpm pool, workers started on demand and ended after 60 s idle: an idle webmail costs
    only php-fpm's master."""
    return f"""; Written by secumail.
[webmail]
user = www-data
group = www-data
listen = {FPM_SOCKET}
listen.owner = www-data
listen.group = www-data
listen.mode = 0660
pm = ondemand
pm.max_children = 4
pm.process_idle_timeout = 60s
pm.max_requests = 200
catch_workers_output = yes
php_admin_value[memory_limit] = 64M
php_admin_value[upload_max_filesize] = 10M
php_admin_value[post_max_size] = 12M
"""


def start_script(php_version: str) -> str:
    """/etc/secumail/start of the webmail image (run by its init at boot): the database's schema
    brought up to date, then php-fpm and lighttpd."""
    return f"""#!/bin/sh
# Written by secumail: bring Roundcube up.
set -e
mkdir -p /run/php /var/log/roundcube /var/log/lighttpd
chown www-data:www-data /run/php /var/log/roundcube /var/log/lighttpd
# Roundcube makes a new SQLite database itself; an existing one may need a newer schema.
if [ -s {DB} ]; then
    su -s /bin/sh www-data -c "/usr/share/roundcube/bin/updatedb.sh --dir=/usr/share/roundcube/SQL \\
        --package=roundcube" >/dev/null
fi
/usr/sbin/php-fpm{php_version} --daemonize --fpm-config /etc/php/{php_version}/fpm/php-fpm.conf
/usr/sbin/lighttpd -f /etc/lighttpd/webmail.conf
"""


STOP_SCRIPT = """#!/bin/sh
# Written by secumail.
for pid in /run/lighttpd.pid /run/php/php*-fpm.pid; do
    [ -f "$pid" ] && kill "$(cat "$pid")" 2>/dev/null
done
exit 0
"""


def self_signed(pem: str) -> bool:
    """Whether the first certificate of a PEM chain is its own issuer (the fallback before ACME)."""
    from cryptography import x509

    try:
        cert = x509.load_pem_x509_certificate(pem.encode())
    except ValueError:
        return False
    return cert.issuer == cert.subject


def hosts(settings: Settings, mail_ip: str) -> str:
    """/etc/hosts: the server's name is the mail container's address, whatever public DNS says."""
    return (f"127.0.0.1\tlocalhost\n::1\tlocalhost\n{mail_ip}\t{settings.main.fqdn}\n"
            f"{webmail_address(settings).ip}\t{settings.webmail.container}\n")  # fmt: skip
