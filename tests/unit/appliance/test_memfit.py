"""Whether container.memory fits the router: fake /proc/meminfo and cgroup trees; the warning line of
install/start and `mailctl diagnose`'s memory.fit row."""

from __future__ import annotations

import dataclasses

import pytest

from secumail.appliance import diagnose, memfit, server
from secumail.appliance.operations import Call
from secumail.system import memory
from tests.support.settings import make_settings


def _host(tmp_path, total_kib: int | None, cgroup: str = "0::/services/secumail\n", limits: dict | None = None):
    """Paths of a fake host: /proc/meminfo with MemTotal, /proc/self/cgroup, and memory files below a cgroup root."""
    meminfo = tmp_path / "meminfo"
    if total_kib is not None:
        meminfo.write_text(f"MemTotal:       {total_kib} kB\nMemFree:          123456 kB\n")
    self_cgroup = tmp_path / "self-cgroup"
    self_cgroup.write_text(cgroup)
    root = tmp_path / "cgroup"
    for rel, text in (limits or {}).items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text + "\n")
    return {"meminfo": str(meminfo), "cgroup_root": str(root), "self_cgroup": str(self_cgroup)}


def _settings(tmp_path, memory_mb: int):
    settings = make_settings(tmp_path / "data", container={"lxc_path": str(tmp_path / "lxc")})
    return dataclasses.replace(settings, container=dataclasses.replace(settings.container, memory=memory_mb))


def test_a_limit_within_memtotal_less_the_routers_share_fits(tmp_path):
    paths = _host(tmp_path, 1024 * 1024)  # a 1 GiB router, no cgroup limit
    assert memfit.room_mb(**paths) == (768, "MemTotal 1024 MiB less 256 MiB for the router itself")
    assert memfit.problem(_settings(tmp_path, 768), **paths) is None
    assert memfit.problem(_settings(tmp_path, 769), **paths) == (
        "mailserver.container.memory is 769 MiB, more than this router can give: "
        "MemTotal 1024 MiB less 256 MiB for the router itself")


def test_a_lower_cgroup_limit_bounds_it_and_max_means_none(tmp_path):
    limits = {"memory.max": "max", "services/memory.max": str(512 * 2**20), "services/secumail/memory.max": "max"}
    paths = _host(tmp_path, 4 * 1024 * 1024, limits=limits)
    assert memory.cgroup_limit_mb(paths["cgroup_root"], paths["self_cgroup"]) == 512
    assert memfit.problem(_settings(tmp_path, 640), **paths) == (
        "mailserver.container.memory is 640 MiB, more than this router can give: the cgroup memory limit is 512 MiB")
    (tmp_path / "x").mkdir()
    unlimited = _host(tmp_path / "x", 4 * 1024 * 1024, limits={"services/secumail/memory.max": "max"})
    assert memfit.room_mb(**unlimited)[0] == 4096 - 256


def test_cgroup_v1_memory_controller(tmp_path):
    cgroup = "12:cpu,cpuacct:/\n4:memory:/secumail\n0::/\n"
    limits = {"memory/memory.limit_in_bytes": str(2**63 - 4096), "memory/secumail/memory.limit_in_bytes": str(2**29)}
    paths = _host(tmp_path, 2 * 1024 * 1024, cgroup=cgroup, limits=limits)
    assert memfit.room_mb(**paths) == (512, "the cgroup memory limit is 512 MiB")


def test_an_unreadable_host_is_no_problem_and_diagnose_skips_the_check(tmp_path):
    paths = _host(tmp_path, None)
    assert memfit.room_mb(**paths) is None and memfit.problem(_settings(tmp_path, 4096), **paths) is None
    (row,) = diagnose._memory_fit_rows(_settings(tmp_path, 4096), **paths)
    assert isinstance(row, diagnose.Skip) and row.id == "memory.fit"


def test_diagnose_warns_with_a_hint_when_it_does_not_fit(tmp_path):
    paths = _host(tmp_path, 512 * 1024)  # a 512 MiB router
    (row,) = diagnose._memory_fit_rows(_settings(tmp_path, 640), **paths)
    assert (row.id, row.status) == ("memory.fit", "warn")
    assert row.detail.startswith("mailserver.container.memory is 640 MiB") and "container.memory" in row.hint
    (row,) = diagnose._memory_fit_rows(_settings(tmp_path, 256), **paths)
    assert (row.status, row.hint) == ("ok", "")
    assert row.detail == "container.memory 256 MiB fits: MemTotal 512 MiB less 256 MiB for the router itself = 256 MiB"


@pytest.mark.parametrize("operation", ["install", "start"])
def test_install_and_start_print_one_warning_line_when_it_does_not_fit(tmp_path, monkeypatch, operation):
    from secumail.appliance import lifecycle

    paths = _host(tmp_path, 512 * 1024)
    real = memfit.room_mb
    monkeypatch.setattr(memfit, "room_mb", lambda **kw: real(**{**paths, **kw}))
    monkeypatch.setattr(lifecycle, operation, lambda settings, progress: {"result": "ok"})
    monkeypatch.setattr(server, "_set_enabled", lambda call, enabled: None)
    warnings: list[str] = []
    call = Call(warn=warnings.append)
    call._settings = _settings(tmp_path, 640)
    assert getattr(server, operation)(call) == {"result": "ok"}
    assert warnings == ["mailserver.container.memory is 640 MiB, more than this router can give: "
                        "MemTotal 512 MiB less 256 MiB for the router itself"]  # fmt: skip
    call._settings = _settings(tmp_path, 256)
    warnings.clear()
    getattr(server, operation)(call)
    assert warnings == []
