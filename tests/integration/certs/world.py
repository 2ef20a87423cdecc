"""The test world for certificates: a real Knot (authoritative, TSIG updates) and a real pebble.

Used by the integration tests and by bench/certs_issuance.py. Every server
binds 127.0.61.x. Pebble makes a new root on every start: `pebble_root()`
fetches it from the management port.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import ssl
import subprocess
import time
import urllib.request
from dataclasses import dataclass

from tests.support import apt
from tests.support.knot import TSIG_NAME as TSIG_NAME  # re-exported: bench and tests name it through world
from tests.support.knot import Knot
from tests.support.procs import terminate
from tests.support.wait import wait_port

DNS_ADDR = "127.0.61.1"
PEBBLE_ADDR = "127.0.61.2"
ZONE = "example.test"
BLOCKED = "blocked.example.test"  # on the first pebble's blocklist
EAB = {"kid-1": "zWNDZM6eQGHWpSRTPal5eIUYFTu7EajVIoguysqZ9wG44nMEtx3MUAsUDkMTQ12W"}  # the second pebble's key
APT_PACKAGES = {"knotd": "knot", "pebble": "pebble", "kdig": "knot-dnsutils"}


def missing_programs(names=("knotd", "pebble")) -> list[str]:
    return [name for name in names if shutil.which(name, path=os.environ.get("PATH", "") + ":/usr/sbin:/sbin") is None]


def ensure_packages(names=("knotd", "pebble")) -> str | None:
    """apt-get install what is missing; a reason string when that is impossible."""
    missing = missing_programs(names)
    if not missing:
        return None
    reason = apt.install(sorted({APT_PACKAGES.get(name, name) for name in missing}))
    if reason is None and missing_programs(names):
        return f"installed, but still missing: {', '.join(missing_programs(names))}"
    return reason


def start_knot(workdir: str, records: str = "") -> Knot:
    """Knot serving ZONE on DNS_ADDR:53, updates allowed with the TSIG key (hmac-sha256)."""
    zone_text = f"""$ORIGIN {ZONE}.
$TTL 60
@ SOA ns1.{ZONE}. hostmaster.{ZONE}. {int(time.time())} 3600 600 86400 60
@ NS ns1.{ZONE}.
ns1 A {DNS_ADDR}
mail A 127.0.61.3
{records}
"""
    return Knot(workdir, DNS_ADDR, {ZONE: zone_text}).start()


@dataclass
class Pebble:
    workdir: str
    proc: subprocess.Popen
    ca_file: str  # trust anchor for pebble's own HTTPS listener
    address: str
    port: int
    mgmt_port: int

    @property
    def directory(self) -> str:
        return f"https://{self.address}:{self.port}/dir"

    def stop(self) -> None:
        terminate(self.proc)

    def root_pem(self) -> bytes:
        """The issuing root of this run (new on every start), from the management port."""
        context = ssl.create_default_context(cafile=self.ca_file)
        url = f"https://{self.address}:{self.mgmt_port}/roots/0"
        with urllib.request.urlopen(url, context=context, timeout=10) as response:  # noqa: S310
            return response.read()


def _listener_cert(workdir: str, address: str) -> tuple[str, str, str]:
    """A CA and a leaf for pebble's HTTPS listener (Debian ships none)."""
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = dt.datetime.now(dt.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "secumail test listener CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "pebble")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address(address))]),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    ca_path, cert_path, key_path = (os.path.join(workdir, n) for n in ("listener-ca.pem", "cert.pem", "key.pem"))
    with open(ca_path, "wb") as handle:
        handle.write(ca.public_bytes(serialization.Encoding.PEM))
    with open(cert_path, "wb") as handle:
        handle.write(leaf.public_bytes(serialization.Encoding.PEM))
    with open(key_path, "wb") as handle:
        handle.write(
            key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
    return ca_path, cert_path, key_path


def start_pebble(
    workdir: str,
    dns_server: str,
    *,
    address: str = PEBBLE_ADDR,
    port: int = 14000,
    mgmt_port: int = 15000,
    validity: int | None = None,
    eab: dict | None = None,
    blocklist: list[str] | None = None,
) -> Pebble:
    os.makedirs(workdir, exist_ok=True)
    ca_path, cert_path, key_path = _listener_cert(workdir, address)
    config = {
        "listenAddress": f"{address}:{port}",
        "managementListenAddress": f"{address}:{mgmt_port}",
        "certificate": cert_path,
        "privateKey": key_path,
        "httpPort": 5002,
        "tlsPort": 5001,
        "ocspResponderURL": "",
        "externalAccountBindingRequired": bool(eab),
    }
    if eab:
        config["externalAccountMACKeys"] = eab
    if validity:
        config["certificateValidityPeriod"] = validity
    if blocklist:
        config["domainBlocklist"] = blocklist
    path = os.path.join(workdir, "pebble.json")
    with open(path, "w") as handle:
        json.dump({"pebble": config}, handle)
    env = dict(os.environ, PEBBLE_VA_NOSLEEP="1", PEBBLE_WFE_NONCEREJECT="0", PEBBLE_AUTHZREUSE="0")
    log = open(os.path.join(workdir, "pebble.log"), "wb")  # noqa: SIM115 - held by the server process
    proc = subprocess.Popen(
        ["pebble", "-config", path, "-dnsserver", dns_server],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
        cwd=workdir,
    )
    pebble = Pebble(workdir, proc, ca_path, address, port, mgmt_port)
    try:
        wait_port(address, port, proc=proc)
        wait_port(address, mgmt_port, proc=proc)
    except AssertionError:
        pebble.stop()
        raise
    return pebble
