"""Can mail leave this line? Outbound port 25 and the relays' last logins, for dns-check and status.

Many home lines block outbound port 25 (or send it nowhere). dns-check probes it: one TCP connect of
at most PROBE_SECONDS to the MX of dns.smtp_probe (a domain you send to) or to that host, connect
only (nothing is sent). `mailctl relay test` records each relay's result. Both land in small JSON
files below data_path/dns; `mailctl status` (polled by LuCI, so cheap) only reads them.
"""

from __future__ import annotations

import json
import os
import socket
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from secumail.config.layout import DataLayout

if TYPE_CHECKING:
    from secumail.config.settings import Settings

PROBE_SECONDS = 1.0
BLOCKED_STATES = ("blocked", "refused", "unreachable")


@dataclass(frozen=True)
class Port25:
    state: str  # open, blocked (no answer), refused (RST), unreachable (no route), skipped
    target: str  # "address:25 (how it was found)", '' when skipped
    detail: str  # one line
    checked: float = 0.0  # time.time() of the probe

    @property
    def blocked(self) -> bool:
        return self.state in BLOCKED_STATES


def probe(address: str, label: str, *, timeout: float = PROBE_SECONDS,
          connect: Callable[..., Any] = socket.create_connection) -> Port25:  # fmt: skip
    """One connect to `address`:25 (`label` says why that address: "mail.b.test, MX of b.test")."""
    where = f"{address}:25 ({label})" if label else f"{address}:25"
    try:
        with connect((address, 25), timeout=timeout):
            return Port25("open", where, f"{where} answered: outbound port 25 is open", time.time())
    except (TimeoutError, socket.timeout):
        return Port25("blocked", where, f"no answer from {where} within {timeout:g} s: the line seems to block "
                                        "outbound port 25", time.time())  # fmt: skip
    except ConnectionRefusedError:
        return Port25("refused", where, f"{where} refused the connection: that server is down or the line "
                                        "rejects outbound port 25", time.time())  # fmt: skip
    except OSError as exc:
        return Port25("unreachable", where, f"cannot reach {where}: {exc.strerror or exc}", time.time())


def skipped(detail: str) -> Port25:
    return Port25("skipped", "", detail, time.time())


def verdict(result: Port25, settings: Settings) -> tuple[str, str]:
    """(dns-check status, detail) of a probe: what a blocked port means depends on the relays."""
    if result.state == "skipped":
        return "skipped", result.detail
    if result.state == "open":
        return "ok", result.detail
    relay = settings.default_relay
    if relay is not None:
        return "warn", f"{result.detail}; outbound mail goes through relay {relay.name} ({relay.nexthop})"
    return "warn", f"{result.detail}; no relay carries the mail: configure one (docs/relay.md)"


# --- what was recorded ------------------------------------------------------------------------------


def _port25_path(data_path: str) -> str:
    return DataLayout(data_path).port25_state


def _relays_path(data_path: str) -> str:
    return DataLayout(data_path).relay_tests


def _read(path: str) -> dict[str, Any]:
    try:
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _write(path: str, data: dict[str, Any]) -> None:
    from secumail.system.files import write_json

    os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
    write_json(path, data)


def record_port25(data_path: str, result: Port25) -> None:
    """Keep the last real probe (a skipped one keeps the previous answer)."""
    if result.state != "skipped":
        _write(_port25_path(data_path), asdict(result))


def last_port25(data_path: str) -> Port25 | None:
    data = _read(_port25_path(data_path))
    try:
        return Port25(str(data["state"]), str(data["target"]), str(data["detail"]), float(data["checked"]))
    except (KeyError, TypeError, ValueError):
        return None


def record_relay_test(data_path: str, name: str, *, ok: bool, message: str) -> None:
    data = _read(_relays_path(data_path))
    data[name] = {"ok": ok, "message": message, "tested": time.time()}
    _write(_relays_path(data_path), data)


def forget_relay_test(data_path: str, name: str) -> None:
    """The relay was changed or deleted: its last result no longer says anything."""
    data = _read(_relays_path(data_path))
    if data.pop(name, None) is not None:
        _write(_relays_path(data_path), data)


def relay_states(settings: Settings) -> list[dict[str, Any]]:
    """Each configured relay with its last test (None when never tested since it was last changed)."""
    tests = _read(_relays_path(settings.main.data_path))
    out = []
    for relay in settings.relays:
        test = tests.get(relay.name)
        out.append({"name": relay.name, "nexthop": relay.nexthop, "user": relay.user,
                    "default": not relay.sender_domain, "sender_domain": list(relay.sender_domain),
                    "last_test": test if isinstance(test, dict) else None})  # fmt: skip
    return out


def relay_verdict(state: dict[str, Any]) -> tuple[str, str]:
    """(dns-check status, detail) of one relay's recorded state."""
    carries = "default relayhost" if state["default"] else f"for {', '.join(state['sender_domain'])}"
    test = state["last_test"]
    if test is None:
        return "warn", f"{carries}, as {state['user']}; not tested yet: run 'mailctl relay test'"
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(float(test.get("tested", 0))))
    status = "ok" if test.get("ok") else "warn"
    return status, f"{carries}; last test {when}: {str(test.get('message', ''))}"


def delivery_status(settings: Settings) -> dict[str, Any]:
    """What `mailctl status` shows: the last port-25 probe and each relay's state (files only)."""
    last = last_port25(settings.main.data_path)
    return {"port25": asdict(last) if last else None, "relays": relay_states(settings)}


def delivery_notes(settings: Settings, delivery: dict[str, Any]) -> list[str]:
    """Status notes when mail cannot leave: port 25 blocked without a relay, a relay's login failing."""
    notes = []
    port25 = delivery.get("port25")
    if port25 and port25["state"] in BLOCKED_STATES and settings.default_relay is None:
        notes.append(f"outbound port 25 looked blocked at the last dns-check ({port25['target']}): "
                     "mail to other servers waits; configure a relay (docs/relay.md)")  # fmt: skip
    for relay in delivery.get("relays", []):
        test = relay["last_test"]
        if test is not None and not test.get("ok"):
            notes.append(f"the last login test failed: {test.get('message', '')}")
    return notes
