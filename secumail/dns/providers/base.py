"""The provider interface, credentials, and the registry of provider plugins.

A provider knows how to read and write rrsets in one DNS hosting service. It
implements `list_rrsets` and either `apply` (a batch of changes to one zone,
atomic where the service allows) or `replace_rrset`/`delete_rrset`. Everything
else (planning, ownership, ACME TXT helpers) is built on those.

Third parties register a provider class under the entry point group
`secumail.dns_providers` (name = the value of `mailserver.dns.provider`).
"""

from __future__ import annotations

import configparser
import contextlib
import logging
import os
import stat
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from secumail.dns.records import RRset, check_name, in_zone, normalize, txt_quote
from secumail.errors import InputError, ProviderError

logger = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "secumail.dns_providers"
BUILTIN = {
    "rfc2136": "secumail.dns.providers.rfc2136:Provider",
    "powerdns": "secumail.dns.providers.powerdns:Provider",
    "cloudflare": "secumail.dns.providers.cloudflare:Provider",
    "desec": "secumail.dns.providers.desec:Provider",
    "hetzner": "secumail.dns.providers.hetzner:Provider",
    "gandi": "secumail.dns.providers.gandi:Provider",
    "digitalocean": "secumail.dns.providers.digitalocean:Provider",
    "exec": "secumail.dns.providers.exec:Provider",
    "manual": "secumail.dns.providers.manual:Provider",
}


@dataclass(frozen=True)
class Change:
    """One rrset change in a zone: create (old None), update, or delete (new None)."""

    action: str
    old: RRset | None
    new: RRset | None

    @property
    def rrset(self) -> RRset:
        """The rrset after the change, or the deleted one."""
        rr = self.new or self.old
        if rr is None:
            raise ValueError("a change needs an old or a new rrset")
        return rr

    @property
    def key(self) -> tuple[str, str]:
        return self.rrset.key

    @property
    def ttl(self) -> int:
        return self.rrset.ttl

    def to_dict(self) -> dict[str, Any]:
        name, rtype = self.key
        return {
            "action": self.action,
            "name": name,
            "type": rtype,
            "old": list(self.old.values) if self.old else [],
            "new": list(self.new.values) if self.new else [],
            "ttl": self.ttl,
        }


class DnsProvider:
    """Base class of every provider. Subclasses set `name` and `credential_keys`."""

    name: ClassVar[str] = ""
    credential_keys: ClassVar[dict[str, str]] = {}  # key → human label, all required
    needs_credentials: ClassVar[bool] = True
    # Types the service cannot hold; the plan leaves them out with a warning.
    unsupported_types: ClassVar[frozenset[str]] = frozenset()

    def __init__(self, dns: Any, credentials: Mapping[str, str]) -> None:
        self.dns = dns
        self.credentials = dict(credentials)
        self.timeout = float(getattr(dns, "timeout", 10) or 10)
        self.requests = 0  # write requests sent (UPDATE messages, PATCH/POST/DELETE calls)

    # --- what a subclass implements -----------------------------------------------------------

    def zones(self) -> list[str]:
        """Zones this account may change (used to find the zone of a name)."""
        raise NotImplementedError

    def list_rrsets(self, zone: str, name: str | None = None) -> list[RRset]:
        """The rrsets at `name` (every type), or of the whole zone when name is None."""
        raise NotImplementedError

    def replace_rrset(self, zone: str, rrset: RRset) -> None:
        """The default, for providers that implement apply(): read the current rrset, apply one change."""
        current = self.read(zone, [rrset.key]).get(rrset.key)
        self.apply(zone, [Change("update" if current else "create", current, rrset)])

    def delete_rrset(self, zone: str, name: str, rtype: str) -> None:
        """The default, for providers that implement apply(); an absent rrset is fine."""
        current = self.read(zone, [(name, rtype)]).get((name, rtype))
        if current is not None:
            self.apply(zone, [Change("delete", current, None)])

    def apply(self, zone: str, changes: list[Change]) -> None:
        """Make `changes` in `zone`. The default sends them one by one through replace/delete_rrset."""
        if type(self).replace_rrset is DnsProvider.replace_rrset:
            raise NotImplementedError(f"DNS provider {self.name} implements neither apply() nor replace_rrset()")
        for change in changes:
            if change.new is None:
                self.delete_rrset(zone, *change.key)
            else:
                self.replace_rrset(zone, change.new)

    # --- shared ---------------------------------------------------------------------------------

    def read(self, zone: str, keys: Iterable[tuple[str, str]]) -> dict[tuple[str, str], RRset]:
        """Current rrsets for `keys` (plus every other type at those names: CNAME conflicts)."""
        names = sorted({name for name, _ in keys})
        found: dict[tuple[str, str], RRset] = {}
        if len(names) > 3:
            wanted = set(names)
            for rr in self.list_rrsets(zone):
                if rr.name in wanted:
                    found[rr.key] = rr
            return found
        for name in names:
            for rr in self.list_rrsets(zone, name):
                found[rr.key] = rr
        return found

    def find_zone(self, name: str) -> str:
        """The zone holding `name`: dns.zone when it encloses it, else the longest zone of the account."""
        name = check_name(name)
        configured = getattr(self.dns, "zone", "")
        if configured:
            zone = check_name(configured)
            if in_zone(name, zone):
                return zone
        candidates = [z for z in (check_name(z) for z in self.zones()) if in_zone(name, z)]
        if not candidates:
            where = f"the zone {configured}" if configured else f"any zone of this {self.name} account"
            raise InputError(f"DNS name {name} is outside {where}; set mailserver.dns.zone or add the zone")
        return max(candidates, key=len)

    def add_txt(self, name: str, value: str, ttl: int = 60) -> None:
        """Add one TXT value at `name`, keeping the others (ACME DNS-01 challenges)."""
        name = check_name(name)
        zone = self.find_zone(name)
        current = self.read(zone, [(name, "TXT")]).get((name, "TXT"))
        values = set(current.values if current else ()) | {normalize("TXT", txt_quote(value))}
        new = RRset.make(name, "TXT", ttl, values)
        if current is None or current.values != new.values:
            self.apply(zone, [Change("update" if current else "create", current, new)])

    def del_txt(self, name: str, value: str) -> None:
        """Remove one TXT value at `name`; an already-removed value is fine."""
        name = check_name(name)
        zone = self.find_zone(name)
        current = self.read(zone, [(name, "TXT")]).get((name, "TXT"))
        gone = normalize("TXT", txt_quote(value))
        if current is None or gone not in current.values:
            return
        rest = [v for v in current.values if v != gone]
        if rest:
            self.apply(zone, [Change("update", current, RRset.make(name, "TXT", current.ttl, rest))])
        else:
            self.apply(zone, [Change("delete", current, None)])

    def check_credentials(self, domain: str) -> dict[str, Any]:
        """Prove the credentials work without changing anything: find the zone of `domain` and read its apex.

        Cloud APIs refuse a bad token on these reads already; providers whose reads need no key
        (rfc2136) override this with a read the key must sign. Raises ProviderError or InputError.
        """
        zone = self.find_zone(domain)
        self.list_rrsets(zone, zone)
        return {"provider": self.name, "zone": zone, "checked": f"read the zone {zone}"}

    def describe(self) -> str:
        return self.name


def value_changes(change: Change) -> tuple[list[str], list[str]]:
    """(values to remove, values to add) for services that store one record at a time.

    A TTL change re-creates every value: such services keep a TTL per record.
    """
    old = set(change.old.values) if change.old else set()
    new = set(change.new.values) if change.new else set()
    if change.old and change.new and change.old.ttl != change.new.ttl:
        return sorted(old), sorted(new)
    return sorted(old - new), sorted(new - old)


# --- credentials ------------------------------------------------------------------------------


def read_credentials(path: str, provider: str) -> dict[str, str]:
    """Key/value secrets from `path`: an INI file (section [<provider>] or the only one) or KEY=value lines.

    A file others may read is refused; one the group may read gets a warning. Values are never logged.
    """
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise InputError(
            f"DNS credentials file {path} does not exist: create it (mode 0600) or set mailserver.dns.credentials"
        ) from None
    except OSError as exc:
        raise InputError(f"cannot read DNS credentials file {path}: {exc.strerror}") from None
    mode = stat.S_IMODE(st.st_mode)
    if mode & 0o007:
        raise InputError(f"DNS credentials file {path} is readable by others (mode {mode:04o}): chmod 600 {path}")
    if mode & 0o070:
        logger.warning("DNS credentials file %s is readable by its group (mode %04o): chmod 600 it", path, mode)
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read DNS credentials file {path}: {exc}") from None
    if any(line.strip().startswith("[") for line in text.splitlines()):
        parser = configparser.ConfigParser(interpolation=None)
        try:
            parser.read_string(text, source=path)
        except configparser.Error as exc:
            raise InputError(f"DNS credentials file {path} is not valid INI: {exc.message.splitlines()[0]}") from None
        sections = parser.sections()
        section = provider if provider in sections else (sections[0] if len(sections) == 1 else None)
        if section is None:
            raise InputError(f"DNS credentials file {path}: no section [{provider}]")
        return {key.lower(): value.strip().strip("'\"") for key, value in parser.items(section)}
    values: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("export "):
            line = line[len("export ") :].strip()
        key, sep, value = line.partition("=")
        if not sep or not key.strip():
            raise InputError(f"DNS credentials file {path} line {number}: expected KEY=value")
        values[key.strip().lower()] = value.strip().strip("'\"")
    return values


def require(credentials: Mapping[str, str], keys: Mapping[str, str], path: str, provider: str) -> None:
    """All missing keys at once, so the user fixes the file in one go."""
    missing = [f"{key} ({label})" for key, label in keys.items() if not credentials.get(key)]
    if missing:
        raise InputError(f"DNS credentials file {path} lacks, for provider {provider}: {', '.join(missing)}")


# --- registry ---------------------------------------------------------------------------------


def provider_class(name: str) -> type[DnsProvider]:
    """A built-in provider (no installed metadata needed) or one registered by entry point."""
    import importlib

    target = BUILTIN.get(name)
    if target is None:
        try:
            for ep in _entry_points():
                if ep.name == name:
                    return ep.load()
        except Exception as exc:  # a broken third-party plugin must not crash mailctl
            raise InputError(f"DNS provider plugin {name!r} failed to load: {exc}") from None
        known = ", ".join(sorted(available()))
        raise InputError(f"mailserver.dns.provider: unknown DNS provider {name!r} (known: {known})")
    module, _, attr = target.partition(":")
    return getattr(importlib.import_module(module), attr)


def available() -> list[str]:
    names = set(BUILTIN)
    with contextlib.suppress(Exception):  # listing is best effort: a broken plugin is reported when used
        names.update(ep.name for ep in _entry_points())
    return sorted(names)


def _entry_points() -> Iterable[Any]:
    """The installed `secumail.dns_providers` entry points (Python 3.9 has no select())."""
    from importlib.metadata import entry_points

    eps = entry_points()
    return eps.select(group=ENTRY_POINT_GROUP) if hasattr(eps, "select") else eps.get(ENTRY_POINT_GROUP, [])


def get_provider(dns: Any, name: str | None = None) -> DnsProvider:
    """The configured provider, with its credentials read and checked."""
    name = name or dns.provider
    cls = provider_class(name)
    credentials: dict[str, str] = {}
    path = dns.credentials
    if cls.credential_keys or (cls.needs_credentials and path and os.path.exists(path)):
        if not path:
            raise InputError(f"DNS provider {name} needs credentials: set mailserver.dns.credentials")
        credentials = read_credentials(path, name)
        require(credentials, cls.credential_keys, path, name)
    return cls(dns, credentials)


def wrap(provider: str, action: str, exc: BaseException) -> ProviderError:
    """One line for any library error; never includes request headers or bodies."""
    detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return ProviderError(f"DNS provider {provider}: {action} failed: {detail}")
