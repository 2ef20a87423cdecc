"""Whether the container's memory limit fits the router: what install and start warn about and
`mailctl diagnose` checks (memory.fit).

The container may take container.memory (what 'auto' resolves to: secumail.config.settings.memory_need);
the router keeps ROUTER_RESERVE_MB of its MemTotal for itself (kernel, netifd, LuCI, the agent), and a
cgroup limit on the agent's own cgroup bounds the container too (it is created below the same tree).
A limit that does not fit is not refused: the kernel starts swapping or OOM-kills under load instead.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from secumail.system import memory

if TYPE_CHECKING:
    from secumail.config.settings import Settings

ROUTER_RESERVE_MB = 256
HINT = ("lower mailserver.container.memory, or turn features off ('auto' follows features.spam_filter, "
        "virus_scan, mta_sts_outbound), or give the router more memory")  # fmt: skip


def room_mb(*, meminfo: str = memory.MEMINFO, cgroup_root: str = memory.CGROUP_ROOT,
            self_cgroup: str = memory.SELF_CGROUP) -> tuple[int, str] | None:
    """(MiB the container may take here, what says so), or None when the host's memory is unknown."""
    total = memory.host_memory_mb(meminfo)
    limit = memory.cgroup_limit_mb(cgroup_root, self_cgroup)
    room = None
    if total is not None:
        room = (total - ROUTER_RESERVE_MB, f"MemTotal {total} MiB less {ROUTER_RESERVE_MB} MiB for the router itself")
    if limit is not None and (room is None or limit < room[0]):
        room = (limit, f"the cgroup memory limit is {limit} MiB")
    return room


def problem(settings: Settings, **paths: str) -> str | None:
    """One line saying why container.memory does not fit this router, or None when it fits (or the
    host's memory is unknown). `paths`: room_mb's files, for tests."""
    room = room_mb(**paths)
    need = settings.container.memory
    if room is None or need <= room[0]:
        return None
    return f"mailserver.container.memory is {need} MiB, more than this router can give: {room[1]}"
