"""The spam filter's files (features.spam_filter, mailserver.protection): Rspamd, Redis, global sieve.

Pure like render.py: settings in, {relative path: (content, mode)} out. Rspamd
runs one scanning process (the milter proxy with self_scan) and a controller
on a unix socket for learning; no normal worker, no fuzzy storage, no neural
net, no Hyperscan. Bayes tokens live in Redis, capped by
protection.bayes_memory. docs/protection.md explains the choices and their cost.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from secumail.config.settings import Settings

MILTER_SOCKET = "/var/spool/postfix/rspamd/milter.sock"  # in the queue dir: Postfix reaches it unchrooted
CONTROLLER_SOCKET = "/run/rspamd-learn/controller.sock"

# Modules that would keep state in Redis, need a server we do not run, or cost memory for little.
MODULES_OFF = ("neural", "history_redis", "replies", "reputation", "clickhouse", "elastic",
               "metric_exporter", "fuzzy_check")  # fmt: skip
_LOCAL = ("actions.conf", "redis.conf", "classifier-bayes.conf", "milter_headers.conf",
          "greylist.conf", "dmarc.conf")  # fmt: skip
# override.d replaces the defaults' values (local.d would merge lists: local_addrs kept 10.0.0.0/8).
_OVERRIDE = ("options.inc", "worker-proxy.inc", "worker-controller.inc", "worker-normal.inc",
             "worker-fuzzy.inc", "logging.inc")  # fmt: skip


def _score(value: float) -> str:
    return f"{value:g}"


def local_addresses(settings: Settings) -> list[str]:
    """Clients Rspamd and postscreen trust like the container itself: loopback, and in bridge mode the
    router's bridge address (its own daemons; hairpin NAT from the LAN). Not in network_mode host,
    where the router's addresses are also the Internet's way in."""
    local = ["127.0.0.0/8", "::1"]
    if settings.container.network_mode != "host":
        local.append(f"{settings.container.host_address.ip}/32")
    return local


def files(settings: Settings, fill: Any, template: Any) -> dict[str, tuple[str, int]]:
    """Every spam filter file of one generation (none when the filter is off).

    `fill`/`template` are render.fill and render._template (passed in: render imports this module)."""
    if not settings.features.spam_filter:
        return {}
    p = settings.protection
    values = {
        "test_patterns": "true" if p.test_patterns else "false",
        "local_addrs": ", ".join(f'"{a}"' for a in local_addresses(settings)),
        "reject_score": _score(p.reject_score),
        "junk_score": _score(p.junk_score),
        # Greylisting needs a score below Junk at which Rspamd asks for it; off, the action does not exist.
        "greylist": _score(max(p.junk_score / 2, 0)) if p.greylisting else "null",
        "greylisting": "true" if p.greylisting else "false",
        "per_user": "true" if p.learn == "user" else "false",
        "bayes_memory": p.bayes_memory,
        "learn": p.learn,
        "user_flag": '-d "$user"' if p.learn == "user" else "",
    }
    out: dict[str, tuple[str, int]] = {}
    for name in _LOCAL:
        out[f"rspamd/local.d/{name}"] = (fill(template(f"rspamd/{name}"), values), 0o644)
    for name in _OVERRIDE:
        out[f"rspamd/override.d/{name}"] = (fill(template(f"rspamd/{name}"), values), 0o644)
    for module in MODULES_OFF:
        out[f"rspamd/local.d/{module}.conf"] = ("# Off on a router (memory, Redis space, or a server it "
                                                "would ask).\nenabled = false;\n", 0o644)  # fmt: skip
    out["redis/redis.conf"] = (fill(template("redis.conf"), values), 0o644)
    for name in ("spam-to-junk", "learn-spam", "learn-ham"):
        out[f"dovecot/sieve/{name}.sieve"] = (template(f"sieve/{name}.sieve"), 0o644)
    out["dovecot/sieve/bin/rspamd-learn"] = (fill(template("sieve/rspamd-learn"), values), 0o755)
    return out


def dovecot_plugin(settings: Settings) -> str:
    """The Dovecot plugin settings for Junk filing and IMAPSieve learning ('' when the filter is off)."""
    if not settings.features.spam_filter:
        return ""
    return """
# features.spam_filter: Rspamd's verdict files spam into Junk; moving mail into Junk (or out of it,
# except into Trash) trains Rspamd through rspamc on its controller socket.
plugin {
  sieve_before = /etc/dovecot/sieve/spam-to-junk.sieve
  sieve_plugins = sieve_imapsieve sieve_extprograms
  sieve_global_extensions = +vnd.dovecot.pipe +vnd.dovecot.environment
  sieve_pipe_bin_dir = /etc/dovecot/sieve/bin
  imapsieve_mailbox1_name = Junk
  imapsieve_mailbox1_causes = COPY APPEND
  imapsieve_mailbox1_before = file:/etc/dovecot/sieve/learn-spam.sieve
  imapsieve_mailbox2_name = *
  imapsieve_mailbox2_from = Junk
  imapsieve_mailbox2_causes = COPY
  imapsieve_mailbox2_before = file:/etc/dovecot/sieve/learn-ham.sieve
}
"""


def reload_block(settings: Settings, fill: Any, template: Any) -> str:
    if not settings.features.spam_filter:
        return template("spam-off.sh").rstrip("\n")
    return fill(template("spam-reload.sh"), {"bayes_memory": settings.protection.bayes_memory}).rstrip("\n")
