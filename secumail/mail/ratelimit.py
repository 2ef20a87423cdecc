"""Rate limits and login brakes (mailserver.protection): Postfix's anvil on port 25, a recipients per
hour limit for each authenticated user on submission and smtps, Dovecot's delay after a failed login.

Pure like render.py: settings in, text out. The per-user limit is a small Postfix policy service
(templates/ratelimit-policy, Perl from Debian's perl-base) so it works with the spam filter on or off:
Rspamd sees only port 25, never submission. docs/protection.md lists what each limit answers and logs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from secumail.config.settings import Settings

POLICY_SERVICE = "secumail-ratelimit"
POLICY_PATH = "/usr/local/sbin/secumail-ratelimit"
STATE_DIR = "/var/lib/secumail-ratelimit"


def main_cf(settings: Settings) -> str:
    """The main.cf lines of the per-client (anvil) limits and the policy service's lifetime."""
    p = settings.protection
    lines = [
        "# mailserver.protection: per client address and minute (anvil; mynetworks is exempt). Over a limit",
        "# the client gets a 4xx and retries later; Postfix logs \"... rate limit exceeded: N from ...\".",
        "smtpd_client_connection_count_limit = 10",
        f"smtpd_client_connection_rate_limit = {p.smtp_connection_rate}",
        f"smtpd_client_message_rate_limit = {p.smtp_message_rate}",
        "anvil_rate_time_unit = 60s",
    ]
    if p.user_recipients_per_hour:
        lines.append(f"{POLICY_SERVICE}_time_limit = 3600s")
    return "\n".join(lines)


def master_cf(settings: Settings) -> str:
    """The spawn service answering the per-user policy ('' when the limit is off)."""
    limit = settings.protection.user_recipients_per_hour
    if not limit:
        return ""
    return (f"{POLICY_SERVICE} unix -  n       n       -       0       spawn\n"
            f"  user=nobody argv={POLICY_PATH} {limit} {STATE_DIR}\n")  # fmt: skip


def submission_check(settings: Settings) -> str:
    """The restriction submission and smtps ask before accepting a recipient ('' when off)."""
    if not settings.protection.user_recipients_per_hour:
        return ""
    return f"check_policy_service,unix:private/{POLICY_SERVICE},"  # a comma: `-o` values hold no spaces


def files(settings: Settings, template: Any) -> dict[str, tuple[str, int]]:
    if not settings.protection.user_recipients_per_hour:
        return {}
    return {"postfix/ratelimit-policy": (template("ratelimit-policy"), 0o755)}


def reload_block(settings: Settings) -> str:
    """Shell lines of reload.sh installing the policy and its state dir."""
    if not settings.protection.user_recipients_per_hour:
        return "# protection.user_recipients_per_hour 0: no per-user limit"
    return ("# protection.user_recipients_per_hour: the policy and its per-user files (nobody's only)\n"
            f'put "$GEN/postfix/ratelimit-policy" {POLICY_PATH} 0755\n'
            f"install -d -o nobody -g nogroup -m 0700 {STATE_DIR}")
