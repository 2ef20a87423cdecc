"""Settings built from the schema's defaults, without a UCI backend (tests and benchmarks)."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

from secumail.config.settings import Settings, default_package, settings_from_package


def make_settings(tmp_path: object = None, **sections: dict) -> Settings:
    """Default settings with `section={"option": value}` overrides; data_path in tmp_path."""
    s = settings_from_package(default_package())
    main = {"domain": "example.com", **sections.pop("main", {})}
    if tmp_path is not None:
        main.setdefault("data_path", str(tmp_path))
    s = dataclasses.replace(s, main=dataclasses.replace(s.main, **main))
    for name, values in sections.items():
        s = dataclasses.replace(s, **{name: dataclasses.replace(getattr(s, name), **values)})
    return s


def mail_settings(data: object, *, features: dict | None = None, protection: dict | None = None,
                  ports: dict | None = None, **main: object) -> Settings:
    """Settings as `load_settings` would give them for the UCI file of tests/unit/mail/conftest.py
    (example.org, 1024-bit DKIM, lxc_path beside `data`), without the UCI backend; `features` and
    `protection`, `ports` update those sections (UCI text values)."""
    package = default_package()
    package["main"].update({"domain": "example.org", "data_path": str(data), **main})
    package["features"].update(features or {})
    package["protection"].update(protection or {})
    package["ports"].update(ports or {})
    package["dkim"].update({"key_bits": "1024"})
    # Never the host's /srv/lxc: a demo appliance running there must not receive the tests' reloads.
    package["container"].update({"lxc_path": os.path.join(os.path.dirname(str(data)), "lxc")})
    return settings_from_package(package)


def write_small_config(tmp_path: Path) -> tuple[Path, Path]:
    """A UCI dir tmp_path/config for example.org whose data_path and lxc_path are in tmp_path
    (1024-bit DKIM: quick to make). Returns (confdir, data_path)."""
    conf = tmp_path / "config"
    conf.mkdir()
    data = tmp_path / "data"
    (conf / "mailserver").write_text(
        f"\nconfig mailserver 'main'\n\toption domain 'example.org'\n\toption data_path '{data}'\n"
        f"\nconfig dkim 'dkim'\n\toption key_bits '1024'\n"
        f"\nconfig container 'container'\n\toption lxc_path '{tmp_path / 'lxc'}'\n"
    )
    return conf, data
