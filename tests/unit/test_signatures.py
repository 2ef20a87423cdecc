"""Signatures in every package: few positional parameters, and `settings` typed.

Past five positional parameters a call reads as a row of values whose meaning depends on their
order: the rest are keyword-only or grouped in a small dataclass. A `settings` parameter is the
one Settings type (secumail.config.settings), never Any, so a type checker follows it.
"""

from __future__ import annotations

import ast
import os

ROOT = os.path.join(os.path.dirname(__file__), "..", "..", "secumail")
PACKAGES = ("config", "mesh", "certs", "dns", "system", "uci", "mail", "container", "appliance", "daemon", "cli")
MAX_POSITIONAL = 5
EXEMPT = {
    # urllib.request.HTTPRedirectHandler's own signature, overridden
    ("system/nofollow.py", "redirect_request"),
}
NOT_YET: set[str] = set()


def _functions():
    for package in PACKAGES:
        for dirpath, _dirs, files in os.walk(os.path.join(ROOT, package)):
            for name in sorted(files):
                if not name.endswith(".py"):
                    continue
                path = os.path.join(dirpath, name)
                rel = os.path.relpath(path, ROOT).replace(os.sep, "/")
                with open(path, encoding="utf-8") as handle:
                    tree = ast.parse(handle.read(), path)
                for node in ast.walk(tree):
                    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                        yield rel, node


def test_no_function_takes_more_than_five_positional_parameters():
    crowded = []
    for rel, node in _functions():
        positional = [a.arg for a in node.args.posonlyargs + node.args.args if a.arg not in ("self", "cls")]
        if len(positional) > MAX_POSITIONAL and (rel, node.name) not in EXEMPT and rel not in NOT_YET:
            crowded.append(f"{rel}:{node.lineno} {node.name}({', '.join(positional)})")
    assert crowded == []


def test_settings_parameters_have_the_settings_type():
    untyped = []
    for rel, node in _functions():
        if rel in NOT_YET:
            continue
        for arg in node.args.posonlyargs + node.args.args + node.args.kwonlyargs:
            if arg.arg == "settings" and (arg.annotation is None or ast.unparse(arg.annotation) != "Settings"):
                untyped.append(f"{rel}:{node.lineno} {node.name}")
    assert untyped == []
