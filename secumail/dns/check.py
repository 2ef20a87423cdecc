"""dns-check: what the authoritative servers (and a recursive resolver) publish, against what we expect.

Authoritative servers: mailserver.dns.server for rfc2136, else the zone's NS
found through mailserver.dns.resolver. The resolver is only ever the one(s)
configured in mailserver.dns.resolver: never the system resolver.
"""

from __future__ import annotations

import contextlib
import ipaddress
import re
from typing import TYPE_CHECKING, Any

from secumail.dns import local, wire
from secumail.dns.records import RRset, desired_records, shown, txt_tag, txt_text
from secumail.errors import InputError, ProviderError

if TYPE_CHECKING:
    from secumail.config.settings import Settings

REQUIRED_TYPES = {"A", "AAAA", "MX", "TLSA"}
REQUIRED_TAGS = {"v=spf1", "v=DMARC1", "v=DKIM1"}
SPF_LOOKUP_TERMS = ("include", "a", "mx", "ptr", "exists", "redirect")
_SPF_TERM = re.compile(
    r"^(?P<q>[-+~?]?)(?P<mech>all|include|a|mx|ptr|ip4|ip6|exists)(?P<arg>[:/].*)?$|^(?P<mod>[a-z][a-z0-9_.-]*)=(?P<val>.*)$",
    re.IGNORECASE,
)
DMARC_TAGS = {"v", "p", "sp", "rua", "ruf", "adkim", "aspf", "pct", "fo", "rf", "ri", "np", "psd", "t"}


QUERY_WAIT = 5.0  # seconds one query may take before its server counts as silent


class Servers:
    """The servers a dns-check asks, and one deadline for all its queries (2 × dns.timeout)."""

    def __init__(self, settings: Settings) -> None:
        timeout = float(settings.dns.timeout)
        self.asker = wire.Asker(min(timeout, QUERY_WAIT), total=2 * timeout)
        self.resolvers = [wire.parse_server(a) for a in settings.dns.resolver]
        self.settings = settings
        self._auth: dict[str, list[tuple[str, int]]] = {}

    def authoritative(self, name: str) -> list[tuple[str, int]]:
        dns = self.settings.dns
        if dns.provider == "rfc2136" and dns.server:
            return [wire.parse_server(dns.server)]
        if not self.resolvers:
            raise InputError("dns-check: set mailserver.dns.resolver (a recursive resolver to find the NS records)")
        zone = dns.zone or self.asker.find_soa_zone(self.resolvers[0], name)[0]
        if zone not in self._auth:
            ns = None
            for resolver in self.resolvers:
                try:
                    _, ns, _ = self.asker.query(resolver, zone, "NS", recursion=True)
                except ProviderError:
                    continue
                if ns:
                    break
            if not ns:
                raise ProviderError(f"dns-check: no NS records for {zone} through the configured resolver")
            self._auth[zone] = [
                (self.asker.resolve_address(self.resolvers, v.rstrip(".")), 53) for v in ns.values
            ]
        return self._auth[zone]

    def ask(self, server: tuple[str, int], name: str, rtype: str, recursion: bool) -> RRset | None:
        return self.asker.query(server, name, rtype, recursion=recursion)[1]


def _relevant(rr: RRset, found: RRset | None) -> tuple[str, ...]:
    """The part of a found rrset that our record is about (our TXT kind; all of the rest)."""
    if found is None:
        return ()
    if rr.type == "TXT":
        tags = {txt_tag(v) for v in rr.values}
        return tuple(v for v in found.values if txt_tag(v) in tags)
    return found.values


def _status(rr: RRset, found: RRset | None) -> str:
    part = _relevant(rr, found)
    if not part:
        return "missing"
    if rr.type == "CAA":
        return "ok" if set(rr.values) <= set(part) else "different"
    return "ok" if set(part) == set(rr.values) else "different"


def _tagged(rr: RRset | None, tag: str) -> list[str]:
    """The texts of the TXT values of kind `tag` ("v=spf1", ...) in `rr`."""
    return [txt_text(v) for v in (rr.values if rr else ()) if txt_tag(v) == tag]


def _required(rr: RRset) -> bool:
    return rr.type in REQUIRED_TYPES or (rr.type == "TXT" and bool({txt_tag(v) for v in rr.values} & REQUIRED_TAGS))


def check_spf(text: str, lookup: Any = None, depth: int = 0) -> tuple[str, int]:
    """(problem or '', DNS lookups) of an SPF record (RFC 7208 4.6.4: at most 10)."""
    terms = text.split()
    if not terms or terms[0].lower() != "v=spf1":
        return "does not start with v=spf1", 0
    count = 0
    for term in terms[1:]:
        m = _SPF_TERM.match(term)
        if not m:
            return f"bad term {term!r}", count
        name = (m.group("mech") or m.group("mod") or "").lower()
        if name in SPF_LOOKUP_TERMS:
            count += 1
            if name in ("include", "redirect") and lookup is not None and depth < 10:
                target = (m.group("arg") or "")[1:] if name == "include" else m.group("val")
                inner = lookup(target)
                if inner is None:
                    return f"{name} {target} has no SPF record", count
                problem, sub = check_spf(inner, lookup, depth + 1)
                if problem:
                    return f"in {target}: {problem}", count + sub
                count += sub
        if name in ("ip4", "ip6"):
            try:
                ipaddress.ip_network((m.group("arg") or "")[1:], strict=False)
            except ValueError:
                return f"bad address in {term!r}", count
    if count > 10:
        return f"needs {count} DNS lookups (more than 10)", count
    return "", count


def check_dmarc(text: str) -> str:
    tags = [t.strip() for t in text.split(";") if t.strip()]
    if not tags or tags[0].replace(" ", "") != "v=DMARC1":
        return "does not start with v=DMARC1"
    parsed = {}
    for tag in tags:
        key, sep, value = tag.partition("=")
        if not sep or key.strip() not in DMARC_TAGS:
            return f"bad tag {tag!r}"
        parsed[key.strip()] = value.strip()
    if parsed.get("p") not in ("none", "quarantine", "reject"):
        return "p= must be none, quarantine or reject"
    for uri in filter(None, parsed.get("rua", "").split(",")):
        if not uri.strip().startswith("mailto:") or "@" not in uri:
            return f"rua {uri!r} is not a mailto: address"
    return ""


def check(settings: Settings, domain: str | None = None) -> dict[str, Any]:
    domains = local.select_domains(settings, domain)
    servers = Servers(settings)
    all_keys = local.gather_all(settings, domains)
    rows: list[dict[str, Any]] = []
    checks: list[dict[str, Any]] = []
    published: dict[tuple[str, str], RRset | None] = {}
    for dom in domains:
        keys = all_keys[dom]
        for rr in desired_records(settings, dom, keys):
            auth = servers.authoritative(rr.name)
            found = servers.ask(auth[0], rr.name, rr.type, recursion=False)
            published[rr.key] = found
            status = _status(rr, found)
            for other in auth[1:]:
                if _status(rr, servers.ask(other, rr.name, rr.type, recursion=False)) != status:
                    status = "different"
            row = {
                "name": rr.name,
                "type": rr.type,
                "status": status,
                "required": _required(rr),
                "expected": shown(rr.type, rr.values),
                "found": shown(rr.type, _relevant(rr, found)),
                "resolver": "skipped",
            }
            if servers.resolvers:
                try:
                    row["resolver"] = _status(rr, servers.ask(servers.resolvers[0], rr.name, rr.type, True))
                except ProviderError:
                    row["resolver"] = "no answer"
            rows.append(row)
        checks.extend(_extra_checks(settings, dom, keys, servers, published))
    checks.extend(_delivery_checks(settings, servers))
    failed = sum(1 for r in rows if r["required"] and r["status"] != "ok")
    failed += sum(1 for c in checks if c["required"] and c["status"] == "fail")
    return {"ok": failed == 0, "failed": failed, "domains": domains, "records": rows, "checks": checks}


def _extra_checks(
    settings: Settings, domain: str, keys: Any, servers: Servers, published: dict[tuple[str, str], RRset | None]
) -> list[dict[str, Any]]:
    out = []

    def add(name: str, ok: bool | None, detail: str, required: bool = True) -> None:
        status = "skipped" if ok is None else ("ok" if ok else ("fail" if required else "warn"))
        out.append({"check": name, "status": status, "detail": detail, "required": required})

    fqdn = settings.main.fqdn.lower()
    if domain == settings.main.domain and keys.ipv4:
        name = f"PTR {keys.ipv4} vs HELO {fqdn}"
        if not servers.resolvers:
            add(name, None, "set mailserver.dns.resolver to check reverse DNS", required=False)
        else:
            ok, detail = _ptr_vs_helo(servers, keys.ipv4, fqdn)
            add(name, ok, detail, required=False)
    if settings.features.spf:
        spf = _tagged(published.get((domain, "TXT")), "v=spf1")
        if len(spf) != 1:
            add(f"SPF {domain}", False, f"{len(spf)} SPF records (exactly one is allowed)")
        else:

            def lookup(name: str) -> str | None:
                if servers.resolvers:
                    try:
                        texts = _tagged(servers.ask(servers.resolvers[0], name, "TXT", True), "v=spf1")
                    except ProviderError:
                        pass
                    else:
                        return texts[0] if texts else None
                return "v=spf1"  # cannot follow includes without an answering resolver: count the include only

            problem, count = check_spf(spf[0], lookup)
            add(f"SPF {domain}", not problem, problem or f"syntax ok, {count} DNS lookup(s)")
    if settings.features.dmarc:
        dmarc = _tagged(published.get((f"_dmarc.{domain}", "TXT")), "v=DMARC1")
        problem = check_dmarc(dmarc[0]) if len(dmarc) == 1 else f"{len(dmarc)} DMARC records (exactly one)"
        add(f"DMARC {domain}", not problem, problem or "syntax ok")
    for selector in local.missing_dkim(settings, keys):
        add(f"DKIM {selector}._domainkey.{domain}", False, "no local DKIM key yet: 'mailctl dns-setup' creates it")
    for selector, value in sorted(keys.dkim.items()):
        texts = _tagged(published.get((f"{selector}._domainkey.{domain}", "TXT")), "v=DKIM1")
        local_p = value.split("p=", 1)[1]
        got_p = [re.sub(r"\s+", "", t.split("p=", 1)[1].split(";")[0]) if "p=" in t else "" for t in texts]
        add(
            f"DKIM {selector}._domainkey.{domain}",
            local_p in got_p,
            "public key equals the local key" if local_p in got_p else "published key differs from the local key",
        )
    mx = published.get((domain, "MX"))
    for value in mx.values if mx else ():
        target = value.split(" ")[1].rstrip(".")
        auth = servers.authoritative(target) if _in_managed(settings, target) else servers.resolvers[:1]
        have, problem = [], "has no A/AAAA record"
        for rtype in ("A", "AAAA"):
            if auth:
                try:
                    rr = servers.ask(auth[0], target, rtype, recursion=not _in_managed(settings, target))
                except ProviderError as exc:
                    rr, problem = None, str(exc)
                have.extend(rr.values if rr else ())
        add(f"MX target {target}", bool(have), ", ".join(have) or problem)
    return out


def _delivery_checks(settings: Settings, servers: Servers) -> list[dict[str, Any]]:
    """Can mail leave the line: outbound port 25 (probed now, recorded for `mailctl status`) and each
    relay's recorded state. Warnings only: the verdict of dns-check stays about the records."""
    from secumail.mail import outbound

    target = _port25_target(settings, servers)
    result = outbound.probe(*target) if isinstance(target, tuple) else outbound.skipped(target)
    with contextlib.suppress(OSError):  # not root, or no data path: the row below still says it
        outbound.record_port25(settings.main.data_path, result)
    status, detail = outbound.verdict(result, settings)
    rows = [{"check": "outbound port 25", "status": status, "detail": detail, "required": False}]
    for state in outbound.relay_states(settings):
        status, detail = outbound.relay_verdict(state)
        rows.append({"check": f"relay {state['name']} {state['nexthop']}", "status": status, "detail": detail,
                     "required": False})  # fmt: skip
    return rows


def _port25_target(settings: Settings, servers: Servers) -> tuple[str, str] | str:
    """(address, how it was found) for the port-25 probe, or why there is none: the lowest MX of
    dns.smtp_probe when it has MX records, else its address."""
    name = settings.dns.smtp_probe
    if not name:
        return "set mailserver.dns.smtp_probe to a domain you send to (its MX is probed) to check this"
    try:
        return str(ipaddress.ip_address(name)), "dns.smtp_probe"
    except ValueError:
        pass
    if not servers.resolvers:
        return f"set mailserver.dns.resolver to look up {name}"
    try:
        mx = servers.ask(servers.resolvers[0], name, "MX", True)
        ranked = sorted((int(v.split()[0]), v.split()[1].rstrip(".")) for v in (mx.values if mx else ()))
        host, label = (ranked[0][1], f"{ranked[0][1]}, MX of {name}") if ranked else (name, name)
        return servers.asker.resolve_address(servers.resolvers, host), label
    except (ProviderError, ValueError, IndexError) as exc:
        return f"cannot look up {name}: {exc}"


def _ptr_vs_helo(servers: Servers, ipv4: str, helo: str) -> tuple[bool, str]:
    """Receivers compare the sending address's PTR with the HELO name (Postfix's myhostname, the
    mail host name) and check that the name resolves back to the address (FCrDNS)."""
    rev = ".".join(reversed(ipv4.split("."))) + ".in-addr.arpa"
    try:
        ptr = servers.ask(servers.resolvers[0], rev, "PTR", True)
    except ProviderError as exc:
        return False, str(exc)
    got = [v.rstrip(".").lower() for v in ptr.values] if ptr else []
    fix = f"ask the line's provider to set the PTR of {ipv4} to {helo}"
    if not got:
        return False, f"{ipv4} has no PTR; receivers distrust a sender without one ({fix})"
    if helo not in got:
        return False, f"{ipv4} → {', '.join(got)}, not the HELO name {helo} ({fix})"
    try:
        back = servers.ask(servers.resolvers[0], helo, "A", True)
    except ProviderError as exc:
        return False, f"{ipv4} → {helo}, but {helo} A: {exc}"
    addresses = list(back.values) if back else []
    if ipv4 not in addresses:
        return False, f"{ipv4} → {helo}, but {helo} → {', '.join(addresses) or 'no A'} (the name must lead back)"
    return True, f"{ipv4} → {helo} → {ipv4}: the PTR names the HELO name"


def _in_managed(settings: Settings, name: str) -> bool:
    return any(name == d or name.endswith("." + d) for d in local.mail_domains(settings))
