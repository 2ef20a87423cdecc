"""scripts/link_lxc_binding.py: `make venv` links python3-lxc's two modules, and nothing else, into the venv."""

from __future__ import annotations

import importlib.machinery
import importlib.util
import os

SCRIPT = os.path.join(os.path.dirname(__file__), "..", "..", "..", "scripts", "link_lxc_binding.py")


def _script():
    spec = importlib.util.spec_from_file_location("link_lxc_binding", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _system_dir(root) -> tuple[str, str]:
    (root / "lxc").mkdir()
    (root / "lxc" / "__init__.py").write_text("import _lxc\n")
    extension = root / ("_lxc" + importlib.machinery.EXTENSION_SUFFIXES[0])
    extension.write_bytes(b"\x7fELF")
    (root / "yaml").mkdir()  # another system package: must stay invisible to the venv
    return str(root / "lxc"), str(extension)


def test_finds_the_package_and_the_extension_for_this_python(tmp_path) -> None:
    script = _script()
    assert script.find((str(tmp_path),)) is None
    found = _system_dir(tmp_path)
    assert script.find(("/nonexistent", str(tmp_path))) == found


def test_links_only_lxc_and_is_idempotent(tmp_path) -> None:
    script = _script()
    system, site = tmp_path / "system", tmp_path / "site"
    system.mkdir()
    site.mkdir()
    found = _system_dir(system)
    script.link(str(site), found)
    script.link(str(site), found)
    assert sorted(os.listdir(site)) == sorted(os.path.basename(p) for p in found)
    assert all(os.readlink(site / os.path.basename(p)) == p for p in found)


def test_a_real_install_in_the_venv_is_left_alone(tmp_path) -> None:
    script = _script()
    system, site = tmp_path / "system", tmp_path / "site"
    system.mkdir()
    site.mkdir()
    found = _system_dir(system)
    (site / "lxc").mkdir()  # e.g. pip's lxc package
    script.link(str(site), found)
    assert not os.path.islink(site / "lxc")
