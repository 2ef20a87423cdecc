"""`mailserver.SECTION[.OPTION]` paths: get, validated set, show.

A set is first tried on a scratch copy of the pending changes and the whole
package is validated; only a change that leaves the config valid is saved and
committed, so a typo never reaches the running config.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import tempfile
from collections.abc import Sequence
from typing import Any

from secumail.config import confdir as resolve_confdir
from secumail.config import ensure_config, open_uci, savedir, uci_module
from secumail.config.settings import PACKAGE, REPEATED, SECTIONS, settings_from_package, virus_scan_refusal
from secumail.errors import ConfigError, InputError, SecumailError

_NAME = re.compile(r"^(@[A-Za-z0-9_]*\[-?[0-9]+\]|[A-Za-z0-9_]+)$")


def split_path(path: str) -> tuple[str, str | None]:
    parts = path.split(".")
    if parts[0] != PACKAGE or len(parts) not in (2, 3):
        raise InputError(f"{path!r} is not a path of the form {PACKAGE}.SECTION[.OPTION]")
    section = parts[1]
    option = parts[2] if len(parts) == 3 else None
    if not _NAME.match(section) or (option is not None and not re.fullmatch(r"[A-Za-z0-9_]+", option)):
        raise InputError(f"{path!r}: section and option names are letters, digits and '_'")
    return section, option


def get_value(config_dir: str | None, path: str) -> dict[str, Any]:
    section, option = split_path(path)
    ensure_config(config_dir)
    module = uci_module()
    uci = open_uci(config_dir)
    try:
        value = uci.get(PACKAGE, section, option) if option else uci.get(PACKAGE, section)
    except module.UciExceptionNotFound:
        raise InputError(f"{path}: not found") from None
    except module.UciException as exc:
        raise SecumailError(f"{path}: {exc}") from None
    return {"path": path, "value": list(value) if isinstance(value, tuple) else value}


def _check_known(section: str, option: str | None, package: dict[str, dict[str, Any]]) -> None:
    """Refuse unknown options of the sections secumail defines (catches typos early)."""
    if option is None:
        return
    sect = package.get(section)
    stype = sect.get(".type") if sect else None
    for spec in SECTIONS + REPEATED:
        if (section == spec.uci_name or stype == spec.uci_type) and option not in spec.options():
            known = ", ".join(spec.options())
            raise InputError(f"{PACKAGE}.{section}.{option}: unknown option (known: {known})")


def _apply(uci: Any, section: str, option: str | None, value: Any, package: dict[str, dict[str, Any]]) -> None:
    module = uci_module()
    known_types = {spec.uci_name: spec.uci_type for spec in SECTIONS}
    if value is None:  # delete the option or the whole section, if it is there
        with contextlib.suppress(module.UciExceptionNotFound):
            if option is None:
                uci.delete(PACKAGE, section)
            else:
                uci.delete(PACKAGE, section, option)
        return
    if option is not None and section not in package and section in known_types:
        uci.set(PACKAGE, section, known_types[section])  # a secumail section missing from the file
    if option is None:
        uci.set(PACKAGE, section, value)
        return
    if value == "" or value == ():
        with contextlib.suppress(module.UciExceptionNotFound):
            uci.delete(PACKAGE, section, option)
        return
    uci.set(PACKAGE, section, option, value)


def _validation_error(package: dict[str, dict[str, Any]]) -> str | None:
    try:
        settings_from_package(package)
    except ConfigError as exc:
        return str(exc)
    return None


def _host_memory_problem(before: dict[str, dict[str, Any]], after: dict[str, dict[str, Any]]) -> str | None:
    """Turning virus scanning on needs the host to have the memory ClamAV needs (the container's limit
    is checked with the rest of the settings)."""
    try:
        new, old = settings_from_package(after), settings_from_package(before)
    except ConfigError:
        return None
    if not new.features.virus_scan or old.features.virus_scan:
        return None
    return virus_scan_refusal(new)


def set_value(config_dir: str | None, path: str, value: Any) -> None:
    """Validate then save and commit `path = value` (a tuple makes a UCI list)."""
    change(config_dir, [(path, value)])


def change(config_dir: str | None, changes: Sequence[tuple[str, Any]], *, dry_run: bool = False) -> None:
    """Validate then save and commit several `path = value` at once: all or none (`dry_run`: validate only).

    A value of None deletes the option (or the section); "" or () deletes an option too; a
    section path takes its type as value. The whole package is validated with every change
    applied on a scratch copy of the pending changes before anything is saved.
    """
    parsed = []
    for path, value in changes:
        section, option = split_path(path)
        if option is None and value is not None and not re.fullmatch(r"[A-Za-z0-9_]+", str(value)):
            raise InputError(f"{path}: {value!r} is not a valid section type")
        parsed.append((path, section, option, value))
    ensure_config(config_dir)
    module = uci_module()
    real_savedir = savedir()
    failing = parsed[0][0] if parsed else PACKAGE  # the path named when UCI refuses a change
    try:
        before = dict(open_uci(config_dir).get_all(PACKAGE))
        with tempfile.TemporaryDirectory() as scratch:
            pending = os.path.join(real_savedir, PACKAGE)
            if os.path.exists(pending):
                shutil.copy(pending, os.path.join(scratch, PACKAGE))
            trial = open_uci(config_dir, scratch)
            for path, section, option, value in parsed:
                failing = path
                current = dict(trial.get_all(PACKAGE))
                if value is not None:
                    _check_known(section, option, current)
                _apply(trial, section, option, value, current)
            after = dict(trial.get_all(PACKAGE))
        problem = _validation_error(after)
        if problem and problem != _validation_error(before):
            raise InputError(problem + "; nothing was saved")
        problem = _host_memory_problem(before, after)
        if problem:
            raise InputError(problem + "; nothing was saved")
        if dry_run:
            return
        os.makedirs(real_savedir, exist_ok=True)
        uci = open_uci(config_dir)
        for path, section, option, value in parsed:
            failing = path
            _apply(uci, section, option, value, dict(uci.get_all(PACKAGE)))
        uci.commit(PACKAGE)
    except module.UciExceptionNotFound:
        section = split_path(failing)[0]
        raise InputError(f"{failing}: section not found (create it first: {PACKAGE}.{section}=TYPE)") from None
    except module.UciException as exc:
        raise InputError(f"{failing}: {exc}") from None


def claim_section_name(config_dir: str | None, name: str, kind: str) -> None:
    """`name` is a `config <kind>` section already or no section at all: replacing 'main' or a peer with
    a section of another type would wipe it. InputError naming the section otherwise."""
    ensure_config(config_dir)
    section = dict(open_uci(config_dir).get_all(PACKAGE)).get(name)
    other = section.get(".type") if section else None
    if other not in (None, kind):
        raise InputError(
            f"{kind} name {name!r} is taken by the section {PACKAGE}.{name} (config {other}): choose another name"
        )


def replace_package(config_dir: str | None, content: bytes, mode: int) -> None:
    """Put a whole `mailserver` file in place (a restored copy), atomically, with `mode`.

    Pending changes in the save directory were made against the file it replaces: they go too.
    """
    from secumail.system.files import atomic_write

    directory = resolve_confdir(config_dir)
    os.makedirs(directory, exist_ok=True)
    atomic_write(os.path.join(directory, PACKAGE), content, mode)
    with contextlib.suppress(FileNotFoundError):
        os.unlink(os.path.join(savedir(), PACKAGE))


def show(config_dir: str | None, path: str) -> dict[str, Any]:
    """The package (or one section/option) in get_all() shape, lists as JSON lists."""
    ensure_config(config_dir)
    if path == PACKAGE:
        section = option = None
    else:
        section, option = split_path(path)
    module = uci_module()
    try:
        package = dict(open_uci(config_dir).get_all(PACKAGE))
    except module.UciException as exc:
        raise SecumailError(f"cannot read {resolve_confdir(config_dir)}/{PACKAGE}: {exc}") from None
    if section is not None:
        name = _resolve(package, section)
        if name is None or (option is not None and option not in package[name]):
            raise InputError(f"{path}: not found")
        sect = package[name]
        package = {name: sect if option is None else {k: v for k, v in sect.items() if k in (option, ".type",
                   ".name", ".anonymous", ".index")}}  # fmt: skip
    return {
        name: {key: list(val) if isinstance(val, tuple) else val for key, val in sect.items()}
        for name, sect in package.items()
    }


def _resolve(package: dict[str, dict[str, Any]], section: str) -> str | None:
    match = re.fullmatch(r"@([A-Za-z0-9_]*)\[(-?[0-9]+)\]", section)
    if not match:
        return section if section in package else None
    stype, index = match.group(1), int(match.group(2))
    ordered = sorted(package, key=lambda name: package[name].get(".index", 0))
    names = [name for name in ordered if not stype or package[name].get(".type") == stype]
    try:
        return names[index]
    except IndexError:
        return None


def _quote(value: str) -> str:
    return "'" + value.replace("'", "'\\''") + "'"


def show_lines(package: dict[str, dict[str, Any]]) -> list[str]:
    """`uci show` lines: anonymous sections as @type[i], values single-quoted."""
    lines = []
    counters: dict[str, int] = {}
    for name, sect in sorted(package.items(), key=lambda item: item[1].get(".index", 0)):
        stype = sect.get(".type", "")
        position = counters.get(stype, 0)
        counters[stype] = position + 1
        label = f"@{stype}[{position}]" if sect.get(".anonymous") else name
        lines.append(f"{PACKAGE}.{label}={stype}")
        for key, val in sect.items():
            if key.startswith("."):
                continue
            shown = " ".join(_quote(v) for v in val) if isinstance(val, list) else _quote(str(val))
            lines.append(f"{PACKAGE}.{label}.{key}={shown}")
    return lines
