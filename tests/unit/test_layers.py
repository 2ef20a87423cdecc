"""The import graph follows the layer order of docs/architecture.md.

Every `import secumail.X` (at the top of a module or inside a function) is an edge from
its package to X. An edge may only go down the layers, or between the feature packages
named in FEATURE_EDGES. KNOWN lists the edges that still break the order; it may only
shrink: a new violation fails, and so does an entry that no longer exists.
"""

from __future__ import annotations

import ast
import os
from collections import defaultdict

ROOT = os.path.join(os.path.dirname(__file__), "..", "..", "secumail")

LAYER = {
    "errors": 0,
    "uci": 1,
    "system": 2,
    "config": 3,
    "container": 4,
    "mail": 4,
    "dns": 4,
    "certs": 4,
    "mesh": 4,
    "appliance": 5,
    "cli": 6,
    "daemon": 6,
}
# between features: DKIM public keys for the record set; challenge records and the self-signed fallback
FEATURE_EDGES = {("dns", "mail"), ("certs", "dns"), ("certs", "mail")}
# the CLI talks to secumaild through its control-socket client and starts it through its launcher
# (procd or a detached process); the daemon never imports the CLI
ENTRY_EDGES = {("cli", "secumail.daemon.client"), ("cli", "secumail.daemon.launcher")}

KNOWN: set[tuple[str, str]] = set()  # every edge that broke the order is fixed: keep it empty


def _imports(*, resolve_names: bool = False) -> dict[str, set[str]]:
    """module → the secumail modules it imports.

    With `resolve_names`, `from secumail.pkg import mod` counts as an import of secumail.pkg.mod
    when that is a module (the name is a module, not an attribute of the package).
    """
    found: dict[str, set[str]] = defaultdict(set)
    modules = _modules()
    for module, path in modules.items():
        with open(path, encoding="utf-8") as handle:
            tree = ast.parse(handle.read(), path)
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                base = node.module
                targets = [f"{base}.{a.name}" if resolve_names and f"{base}.{a.name}" in modules else base
                           for a in node.names]  # fmt: skip
            else:
                continue
            found[module].update(t for t in targets if t.startswith("secumail.") and t != module)
    return found


def _modules() -> dict[str, str]:
    """secumail module name → its file."""
    modules = {}
    for dirpath, _dirs, files in os.walk(ROOT):
        for name in files:
            if name.endswith(".py"):
                path = os.path.join(dirpath, name)
                module = "secumail." + os.path.relpath(path, ROOT)[:-3].replace(os.sep, ".")
                modules[module.removesuffix(".__init__")] = path
    return modules


def _package(module: str) -> str:
    return module.split(".")[1]


def _allowed(source: str, target: str) -> bool:
    src, dst = _package(source), _package(target)
    return (
        src == dst
        or LAYER[dst] < LAYER[src]
        or (src, dst) in FEATURE_EDGES
        or (src, target) in ENTRY_EDGES
    )


def test_every_package_has_a_layer():
    packages = {_package(m) for m in _imports()} | {_package(t) for ts in _imports().values() for t in ts}
    assert packages <= set(LAYER), f"add {packages - set(LAYER)} to LAYER (and to docs/architecture.md)"


def test_imports_follow_the_layer_order():
    violations = {(src, dst) for src, targets in _imports().items() for dst in targets if not _allowed(src, dst)}
    new = sorted(violations - KNOWN)
    assert new == [], f"imports against the layer order of docs/architecture.md: {new}"
    gone = sorted(KNOWN - violations)
    assert gone == [], f"fixed, so remove from KNOWN: {gone}"


def test_no_cycles_between_packages_beyond_the_known_edges():
    graph: dict[str, set[str]] = defaultdict(set)
    for src, targets in _imports().items():
        for dst in targets:
            if _package(src) != _package(dst) and (src, dst) not in KNOWN:
                graph[_package(src)].add(_package(dst))
    state: dict[str, int] = {}  # 1 on the current path, 2 done

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph[node]):
            assert state.get(nxt) != 1, f"import cycle: {' → '.join([*path, node, nxt])}"
            if nxt not in state:
                visit(nxt, [*path, node])
        state[node] = 2

    for package in sorted(LAYER):
        if package not in state:
            visit(package, [])


KNOWN_MODULE_CYCLES: list[list[str]] = []


def _strongly_connected(graph: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan: the groups of modules that import each other (directly or around a loop)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return groups


def test_no_two_modules_import_each_other():
    """Not even at run time (an import inside a function): certs.renewal and certs.runner once did.

    A package's __init__ importing its own submodules (a re-export) is not a cycle of two modules.
    """
    graph = {
        src: {dst for dst in targets if not src.startswith(dst + ".")}
        for src, targets in _imports(resolve_names=True).items()
    }
    cycles = sorted(_strongly_connected(graph))
    new = [c for c in cycles if c not in KNOWN_MODULE_CYCLES]
    assert new == [], f"modules importing each other: {new}"
    gone = [c for c in KNOWN_MODULE_CYCLES if c not in cycles]
    assert gone == [], f"fixed, so remove from KNOWN_MODULE_CYCLES: {gone}"


def test_no_two_packages_import_each_other():
    """Every pair of sub-packages imports at most one way, beyond the KNOWN edges."""
    both = set()
    edges = {(_package(src), _package(dst)) for src, targets in _imports().items() for dst in targets
             if _package(src) != _package(dst) and (src, dst) not in KNOWN}  # fmt: skip
    for a, b in edges:
        if (b, a) in edges:
            both.add(tuple(sorted((a, b))))
    assert sorted(both) == [], f"packages importing each other: {sorted(both)}"
