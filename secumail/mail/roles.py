"""RFC 2142 role addresses: postmaster@ and abuse@ exist for every hosted domain.

Receivers and reporters write to them (DMARC and TLS-RPT reports go to postmaster@ by default, see
secumail.dns.records). A domain added with `mailctl domain add` has no mailboxes, so without these
its postmaster@ and abuse@ would bounce. Each one not defined by the user reaches the server's
postmaster mailbox (mailserver.main.postmaster at the primary domain). A mailbox or alias of that
exact address wins (Postfix asks the account aliases first); a catch-all does not, as RFC 2142
asks for the roles to reach a person responsible for the server.
"""

from __future__ import annotations

from collections.abc import Iterable

ROLES = ("postmaster", "abuse")


def role_aliases(domains: Iterable[str], target: str) -> dict[str, str]:
    """{role address: target} for every domain; the target itself is left out (it is a mailbox)."""
    target = target.lower()
    out = {}
    for domain in sorted({d.lower() for d in domains}):
        for role in ROLES:
            address = f"{role}@{domain}"
            if address != target:
                out[address] = target
    return out


def postfix_map(domains: Iterable[str], target: str) -> str:
    """The texthash table Postfix reads after the account aliases (virtual_alias_maps)."""
    lines = "".join(f"{address} {dest}\n" for address, dest in role_aliases(domains, target).items())
    return "# RFC 2142 role addresses of every domain (secumail.mail.roles); account aliases come first.\n" + lines
