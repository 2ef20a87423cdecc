"""Which integration tests share a world, and the order the worlds are handed to pytest-xdist workers.

A *world* is what tests share through fixed names: a session fixture of tests/integration (Knot and
pebble on 127.0.61.x, the mail container smmail, the mesh bridge smtbr0, ...) or a module's own
container, bridge and /var/tmp paths. Tests of one world must run in one process, one after the other;
different worlds use different names, subnets and addresses, so they may run side by side.

`world_groups(items)` joins every integration test with the tests of its module and with every test
using the same session fixture (transitively) and names each group. Each worker writes that map to a
file the controller named (xdist's own `xdist_group` mark cannot be used: it renames the test ids
through `item._nodeid`, which pytest 9.2 no longer reads, so the groups were silently lost).
`WorldScheduling` is xdist's loadscope scheduler with a test's world as its scope, the longest worlds
first (by `SECONDS`, measured), and a worker holding a world gets nothing more until its last test, so
a short world never waits long behind a long one on a worker while another worker idles.
"""

from __future__ import annotations

import json
import os
from collections import OrderedDict
from collections.abc import Iterable

# Wall seconds of each world in a serial run (pytest --durations, 2026-12-05, 2 cores): only the order
# of the start depends on them. A world not listed counts 2 s per test.
SECONDS = {
    "tests/integration/daemon/test_container.py": 112,
    "mailworld": 106,
    "servers": 120,  # + test_router_profile.py (~45 s, 2026-12-06)
    "net": 60,
    "tests/integration/luci/test_plugin_appliance.py": 56,
    "tests/integration/service/test_appliance.py": 43,
    "knot": 27,
    "inet": 180,  # + test_home_line.py (~80 s), test_mtasts.py (~47 s), test_autoconfig.py (~10 s) alone, 2026-12-06
    "tests/integration/imports/test_import.py": 30,
    # 40 s with a warm image cache, 8-11 min more with a cold one (bench/RESULTS.md): listed as the
    # longest so it starts first either way (warm, its worker is free again soon).
    "tests/integration/service/test_arm64.py": 600,
}
INTEGRATION = "tests/integration/"
# Modules that measure their own process (tracemalloc peaks): a world of their own, started first on a
# fresh worker, where no earlier test's threads or garbage can allocate during the measure.
FIRST = ("tests/unit/mesh/test_memory.py",)


class _Union:
    def __init__(self) -> None:
        self.parent: dict[str, str] = {}

    def find(self, key: str) -> str:
        self.parent.setdefault(key, key)
        while self.parent[key] != key:
            self.parent[key] = self.parent[self.parent[key]]
            key = self.parent[key]
        return key

    def join(self, a: str, b: str) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)


def _session_fixtures(item) -> list[str]:
    """Session-scoped fixtures of tests/integration that `item` uses (its world's servers)."""
    info = getattr(item, "_fixtureinfo", None)
    if info is None:
        return []
    names = []
    for name, defs in info.name2fixturedefs.items():
        if defs and defs[-1].scope == "session" and defs[-1].baseid.startswith(INTEGRATION.rstrip("/")):
            names.append(name)
    return names


def world_groups(items: Iterable) -> dict[str, str]:
    """nodeid -> group name for every integration test (and FIRST); other tests are in no group."""
    union = _Union()
    keys: dict[str, list[str]] = {}
    for item in items:
        module = item.nodeid.split("::", 1)[0]
        if module in FIRST:
            keys[item.nodeid] = [module]
            continue
        if not module.startswith(INTEGRATION):
            continue
        keys[item.nodeid] = [module, *(f"fixture:{name}" for name in _session_fixtures(item))]
        for key in keys[item.nodeid][1:]:
            union.join(module, key)
    members: dict[str, set[str]] = {}
    for own in keys.values():
        members.setdefault(union.find(own[0]), set()).update(own)
    names = {}
    for root, group in members.items():
        fixtures = sorted(k.split(":", 1)[1] for k in group if k.startswith("fixture:"))
        names[root] = "+".join(fixtures) if fixtures else min(group)
    return {nodeid: names[union.find(own[0])] for nodeid, own in keys.items()}


def save_groups(path: str, groups: dict[str, str]) -> None:
    """Write the map for the controller (every worker writes the same one; the last rename wins)."""
    tmp = f"{path}.{os.getpid()}"
    with open(tmp, "w") as handle:
        json.dump(groups, handle)
    os.replace(tmp, path)


def make_scheduler(config, log, groups_path: str):
    """The scheduler for `--dist loadgroup` (imported only when xdist runs)."""
    from xdist.scheduler import LoadScopeScheduling

    class WorldScheduling(LoadScopeScheduling):
        def __init__(self, config, log=None) -> None:
            super().__init__(config, log)
            self._ordered = False
            self._groups: dict[str, str] | None = None

        def schedule(self) -> None:
            if self._groups is None:  # the workers wrote it while collecting, before this is called
                with open(groups_path) as handle:
                    self._groups = json.load(handle)
            super().schedule()

        def _split_scope(self, nodeid: str) -> str:
            assert self._groups is not None
            return self._groups.get(nodeid, nodeid)

        @staticmethod
        def _is_world(scope: str) -> bool:
            return "::" not in scope  # a group name; a lone test's scope is its nodeid

        def _weight(self, scope: str) -> float:
            if not self._is_world(scope):
                return 0.0
            if scope in FIRST:
                return float("inf")
            return SECONDS.get(scope, 2.0 * len(self.workqueue[scope]))

        def _assign_work_unit(self, node) -> None:
            if not self._ordered:  # the queue is complete at the first assignment
                self._ordered = True
                order = sorted(self.workqueue, key=lambda scope: -self._weight(scope))  # stable: lone tests keep order
                self.workqueue = OrderedDict((scope, self.workqueue[scope]) for scope in order)
            super()._assign_work_unit(node)

        def _reschedule(self, node) -> None:
            if node.shutting_down:
                return
            if not self.workqueue:
                node.shutdown()
                return
            pending = [scope for scope, unit in self.assigned_work[node].items() for done in unit.values() if not done]
            # A worker holds back its last test until it gets more work or is shut down (the test's teardown
            # depends on the next one), so a world's last test must never be left alone: with one test
            # pending, always give more. Before that, a world gets nothing queued behind it.
            if len(pending) > 1 and any(self._is_world(scope) for scope in pending):
                return
            if len(pending) > 2:
                return
            self._assign_work_unit(node)

    return WorldScheduling(config, log)
