"""The one Knot starter of the tests: an authoritative server on a loopback address, port 53, that
accepts dynamic updates (and transfers) signed with one TSIG key (hmac-sha256).

    knot = Knot(workdir, address="127.0.53.1", zones={"example.test": zone_text}, secret=secret).start()
    ...
    knot.stop()

Zone files are written fresh at every start (`restart_fresh()` gives pristine zones back).
"""

from __future__ import annotations

import base64
import os
import shutil
import subprocess
from dataclasses import dataclass, field

from tests.support.procs import terminate
from tests.support.wait import wait_until

TSIG_NAME = "secumail-test"


def new_secret() -> str:
    return base64.b64encode(os.urandom(32)).decode()


@dataclass
class Knot:
    workdir: str
    address: str
    zones: dict[str, str]  # zone name -> zone file text
    secret: str = field(default_factory=new_secret)
    tsig_name: str = TSIG_NAME
    port: int = 53
    proc: subprocess.Popen | None = None

    @property
    def conf_path(self) -> str:
        return os.path.join(self.workdir, "knot.conf")

    def conf(self) -> str:
        zones = "".join(f"  - domain: {zone}\n    acl: [update]\n" for zone in self.zones)
        return f"""server:
    rundir: "{self.workdir}/run"
    user: root:root
    listen: {self.address}@{self.port}
    background-workers: 1
    udp-workers: 1
    tcp-workers: 1
log:
  - target: stderr
    any: warning
key:
  - id: {self.tsig_name}
    algorithm: hmac-sha256
    secret: {self.secret}
acl:
  - id: update
    key: {self.tsig_name}
    action: [update, transfer]
database:
    storage: "{self.workdir}/db"
template:
  - id: default
    storage: "{self.workdir}/zones"
    file: "%s.zone"
    zonefile-sync: 0
    journal-content: changes
zone:
{zones}"""

    def _write(self) -> None:
        for sub in ("zones", "db"):
            shutil.rmtree(os.path.join(self.workdir, sub), ignore_errors=True)
        for sub in ("zones", "db", "run"):
            os.makedirs(os.path.join(self.workdir, sub), exist_ok=True)
        for zone, text in self.zones.items():
            with open(os.path.join(self.workdir, "zones", f"{zone}.zone"), "w") as handle:
                handle.write(text)
        with open(self.conf_path, "w") as handle:
            handle.write(self.conf())

    def start(self) -> Knot:
        """Fresh zones, knotd started, back once it answers SOA for every zone."""
        self._write()
        with open(os.path.join(self.workdir, "knot.log"), "ab") as log:
            self.proc = subprocess.Popen(["knotd", "-c", self.conf_path], stdout=log, stderr=subprocess.STDOUT)
        try:
            for zone in self.zones:
                wait_until(lambda zone=zone: self._soa(zone), timeout=20, proc=self.proc,
                           what=f"knotd to serve {zone} (see {self.workdir}/knot.log)")  # fmt: skip
        except AssertionError:
            self.stop()
            raise
        return self

    def _soa(self, zone: str) -> bool:
        import dns.message
        import dns.query

        response = dns.query.udp(dns.message.make_query(zone, "SOA"), self.address, port=self.port, timeout=0.5)
        return bool(response.answer)

    def stop(self) -> None:
        terminate(self.proc)
        self.proc = None

    def restart_fresh(self) -> None:
        """Back to the pristine zones (between tests that need an empty zone)."""
        self.stop()
        self.start()

    def knotc(self, *args: str) -> str:
        return subprocess.run(["knotc", "-c", self.conf_path, *args], capture_output=True, text=True,
                              check=True).stdout  # fmt: skip

    def txt(self, name: str) -> list[str]:
        import dns.message
        import dns.query

        response = dns.query.udp(dns.message.make_query(name, "TXT"), self.address, port=self.port, timeout=2)
        return [b"".join(r.strings).decode() for rrset in response.answer for r in rrset if rrset.rdtype == 16]

    def credentials_file(self, path: str, algorithm: str = "hmac-sha256") -> str:
        """An rfc2136 credentials file (0600) for this server's key."""
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(f"[rfc2136]\nkey_name={self.tsig_name}\nkey_secret={self.secret}\n"
                         f"key_algorithm={algorithm}\n")  # fmt: skip
        return path
