"""Make the system's python3-lxc importable from this (non-system-site) venv: `make venv` runs it.

Debian installs python3-lxc into /usr/lib/python3/dist-packages, which a venv
does not see. Adding that whole directory (--system-site-packages or a .pth
line) would also put every other system package in front of the venv's, so
only the two modules are linked into the venv's site-packages: the `lxc`
package and the `_lxc` extension built for this Python's ABI. Without
python3-lxc (or with one built for another Python) it links nothing and says
so; the runtime then uses the lxc-* commands.

Run with the venv's interpreter: .venv/bin/python scripts/link_lxc_binding.py
"""

from __future__ import annotations

import importlib.machinery
import os
import subprocess
import sys
import sysconfig

SYSTEM_DIRS = (
    "/usr/lib/python3/dist-packages",
    f"/usr/lib/python3.{sys.version_info.minor}/site-packages",
    f"/usr/lib/python3.{sys.version_info.minor}/dist-packages",
)


def find(dirs: tuple[str, ...] = SYSTEM_DIRS) -> tuple[str, str] | None:
    """(lxc package dir, _lxc extension file) for this interpreter, or None."""
    for directory in dirs:
        package = os.path.join(directory, "lxc", "__init__.py")
        if not os.path.isfile(package):
            continue
        for suffix in importlib.machinery.EXTENSION_SUFFIXES:
            extension = os.path.join(directory, "_lxc" + suffix)
            if os.path.isfile(extension):
                return os.path.dirname(package), extension
    return None


def importable() -> bool:
    probe = "import lxc, _lxc; lxc.attach_run_command"
    return subprocess.run([sys.executable, "-c", probe], capture_output=True).returncode == 0


def link(site: str, found: tuple[str, str]) -> None:
    for source in found:
        target = os.path.join(site, os.path.basename(source))
        if os.path.islink(target) and os.readlink(target) == source:
            continue
        if os.path.islink(target):  # a stale link (python3-lxc moved): replace it
            os.remove(target)
        elif os.path.lexists(target):  # a real install (pip's lxc): leave it
            continue
        os.symlink(source, target)


def main() -> int:
    if sys.prefix == sys.base_prefix:
        print("link_lxc_binding: not in a venv, nothing to do")
        return 0
    found = find()
    if found is None:
        print("link_lxc_binding: python3-lxc not installed for this Python: the runtime will use lxc-* commands")
        return 0
    link(sysconfig.get_paths()["purelib"], found)
    if not importable():
        print(f"link_lxc_binding: {found[1]} does not load in {sys.executable}: the runtime will use lxc-* commands")
        return 0
    print(f"link_lxc_binding: python3-lxc importable ({found[1]})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
