"""What `mailctl update --rollback` goes back to: the previous image and config generation.

A small JSON file (DataLayout.update_state) written after each switch. The
images themselves are directories next to the container's rootfs: `rootfs` (the
one running), `rootfs.previous` (the one before) and, during an update,
`rootfs.next` (the candidate).
"""

from __future__ import annotations

import ipaddress
import json
from dataclasses import asdict, dataclass

from secumail.errors import InputError

CANDIDATE_SUFFIX = "-next"  # the candidate container's name: <container>-next


@dataclass(frozen=True)
class UpdateState:
    previous_generation: str | None  # the live config generation before the switch
    generation: str | None  # the live generation right after the switch
    source: str  # what the running image came from: "build", a tarball path or "rollback"
    switched_at: str  # UTC, ISO 8601


def image_dirs(rootfs: str) -> dict[str, str]:
    """The running, previous and candidate image directories of a container's rootfs."""
    return {"current": rootfs, "previous": rootfs + ".previous", "next": rootfs + ".next"}


def load(path: str) -> UpdateState | None:
    """The state, or None when no update ran yet; a damaged file is an error naming it."""
    try:
        with open(path, encoding="utf-8") as handle:
            raw = json.load(handle)
        return UpdateState(**{k: raw.get(k) for k in UpdateState.__dataclass_fields__})
    except FileNotFoundError:
        return None
    except (OSError, ValueError, TypeError) as exc:
        raise InputError(f"{path}: unreadable update state ({exc}); remove it to start over") from None


def save(path: str, state: UpdateState) -> None:
    from secumail.system.files import write_json

    write_json(path, asdict(state), 0o644)


def rollback_generation(state: UpdateState | None, live: str | None, existing: set[str]) -> str | None:
    """The config generation a rollback makes live: the one recorded before the last switch when it
    still exists and is not live already; None keeps the live one."""
    if state is None or not state.previous_generation:
        return None
    wanted = state.previous_generation
    if wanted == live or wanted not in existing:
        return None
    return wanted


def candidate_address(host: ipaddress.IPv4Interface, container: ipaddress.IPv4Interface) -> ipaddress.IPv4Interface:
    """The candidate container's address on the bridge: the highest host of the container's network
    that is neither the host's nor the container's."""
    network = container.network
    taken = {host.ip, container.ip}
    for ip in reversed(list(network.hosts())[-16:]):
        if ip not in taken:
            return ipaddress.IPv4Interface(f"{ip}/{network.prefixlen}")
    raise InputError(f"no free address for the update's candidate container in {network}")
