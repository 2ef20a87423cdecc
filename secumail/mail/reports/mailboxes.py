"""Which mailboxes receive our reports: each domain's rua address, followed as Postfix delivers it."""

from __future__ import annotations

from dataclasses import dataclass, field

from secumail.mail.roles import role_aliases
from secumail.mail.store import Accounts

_MAX_HOPS = 64  # alias expansion steps: the account files refuse loops, this only bounds the walk


@dataclass
class Mailbox:
    address: str  # the user whose Maildir is read
    domains: list[str] = field(default_factory=list)  # domains whose reports arrive here
    rua: list[str] = field(default_factory=list)  # the rua addresses that lead here


def rua_address(dmarc_rua: str, postmaster: str, domain: str) -> str:
    """The address our DMARC and TLS-RPT records name for `domain` (secumail.dns.records publishes it)."""
    return dmarc_rua or f"{postmaster}@{domain}"


def _step(accounts: Accounts, address: str, roles: dict[str, str]) -> tuple[list[str], str | None]:
    """One delivery step as Postfix takes it (virtual_alias_maps: the account aliases, then the RFC 2142
    roles, each key in both before the next; recipient_delimiter "+"): the alias targets of `address`,
    and the user whose mailbox it is when it stops at one."""
    local, _, domain = address.rpartition("@")
    names = [address]
    if "+" in local:
        names.append(f"{local.split('+', 1)[0]}@{domain}")  # user+ext@ is looked up as user@ next
    for name in names:
        if name in accounts.aliases:
            targets = accounts.aliases[name]
            return [t for t in targets if t != name], name if name in targets and name in accounts.users else None
        if name in accounts.users:
            return [], name
        if name in roles:
            return [roles[name]], None
    if domain in accounts.domains and f"@{domain}" in accounts.aliases:
        return accounts.aliases[f"@{domain}"], None
    return [], None


def delivered_to(accounts: Accounts, address: str, roles: dict[str, str] | None = None) -> list[str]:
    """The local users mail to `address` ends up with (empty: external or unknown). `roles`: the role
    addresses Postfix knows besides the accounts (secumail.mail.roles.role_aliases)."""
    roles = roles or {}
    users: list[str] = []
    seen: set[str] = set()
    todo = [address.lower()]
    while todo and len(seen) < _MAX_HOPS:
        current = todo.pop(0)
        if current in seen:
            continue
        seen.add(current)
        targets, user = _step(accounts, current, roles)
        if user is not None and user not in users:
            users.append(user)
        todo.extend(t.lower() for t in targets)
    return users


def report_mailboxes(accounts: Accounts, dmarc_rua: str, postmaster: str) -> tuple[list[Mailbox], list[str]]:
    """The mailboxes to read, and a note for every domain whose reports reach none of them."""
    boxes: dict[str, Mailbox] = {}
    notes: list[str] = []
    roles = role_aliases(accounts.domains, f"{postmaster}@{accounts.primary}")
    for domain in accounts.domains:
        rua = rua_address(dmarc_rua, postmaster, domain)
        users = delivered_to(accounts, rua, roles)
        if not users:
            rua_domain = rua.rpartition("@")[2].lower()
            if rua_domain in accounts.domains:
                notes.append(f"{domain}: reports go to {rua}, which is no mailbox here "
                             f"(create it: mailctl user add {rua}, or set mailserver.dns.dmarc_rua)")
            else:
                notes.append(f"{domain}: reports go to {rua}, outside this server's domains (read them there)")
        for user in users:
            box = boxes.setdefault(user, Mailbox(user))
            if domain not in box.domains:
                box.domains.append(domain)
            if rua not in box.rua:
                box.rua.append(rua)
    return [boxes[k] for k in sorted(boxes)], notes
