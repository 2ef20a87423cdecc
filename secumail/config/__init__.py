"""Configuration: the one way to read and change UCI package `mailserver`.

`open_uci()` picks OpenWrt's `uci` module (pyuci on libuci) when importable and
secumail's pure-Python `secumail.uci` otherwise; nothing else in the code
touches config files. `load_settings()` gives an immutable, validated Settings.
"""

from __future__ import annotations

import os
from typing import Any

from secumail.config.settings import PACKAGE, Settings, default_package, settings_from_package

DEFAULT_CONFDIR = "/etc/config"
DEFAULT_SAVEDIR = "/tmp/.uci"  # noqa: S108 - libuci's compiled-in save dir; shared with the `uci` CLI


def confdir(explicit: str | None = None) -> str:
    """--confdir, else $SECUMAIL_CONFDIR, else /etc/config (on every host, as on OpenWrt)."""
    return os.path.abspath(explicit or os.environ.get("SECUMAIL_CONFDIR") or DEFAULT_CONFDIR)


def savedir(explicit: str | None = None) -> str:
    return os.path.abspath(explicit or os.environ.get("SECUMAIL_SAVEDIR") or DEFAULT_SAVEDIR)


def uci_module() -> Any:
    """OpenWrt's `uci` module (pyuci on libuci) when importable, else `secumail.uci`.

    Both offer Uci, UciException and UciExceptionNotFound with the same meaning.
    """
    try:
        import uci  # type: ignore[import-not-found]  # OpenWrt's python3-uci

        if all(hasattr(uci, name) for name in ("Uci", "UciException", "UciExceptionNotFound")):
            return uci
    except ImportError:
        pass
    # Not on OpenWrt, or some other module named `uci` (a directory on sys.path): use ours.
    import secumail.uci

    return secumail.uci


def open_uci(config_dir: str | None = None, save_dir: str | None = None) -> Any:
    """A pyuci-compatible `Uci` object for `config_dir`."""
    return uci_module().Uci(confdir=confdir(config_dir), savedir=savedir(save_dir))


def ensure_config(config_dir: str | None = None) -> str:
    """Install the default `mailserver` config when it is absent; return its path."""
    from secumail.config.defaults import render_defaults
    from secumail.system.files import atomic_write

    directory = confdir(config_dir)
    path = os.path.join(directory, PACKAGE)
    if not os.path.exists(path):
        os.makedirs(directory, exist_ok=True)
        atomic_write(path, render_defaults(), 0o644)
    return path


def load_settings(config_dir: str | None = None, save_dir: str | None = None) -> Settings:
    """Read and validate /etc/config/mailserver (installing the defaults if it is missing)."""
    ensure_config(config_dir)
    return settings_from_package(read_package(config_dir, save_dir))


def read_package(config_dir: str | None = None, save_dir: str | None = None) -> dict[str, dict[str, Any]]:
    from secumail.errors import SecumailError

    module = uci_module()
    try:
        return dict(open_uci(config_dir, save_dir).get_all(PACKAGE))
    except module.UciException as exc:
        raise SecumailError(f"cannot read {PACKAGE} config in {confdir(config_dir)}: {exc}") from None


__all__ = [
    "Settings",
    "confdir",
    "default_package",
    "ensure_config",
    "load_settings",
    "open_uci",
    "read_package",
    "uci_module",
]
