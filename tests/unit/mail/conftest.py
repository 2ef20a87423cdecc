import io
import sys

import pytest

from secumail.cli import main
from tests.clirun import CliResult
from tests.support.settings import mail_settings as make_settings


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
