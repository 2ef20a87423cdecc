import io
import os
import sys

import pytest

from secumail.cli import main
from tests.clirun import CliResult


@pytest.fixture
def confdir(tmp_path, monkeypatch):
    """An isolated config dir and UCI save dir, data_path inside tmp."""
    conf = tmp_path / "config"
    conf.mkdir()
    (conf / "mailserver").write_text(
        f"\nconfig mailserver 'main'\n\toption domain 'example.org'\n\toption data_path '{tmp_path / 'data'}'\n"
        f"\nconfig container 'container'\n\toption lxc_path '{tmp_path / 'lxc'}'\n"
    )
    monkeypatch.setenv("SECUMAIL_CONFDIR", str(conf))
    monkeypatch.setenv("SECUMAIL_SAVEDIR", str(tmp_path / "save"))
    return conf


@pytest.fixture
def cli(capsys, monkeypatch):
    def run(*args, stdin=None):
        if stdin is not None:
            monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
        code = main(list(args))
        captured = capsys.readouterr()
        return CliResult(code, captured.out, captured.err)

    return run


@pytest.fixture
def subprocess_cli(confdir):
    import subprocess

    def run(*args, stdin=""):
        env = dict(os.environ)
        proc = subprocess.run(
            [sys.executable, "-m", "secumail.cli", *args],
            input=stdin, capture_output=True, text=True, env=env, timeout=30,
        )  # fmt: skip
        return CliResult(proc.returncode, proc.stdout, proc.stderr)

    return run
