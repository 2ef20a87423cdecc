"""Plan and apply: make the provider's zones hold the desired records, touching only what we own.

Ownership. We own a value if we published it before (data_path/dns/state.json
remembers what each apply wrote) or if it is exactly what we want now. At a
name other tools share we manage only our part:
- TXT: only strings tagged like ours (v=spf1 at the apex, v=DMARC1, v=DKIM1,
  v=STSv1, v=TLSRPTv1); site verifications etc. next to them are kept.
- CAA: our issuer is added next to existing ones (never replaces them).
A value of our kind that we did not publish (someone's SPF, an MX to another
host) is a conflict: reported, not overwritten, unless force=True.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from secumail.config.layout import DataLayout
from secumail.dns.providers.base import Change, DnsProvider
from secumail.dns.records import RRset, shown, txt_tag
from secumail.errors import InputError, ProviderError, SecumailError

logger = logging.getLogger(__name__)

Key = tuple[str, str]


@dataclass
class Conflict:
    name: str
    type: str
    found: list[str]
    wanted: list[str]
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "type": self.type, "found": self.found, "wanted": self.wanted, "reason": self.reason}


@dataclass
class Plan:
    changes: dict[str, list[Change]] = field(default_factory=dict)  # zone → changes
    conflicts: list[Conflict] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    desired: dict[str, list[RRset]] = field(default_factory=dict)  # zone → desired rrsets
    published: dict[str, dict[Key, tuple[str, ...]]] = field(default_factory=dict)  # zone → what we'll own
    previous: dict[str, set[Key]] = field(default_factory=dict)  # zone → state keys this plan replaces

    @property
    def empty(self) -> bool:
        return not any(self.changes.values())

    def to_dict(self) -> dict[str, Any]:
        return {
            "changes": [dict(zone=zone, **c.to_dict()) for zone, cs in self.changes.items() for c in cs],
            "conflicts": [c.to_dict() for c in self.conflicts],
            "notes": list(self.notes),
        }


# --- state: what we published -------------------------------------------------------------------


def state_path(data_path: str) -> str:
    return DataLayout(data_path).dns_state


def load_state(data_path: str) -> dict[Key, tuple[str, ...]]:
    try:
        with open(state_path(data_path), encoding="utf-8") as handle:
            raw = json.load(handle)
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise SecumailError(f"{state_path(data_path)} is unreadable ({exc}); move it away to start over") from None
    out = {}
    for key, values in raw.get("published", {}).items():
        name, _, rtype = key.partition(" ")
        out[(name, rtype)] = tuple(values)
    return out


def save_state(data_path: str, state: dict[Key, tuple[str, ...]]) -> None:
    from secumail.system.files import write_json

    os.makedirs(os.path.dirname(state_path(data_path)), mode=0o700, exist_ok=True)
    data = {"version": 1, "published": {f"{n} {t}": list(v) for (n, t), v in sorted(state.items()) if v}}
    write_json(state_path(data_path), data)


@contextlib.contextmanager
def state_lock(data_path: str) -> Iterator[None]:
    """One plan-and-apply at a time per data path (data_path/dns/state.json.lock).

    `mailctl dns-setup` and secumaild's WAN follower both read the provider, plan, apply and
    rewrite state.json: interleaved, the later apply would put back the address or ownership
    the other had just replaced."""
    from secumail.system.files import file_lock

    os.makedirs(os.path.dirname(state_path(data_path)), mode=0o700, exist_ok=True)
    with file_lock(state_path(data_path) + ".lock"):
        yield


# --- planning -----------------------------------------------------------------------------------


def _ours(rtype: str, values: tuple[str, ...], wanted: tuple[str, ...]) -> tuple[set[str], set[str]]:
    """(values of our kind, values of other tools) at a shared name."""
    if rtype == "TXT":
        tags = {txt_tag(v) for v in wanted} - {None}
        mine = {v for v in values if txt_tag(v) in tags}
        return mine, set(values) - mine
    if rtype == "CAA":
        return set(), set(values)
    return set(values), set()


def plan_zone(
    zone: str,
    desired: list[RRset],
    current: dict[Key, RRset],
    published: dict[Key, tuple[str, ...]],
    force: bool = False,
) -> tuple[list[Change], list[Conflict], dict[Key, tuple[str, ...]]]:
    """Pure diff of one zone. Returns (changes, conflicts, what we own afterwards)."""
    changes: list[Change] = []
    conflicts: list[Conflict] = []
    owned: dict[Key, tuple[str, ...]] = {}
    wanted_keys = {rr.key for rr in desired}
    for rr in desired:
        cur = current.get(rr.key)
        before = set(published.get(rr.key, ()))
        cur_values = cur.values if cur else ()
        mine, others = _ours(rr.type, cur_values, rr.values)
        if rr.type == "CAA":
            others -= before - set(rr.values)  # our old issuer goes, others stay
        foreign = mine - set(rr.values) - before
        if rr.type == "CNAME":
            blocking = sorted(t for (n, t) in current if n == rr.name and t != "CNAME")
            if blocking:
                conflicts.append(
                    Conflict(
                        rr.name,
                        rr.type,
                        [f"{t} records" for t in blocking],
                        list(rr.values),
                        "a CNAME cannot share its name with other records",
                    )
                )
                continue
        if foreign and not force:
            kind = {"v=spf1": "SPF", "v=DMARC1": "DMARC"}.get(txt_tag(next(iter(foreign))) or "", rr.type)
            conflicts.append(
                Conflict(
                    rr.name,
                    rr.type,
                    sorted(shown(rr.type, foreign)),
                    shown(rr.type, rr.values),
                    f"a {kind} record we did not publish is there; --force replaces it",
                )
            )
            if before & mine:
                owned[rr.key] = tuple(sorted(before & mine))
            continue
        new = RRset.make(rr.name, rr.type, rr.ttl, set(others) | set(rr.values))
        owned[rr.key] = rr.values
        if cur is None:
            changes.append(Change("create", None, new))
        elif cur.values != new.values or cur.ttl != new.ttl:
            changes.append(Change("update", cur, new))
    for key, values in sorted(published.items()):
        if key in wanted_keys:
            continue
        cur = current.get(key)
        if cur is None:
            continue
        rest = [v for v in cur.values if v not in set(values)]
        if len(rest) == len(cur.values):
            continue
        if rest:
            changes.append(Change("update", cur, RRset.make(cur.name, cur.type, cur.ttl, rest)))
        else:
            changes.append(Change("delete", cur, None))
    return changes, conflicts, owned


def _zone_of(provider: DnsProvider, name: str) -> str | None:
    try:
        return provider.find_zone(name)
    except InputError:
        return None  # a name we once published that no zone holds any more: nothing to clean up


def make_plan(
    provider: DnsProvider, rrsets: list[RRset], data_path: str, *, force: bool = False,
    keep_names: set[str] | None = None, types: set[str] | None = None,
) -> Plan:
    """Read what the provider holds for our names and diff it against `rrsets`.

    `keep_names`: when only some domains are planned, state entries of other domains are left alone.
    `types`: plan only these record types (the WAN follower: A and AAAA); state entries and wanted
    rrsets of other types are left alone, so nothing else is read, changed or deleted.
    """
    plan = Plan()
    state = load_state(data_path)
    if types is not None:
        state = {k: v for k, v in state.items() if k[1] in types}
        rrsets = [rr for rr in rrsets if rr.type in types]
    by_zone: dict[str, list[RRset]] = {}
    for rr in rrsets:
        if rr.type in provider.unsupported_types:
            plan.notes.append(f"{rr.name} {rr.type}: {provider.name} cannot hold {rr.type} records; left out")
            continue
        by_zone.setdefault(provider.find_zone(rr.name), []).append(rr)
    for zone, desired in by_zone.items():
        published = {k: v for k, v in state.items() if _zone_of(provider, k[0]) == zone}
        if keep_names is not None:
            published = {
                k: v for k, v in published.items() if any(k[0] == n or k[0].endswith("." + n) for n in keep_names)
            }
        keys = {rr.key for rr in desired} | set(published)
        current = provider.read(zone, keys)
        changes, conflicts, owned = plan_zone(zone, desired, current, published, force)
        plan.changes[zone] = changes
        plan.conflicts.extend(conflicts)
        plan.desired[zone] = desired
        plan.published[zone] = owned
        plan.previous[zone] = set(published)
    return plan


def apply_plan(provider: DnsProvider, plan: Plan, data_path: str) -> list[str]:
    """Apply zone by zone, re-read to confirm, remember what we own. Returns the zones changed."""
    state = load_state(data_path)
    changed = []
    for zone, changes in plan.changes.items():
        if changes:
            provider.apply(zone, changes)
            changed.append(zone)
            after = provider.read(zone, {c.key for c in changes})
            for change in changes:
                got = after.get(change.key)
                want = change.new
                if (want is None and got is not None) or (
                    want is not None and (got is None or got.values != want.values)
                ):
                    raise ProviderError(
                        f"{provider.name}: {change.key[0]} {change.key[1]} reads back as "
                        f"{list(got.values) if got else 'absent'} after the change; run dns-check"
                    )
        for key in plan.previous.get(zone, ()):
            state.pop(key, None)
        state.update(plan.published[zone])
        save_state(data_path, state)
    return changed
