"""exec: any script does the writing (SecuBox dnsctl, acme.sh dnsapi wrappers, your own).

Protocol (docs/dns-providers.md):
    SCRIPT add  NAME TYPE TTL VALUE   add one value            (exit 0 = done)
    SCRIPT del  NAME TYPE TTL VALUE   delete one value         (exit 0 also when absent)
    SCRIPT list NAME                  print "NAME TTL TYPE VALUE" lines; exit 3 = not supported
NAME is absolute without the final dot; VALUE is presentation form, except TXT
where it is the plain text (unquoted, unsplit), as acme.sh hooks expect.
The script runs only if root (or the user running mailctl) alone can change it
(see trusted_script). The credentials file's KEY=value pairs are passed in the environment (upper case),
plus SECUMAIL_DNS_ZONE. When `list` is not supported, current records are read
from the zone's authoritative servers (mailserver.dns.server or NS via dns.resolver).
"""

from __future__ import annotations

import os
import stat
from collections.abc import Mapping
from typing import Any

from secumail.dns.providers.base import Change, DnsProvider, value_changes
from secumail.dns.records import RRset, normalize, txt_quote, txt_text
from secumail.errors import InputError, ProviderError, SecumailError

LIST_UNSUPPORTED = 3


class Provider(DnsProvider):
    name = "exec"
    credential_keys: dict[str, str] = {}

    def __init__(self, dns: Any, credentials: Mapping[str, str]) -> None:
        super().__init__(dns, credentials)
        self.script = dns.script
        if not self.script:
            raise InputError("exec DNS provider: set mailserver.dns.script to the script to run")
        self.script = trusted_script(self.script)
        self.can_list = True

    def zones(self) -> list[str]:
        return [self.dns.zone] if self.dns.zone else []

    def find_zone(self, name: str) -> str:
        if self.dns.zone:
            return super().find_zone(name)
        from secumail.dns.check import Servers

        return self._dns_zone(Servers, name)

    def _dns_zone(self, servers_cls: Any, name: str) -> str:
        from secumail.dns import wire

        servers = servers_cls(self._settings_like())
        server = servers.resolvers[0] if servers.resolvers else None
        if server is None:
            raise InputError("exec DNS provider: set mailserver.dns.zone (or dns.resolver to find it)")
        return wire.find_soa_zone(server, name, self.timeout)[0]

    def _settings_like(self) -> Any:
        class _S:
            dns = self.dns

        return _S()

    def _run(self, *args: str) -> Any:
        from secumail.system.proc import run

        env = {k.upper(): v for k, v in self.credentials.items()}
        env["SECUMAIL_DNS_ZONE"] = self.dns.zone
        try:
            return run([self.script, *args], check=False, timeout=self.timeout, env=env)
        except SecumailError as exc:
            raise ProviderError(f"exec DNS provider: {exc}") from None

    def list_rrsets(self, zone: str, name: str | None = None) -> list[RRset]:
        if name is None:
            raise ProviderError("exec DNS provider: listing a whole zone is not part of the protocol")
        if self.can_list:
            result = self._run("list", name)
            if result.returncode == LIST_UNSUPPORTED:
                self.can_list = False
            elif not result.ok:
                raise ProviderError(f"exec DNS provider: {self.script} list {name} failed: {_last(result)}")
            else:
                return _parse_list(result.stdout, self.script)
        return self._from_dns(zone, name)

    def read(self, zone: str, keys: Any) -> dict[tuple[str, str], RRset]:
        found = {}
        for name in sorted({n for n, _ in keys}):
            for rr in self.list_rrsets(zone, name):
                found[rr.key] = rr
        return found

    def _from_dns(self, zone: str, name: str) -> list[RRset]:
        from secumail.dns.check import Servers
        from secumail.dns.providers.rfc2136 import LIST_TYPES

        servers = Servers(self._settings_like())
        if self.dns.server:
            from secumail.dns import wire

            auth = [wire.parse_server(self.dns.server)]
        else:
            auth = servers.authoritative(name)
        out = []
        for rtype in LIST_TYPES:
            rr = servers.ask(auth[0], name, rtype, recursion=False)
            if rr is not None:
                out.append(rr)
        return out

    def apply(self, zone: str, changes: list[Change]) -> None:
        for change in changes:
            gone, come = value_changes(change)
            for value in gone:
                self._write("del", *change.key, change.ttl, value)
            for value in come:
                self._write("add", *change.key, change.ttl, value)

    def _write(self, verb: str, name: str, rtype: str, ttl: int, value: str) -> None:
        shown = txt_text(value) if rtype == "TXT" else value
        self.requests += 1
        result = self._run(verb, name, rtype, str(ttl), shown)
        if not result.ok:
            raise ProviderError(f"exec DNS provider: {self.script} {verb} {name} {rtype} failed: {_last(result)}")

    def describe(self) -> str:
        return f"exec ({self.script})"


def trusted_script(path: str) -> str:
    """The script's real path, once it is checked that only root (or whoever runs us) can change it.

    It runs as root with the provider's credentials in its environment: it must be owned by root (or by
    the user running mailctl), executable and not group/world-writable, and so must every directory on
    its real path (a sticky directory such as /tmp excepted: others cannot replace what they do not
    own there). Symlinks are resolved first and the resolved path is what runs.
    """
    option = "mailserver.dns.script"
    real = os.path.realpath(path)
    owners = {0, os.geteuid()}
    try:
        st = os.stat(real)
    except OSError:
        raise InputError(f"exec DNS provider: {option} {path} is missing") from None
    if not stat.S_ISREG(st.st_mode) or not os.access(real, os.X_OK):
        raise InputError(f"exec DNS provider: {option} {path} is not an executable file")
    if st.st_uid not in owners:
        raise InputError(f"exec DNS provider: {option} {path} is owned by uid {st.st_uid}, not root: "
                         f"chown root {real}")  # fmt: skip
    if st.st_mode & 0o022:
        raise InputError(f"exec DNS provider: {option} {path} is writable by group or others "
                         f"(mode {stat.S_IMODE(st.st_mode):04o}): chmod go-w {real}")  # fmt: skip
    directory = os.path.dirname(real)
    while True:
        dst = os.stat(directory)
        if dst.st_uid not in owners:
            raise InputError(f"exec DNS provider: {option} {path}: directory {directory} is owned by uid "
                             f"{dst.st_uid}, not root")  # fmt: skip
        if dst.st_mode & 0o022 and not dst.st_mode & stat.S_ISVTX:
            raise InputError(f"exec DNS provider: {option} {path}: directory {directory} is writable by group "
                             f"or others (mode {stat.S_IMODE(dst.st_mode):04o}): chmod go-w {directory}")  # fmt: skip
        parent = os.path.dirname(directory)
        if parent == directory:
            return real
        directory = parent


def _last(result: Any) -> str:
    text = (result.stderr or result.stdout).strip()
    return text.splitlines()[-1] if text else f"exit {result.returncode}"


def _parse_list(text: str, script: str) -> list[RRset]:
    sets: dict[tuple[str, str], tuple[int, list[str]]] = {}
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith(";"):
            continue
        parts = line.split(None, 3)
        if len(parts) >= 4 and parts[2].upper() == "IN":
            parts = line.split(None, 4)
            parts = [parts[0], parts[1], parts[3], parts[4]] if len(parts) == 5 else parts
        if len(parts) != 4 or not parts[1].isdigit():
            raise ProviderError(f"exec DNS provider: {script} list printed {line!r}; expected NAME TTL TYPE VALUE")
        name, ttl, rtype, value = parts[0].rstrip(".").lower(), int(parts[1]), parts[2].upper(), parts[3]
        if rtype == "TXT" and not value.lstrip().startswith('"'):
            value = txt_quote(value)
        sets.setdefault((name, rtype), (ttl, []))[1].append(normalize(rtype, value))
    return [RRset.make(n, t, ttl, vals) for (n, t), (ttl, vals) in sets.items()]
