import io
import os
import sys

import pytest

from secumail.cli import main
from tests.clirun import CliResult


@pytest.fixture
def data(tmp_path):
    return tmp_path / "data"


@pytest.fixture
def confdir(tmp_path, monkeypatch, data):
    """A UCI dir whose data_path is in tmp; DKIM keys 1024 bits to keep the tests fast."""
    conf = tmp_path / "uci"
    conf.mkdir()
    (conf / "mailserver").write_text(
        f"\nconfig mailserver 'main'\n\toption domain 'example.org'\n\toption data_path '{data}'\n"
        f"\nconfig dkim 'dkim'\n\toption key_bits '1024'\n"
        f"\nconfig container 'container'\n\toption lxc_path '{tmp_path / 'lxc'}'\n"
    )
    monkeypatch.setenv("SECUMAIL_CONFDIR", str(conf))
    monkeypatch.setenv("SECUMAIL_SAVEDIR", str(tmp_path / "save"))
    return conf


def make_settings(data, *, features=None, protection=None, **main):
    """Settings as `load_settings` would give them for the UCI file above, without the UCI backend;
    `features`/`protection` update those sections (UCI text values)."""
    from secumail.config.settings import default_package, settings_from_package

    package = default_package()
    package["main"].update({"domain": "example.org", "data_path": str(data), **main})
    package["features"].update(features or {})
    package["protection"].update(protection or {})
    package["dkim"].update({"key_bits": "1024"})
    # Never the host's /srv/lxc: a demo appliance running there must not receive the tests' reloads.
    package["container"].update({"lxc_path": os.path.join(os.path.dirname(str(data)), "lxc")})
    return settings_from_package(package)


@pytest.fixture
def settings(data):
    return make_settings(data)


@pytest.fixture
def cli(capsys, monkeypatch, confdir, settings):
    """mailctl in-process. Settings come from the package dict so these tests exercise the mail
    layer only; test_settings_from_a_real_uci_file covers the UCI path once."""
    import secumail.config

    monkeypatch.setattr(secumail.config, "load_settings", lambda *a, **k: settings)

    def run(*args, stdin=None):
        monkeypatch.setattr(sys, "stdin", io.StringIO(stdin if stdin is not None else ""))
        code = main(list(args))
        captured = capsys.readouterr()
        return CliResult(code, captured.out, captured.err)

    return run


def snapshot(directory):
    """Every file under `directory` with its bytes and mode: to prove a refused change changed nothing."""
    out = {}
    for root, _dirs, files in os.walk(directory):
        for name in files:
            if name == ".lock":
                continue
            path = os.path.join(root, name)
            with open(path, "rb") as handle:
                out[path] = (handle.read(), os.stat(path).st_mode)
    return out
