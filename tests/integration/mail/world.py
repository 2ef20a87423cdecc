"""The mail tests' world: names, addresses and accounts of the session container (conftest.py)."""

from __future__ import annotations

import dataclasses

DATA = "/var/tmp/secumail-mail-test/data"
NAME, BRIDGE = "smmail", "smmail0"
PASSWORDS = {"alice@example.org": "alice-secret", "bob@example.org": "bob-secret",
             "carol@example.net": "carol-secret", "tiny@example.org": "tiny-secret"}


@dataclasses.dataclass
class MailWorld:
    lxc: object
    settings: object

    @property
    def ip(self) -> str:
        return self.lxc.ip

    @property
    def data(self) -> str:
        return self.settings.main.data_path

    def exec(self, args):
        return self.lxc.container.exec(args)
