"""One mesh node for the unit tests: its own confdir, save dir and data_path, driven through mailctl
in-process."""

import io
import sys

from secumail.cli import main
from tests.support.maildir import copy_corpus


class Node:
    """One node: its own confdir, save dir and data_path, driven through mailctl."""

    def __init__(self, root, capsys, monkeypatch):
        self.root, self.capsys, self.monkeypatch = root, capsys, monkeypatch
        self.conf = root / "config"
        self.data = root / "data"
        self.conf.mkdir(parents=True)
        self.data.mkdir()
        (self.conf / "mailserver").write_text(
            f"\nconfig mailserver 'main'\n\toption domain 'example.org'\n\toption data_path '{self.data}'\n"
            "\nconfig backup 'backup'\n\toption keep_last '2'\n\toption keep_daily '0'\n"
            "\toption keep_weekly '0'\n\toption keep_monthly '0'\n"
        )

    def fill(self, messages=120, seed=1):
        copy_corpus(self.data, messages=messages, seed=seed)
        (self.data / "config").mkdir(exist_ok=True)
        (self.data / "config" / "users").write_text("alice@example.org:{BLF-CRYPT}$2y$05$abc\n")
        (self.data / "dkim").mkdir(exist_ok=True)
        key = self.data / "dkim" / "mail.private"
        key.write_text("-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIDKIMSECRET\n-----END PRIVATE KEY-----\n")
        key.chmod(0o600)

    def __call__(self, *args, stdin=None):
        self.monkeypatch.setenv("SECUMAIL_CONFDIR", str(self.conf))
        self.monkeypatch.setenv("SECUMAIL_SAVEDIR", str(self.root / "save"))
        if stdin is not None:
            self.monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
        code = main(list(args))
        out = self.capsys.readouterr()
        return code, out.out, out.err

    def ok(self, *args, stdin=None):
        import json

        code, out, err = self("--json", *args, stdin=stdin)
        assert code == 0, err
        return json.loads(out)
