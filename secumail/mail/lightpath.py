"""The light path (features.spam_filter 0): cheap checks on mail from other servers, without Rspamd.

Pure like render.py: settings in, text and files out. On port 25 only (submission and smtps override
every restriction and milter), when protection.sender_checks is on:

  - SPF: Debian's postfix-policyd-spf-perl as a Postfix policy service (spawned per connection, Perl
    is already in the image), asked at RCPT: fail → 550, temperror → 450, anything else accepted with
    a Received-SPF header;
  - reject_unknown_sender_domain: an envelope sender domain without A/MX answers 450;
  - OpenDMARC as a milter after OpenDKIM: a message failing the DMARC policy of its From domain is
    refused (550) when that domain publishes p=reject; p=quarantine and p=none only get the verdict
    in an Authentication-Results header (no hold queue on a router).

The router's own addresses (spam.local_addresses, the same list Rspamd and postscreen trust) skip all
three. postscreen (pregreet, DNS blocklists) is render.py's and works alike with the filter on or off.
docs/protection.md "Light path" explains the choices and what they cost.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from secumail.mail import spam

if TYPE_CHECKING:
    from secumail.config.settings import Settings

SPF_SERVICE = "policyd-spf"
SPF_PROGRAM = "/usr/sbin/postfix-policyd-spf-perl"
DMARC_SOCKET = "/var/spool/postfix/opendmarc/opendmarc.sock"  # in the queue dir, as OpenDKIM's
DMARC_CONF = "/etc/opendmarc.conf"
DMARC_IGNORE = "/etc/opendmarc/ignore.hosts"


def on(settings: Settings) -> bool:
    """The light checks run: port 25 is open, the spam filter is off, protection.sender_checks 1."""
    return bool(settings.ports.smtp and not settings.features.spam_filter
                and settings.protection.sender_checks)  # fmt: skip


def _local_table(generation: str) -> str:
    return f"check_client_access cidr:{generation}/postfix/local_clients.cidr"


def sender_restrictions(settings: Settings, generation: str) -> str:
    """smtpd_sender_restrictions of port 25 (main.cf; submission and smtps set their own)."""
    base = ["permit_mynetworks", "permit_sasl_authenticated", "reject_non_fqdn_sender"]
    if on(settings):
        base += [_local_table(generation), "reject_unknown_sender_domain"]
    return ", ".join(base)


def recipient_restrictions(settings: Settings, generation: str) -> str:
    """smtpd_recipient_restrictions of port 25: the SPF policy after the recipient checks, so a
    message to nobody here costs no DNS lookup."""
    base = ["reject_non_fqdn_recipient", "reject_unlisted_recipient"]
    if on(settings):
        base += ["permit_mynetworks", _local_table(generation),
                 f"check_policy_service unix:private/{SPF_SERVICE}"]  # fmt: skip
    return ", ".join([*base, "permit"])


def main_cf(settings: Settings) -> str:
    """main.cf lines of the light path ('' when it is off)."""
    if not on(settings):
        return ""
    return ("# features.spam_filter 0 (lightpath.py): the SPF policy lives as long as a connection may.\n"
            f"{SPF_SERVICE}_time_limit = 3600s\n")


def master_cf(settings: Settings) -> str:
    """The spawn service answering SPF ('' when the light path is off)."""
    if not on(settings):
        return ""
    return (f"{SPF_SERVICE} unix -       n       n       -       0       spawn\n"
            f"  user=nobody argv={SPF_PROGRAM}\n")  # fmt: skip


def milters(settings: Settings) -> list[str]:
    """Port 25's milters after OpenDKIM (which writes the dkim= verdict OpenDMARC reads)."""
    return [f"unix:{DMARC_SOCKET}"] if on(settings) else []


def files(settings: Settings, fill: Any, template: Any, values: dict[str, Any]) -> dict[str, tuple[str, int]]:
    """The generation's light path files (none when it is off)."""
    if not on(settings):
        return {}
    local = spam.local_addresses(settings)
    return {
        "postfix/local_clients.cidr": (
            "# The router's own addresses skip SPF, DMARC and the sender domain check (as Rspamd's\n"
            "# local_addrs and postscreen's access list)\n" + "".join(f"{a} permit\n" for a in local), 0o644),
        "opendmarc/opendmarc.conf": (fill(template("opendmarc.conf"), {
            **values, "socket": DMARC_SOCKET, "ignore": DMARC_IGNORE}), 0o644),
        "opendmarc/ignore.hosts": ("".join(f"{a}\n" for a in local), 0o644),
    }


def reload_block(settings: Settings, fill: Any, template: Any) -> str:
    """Shell lines of reload.sh: start (or restart on a changed config) or stop OpenDMARC."""
    if not on(settings):
        return ("# light path off (features.spam_filter 1 or protection.sender_checks 0): no OpenDMARC\n"
                "if running /run/opendmarc/opendmarc.pid; then kill \"$(cat /run/opendmarc/opendmarc.pid)\"; fi")
    return fill(template("dmarc-reload.sh"), {"conf": DMARC_CONF, "ignore": DMARC_IGNORE,
                                                "socket": DMARC_SOCKET}).rstrip("\n")
