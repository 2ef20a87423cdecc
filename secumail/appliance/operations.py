"""The operations table: every thing the appliance does, once.

An operation is a name, a function `fn(call, **typed arguments)`, the schema
of those arguments, whether it changes the server (write) and, for long work,
the name of the secumaild job that runs it. mailctl's commands, secumaild's
jobs and the LuCI rpcd methods all come from this table (in the spirit of
foris-controller's module = handler + schema), and the LuCI ACL is checked
against it. Functions are named as "module:attribute" and imported only when
an operation runs, so reading the table stays cheap (`mailctl status` is polled).

A function returns JSON-ready data, or `Reported(data)` when it ran but found
problems (dns-check drift): mailctl prints the data and exits 1, a job fails
with the data as its result. It raises SecumailError on failure.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import importlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable

from secumail.appliance.schema import (
    ADDRESS,
    APP_NAME,
    DOMAIN,
    DURATION,
    FOLDER,
    HOST,
    HOSTPORT,
    IMAP_URL,
    LOGIN,
    PATH,
    PEER,
    QUEUE_ID,
    RELAY_NAME,
    SCOPES,
    SIZE,
    SOURCE,
    TOKEN,
    Arg,
    check_args,
)

if TYPE_CHECKING:
    from secumail.config.settings import Settings


@dataclass
class Reported:
    """The operation ran and its data says something is wrong: shown like any result, then exit `code`."""

    data: Any
    code: int = 1
    message: str | None = None  # the job's error line (default: "<job> reported problems")


class Call:
    """What an operation gets besides its arguments: the settings (loaded on first use, so a command that
    needs none never reads them), where they came from, and where progress and warnings go."""

    def __init__(self, confdir: str | None = None, *, debug: bool = False,
                 progress: Callable[[str], None] | None = None, warn: Callable[[str], None] | None = None) -> None:
        self.confdir = confdir
        self.debug = debug
        self._progress = progress
        self._warn = warn
        self._settings: Settings | None = None

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            from secumail.config import load_settings

            self._settings = load_settings(self.confdir)
        return self._settings

    def reload(self) -> None:
        """Forget the settings: the operation changed UCI."""
        self._settings = None

    def progress(self, line: str, percent: int | None = None) -> None:
        """A line saying how far the operation is (`percent` for callers that draw a bar: secumaild's jobs)."""
        if self._progress is not None:
            self._progress(line)

    def warn(self, line: str | None) -> None:
        if line and self._warn is not None:
            self._warn(line)


@dataclass(frozen=True)
class Operation:
    name: str
    function: str  # "module:attribute" below secumail.appliance
    args: dict[str, Arg] = field(default_factory=dict)
    write: bool = False
    job: str | None = None  # the secumaild job that runs it: LuCI starts it rather than waiting
    read_when: tuple[str, Any] | None = None  # a write operation that only reads with this argument

    def writes(self, args: dict[str, Any]) -> bool:
        """Whether a call with `args` changes the server (dns-setup with dry_run only reads)."""
        if self.read_when is not None and args.get(self.read_when[0]) == self.read_when[1]:
            return False
        return self.write

    def secret(self) -> str | None:
        """The argument that only ever comes on stdin, if any."""
        return next((name for name, arg in self.args.items() if arg.secret), None)

    def check(self, raw: dict[str, Any]) -> dict[str, Any]:
        return check_args(self.args, raw)

    def run(self, call: Call, values: dict[str, Any]) -> Any:
        """Call the function with every argument (defaults for those not given)."""
        kwargs = {name: values.get(name, arg.default) for name, arg in self.args.items()}
        module, _, attr = self.function.partition(":")
        function = getattr(importlib.import_module(f"secumail.appliance.{module}"), attr)
        return function(call, **kwargs)


def _op(name: str, function: str, args: dict[str, Arg] | None = None, *, write: bool = False,
        job: str | None = None, read_when: tuple[str, Any] | None = None) -> Operation:
    return Operation(name, function, dict(args or {}), write, job, read_when)


FLAG = Arg("bool", default=False)
OPT_DOMAIN = Arg("string", pattern=DOMAIN, what="domain name")
NODE_ID = Arg("string", required=True, pattern=TOKEN, what="node id")
RECOVERY_KEY = Arg("string", secret=True, what="recovery key")
APP_NAME_ARG = Arg("string", required=True, pattern=APP_NAME, what="app password name (letters, digits, . _ -)")

IMPORT_NAME = Arg("string", pattern=RELAY_NAME, what="import name (letters, digits, '_')")
IMPORT_ARGS = {
    "user": Arg("string", required=True, pattern=ADDRESS, what="e-mail address"),
    "source": Arg("string", required=True, pattern=IMAP_URL, what="IMAP URL (imaps://LOGIN@HOST[:PORT])"),
    "folders": Arg("array", pattern=FOLDER, what="folder name or pattern", spaces=True),
    "exclude": Arg("array", pattern=FOLDER, what="folder name or pattern", spaces=True),
    "ca_file": Arg("string", pattern=PATH, what="file"),
    "insecure": FLAG,
    "name": IMPORT_NAME,
    "password": Arg("string", required=True, secret=True, what="password"),
}

_TABLE = (
    # the server as a whole
    _op("install", "server:install", write=True, job="install"),
    _op("start", "server:start", write=True, job="start"),
    _op("stop", "server:stop", write=True, job="stop"),
    _op("restart", "server:restart", write=True),
    _op("update", "server:update", {"image": Arg("string", pattern=PATH, what="file"), "rollback": FLAG},
        write=True, job="update"),
    _op("configure", "server:configure", write=True, job="configure"),
    _op("status", "server:status"),
    _op("diagnose", "server:diagnose"),
    _op("metrics", "server:metrics", {"textfile": Arg("string", pattern=PATH, what="file")}, write=True,
        read_when=("textfile", None)),
    _op("charts", "server:charts"),
    _op("logs", "server:logs", {"lines": Arg("int", low=1, high=100000, default=50)}),
    _op("test", "server:send_test", {"address": Arg("string", required=True, pattern=ADDRESS, what="e-mail address"),
                                     "wait": Arg("number", low=0, high=600, default=20.0)}, write=True),
    _op("image.export", "server:image_export", {"file": Arg("string", required=True, pattern=PATH, what="file")},
        write=True),
    _op("image.build", "server:image_build", {"file": Arg("string", required=True, pattern=PATH, what="file"),
                                             "arch": Arg("string", pattern=TOKEN, what="architecture")}, write=True),
    _op("image.import", "server:image_import", {"file": Arg("string", required=True, pattern=PATH, what="file")},
        write=True),
    # the webmail container (Roundcube, docs/webmail.md)
    _op("webmail.install", "webmailops:install", write=True),
    _op("webmail.configure", "webmailops:configure", write=True),
    _op("webmail.status", "webmailops:status",
        {"user": Arg("string", pattern=ADDRESS, what="e-mail address"),
         "password": Arg("string", secret=True, what="password")}),
    _op("webmail.remove", "webmailops:remove", {"purge": FLAG}, write=True),
    # the Postfix queue
    _op("queue.list", "server:queue_list"),
    _op("queue.flush", "server:queue_flush", write=True),
    _op("queue.delete", "server:queue_delete",
        {"queue_id": Arg("string", required=True, pattern=QUEUE_ID, what="queue id")},
        write=True),
    _op("queue.delete-all", "server:queue_delete_all", write=True),
    # accounts
    _op("domain.add", "accounts:domain_add", {"domain": Arg("string", required=True, pattern=DOMAIN,
                                                            what="domain name")}, write=True, job="domain-add"),
    _op("domain.del", "accounts:domain_del", {"domain": Arg("string", required=True, pattern=DOMAIN,
                                                            what="domain name"), "force": FLAG},
        write=True, job="domain-del"),
    _op("domain.list", "accounts:domain_list"),
    _op("user.add", "accounts:user_add",
        {"address": Arg("string", required=True, pattern=ADDRESS, what="e-mail address"),
         "password": Arg("string", required=True, secret=True, what="password"),
         "quota": Arg("string", pattern=SIZE, what="size (like 500M or 2G)")}, write=True),
    _op("user.del", "accounts:user_del",
        {"address": Arg("string", required=True, pattern=ADDRESS, what="e-mail address"), "purge": FLAG}, write=True),
    _op("user.list", "accounts:user_list"),
    _op("user.passwd", "accounts:user_passwd",
        {"address": Arg("string", required=True, pattern=ADDRESS, what="e-mail address"),
         "password": Arg("string", required=True, secret=True, what="password")}, write=True),
    _op("user.quota", "accounts:user_quota",
        {"address": Arg("string", required=True, pattern=ADDRESS, what="e-mail address"),
         "size": Arg("string", required=True, pattern=SIZE, what="size (like 500M or 2G)")}, write=True),
    # app passwords (docs/clients.md): the token is in the add result only
    _op("user.app-password.add", "accounts:app_password_add",
        {"address": Arg("string", required=True, pattern=ADDRESS, what="e-mail address"),
         "name": APP_NAME_ARG,
         "scope": Arg("string", pattern=SCOPES, what="scopes (imap,smtp,dav)")}, write=True),
    _op("user.app-password.list", "accounts:app_password_list",
        {"address": Arg("string", pattern=ADDRESS, what="e-mail address")}),
    _op("user.app-password.del", "accounts:app_password_del",
        {"address": Arg("string", required=True, pattern=ADDRESS, what="e-mail address"), "name": APP_NAME_ARG},
        write=True),
    _op("user.profile", "accounts:user_profile",
        {"address": Arg("string", required=True, pattern=ADDRESS, what="e-mail address"),
         "app_password": Arg("string", pattern=APP_NAME, what="app password name (letters, digits, . _ -)"),
         "file": Arg("string", pattern=PATH, what="file")},
        write=True, read_when=("app_password", None)),
    _op("alias.add", "accounts:alias_add",
        {"source": Arg("string", required=True, pattern=SOURCE, what="alias address (or @domain)"),
         "destinations": Arg("array", required=True, pattern=ADDRESS, what="e-mail address")}, write=True),
    _op("alias.del", "accounts:alias_del",
        {"source": Arg("string", required=True, pattern=SOURCE, what="alias address (or @domain)")}, write=True),
    _op("alias.list", "accounts:alias_list"),
    # certificates
    _op("ssl-setup", "certificates:ssl_setup", {"force": FLAG, "staging": FLAG, "no_reload": FLAG},
        write=True, job="ssl-setup"),
    _op("ssl-status", "certificates:ssl_status"),
    _op("ssl-renew", "certificates:ssl_renew", write=True, job="ssl-renew"),
    # DNS records
    _op("dns-setup", "records:dns_setup", {"domain": OPT_DOMAIN, "dry_run": FLAG, "force": FLAG},
        write=True, job="dns-setup", read_when=("dry_run", True)),
    _op("dns-check", "records:dns_check", {"domain": OPT_DOMAIN}, job="dns-check"),
    # DMARC aggregate and TLS-RPT reports received at the rua addresses (docs/reports.md)
    _op("reports", "reports:reports", {"days": Arg("int", low=1, high=366, default=30)}),
    # mesh backup
    _op("mesh.backup", "backups:backup", {"file": Arg("string", pattern=PATH, what="file")}, write=True,
        job="backup"),
    _op("mesh.restore", "backups:restore",
        {"source": Arg("string", pattern=PATH, what="snapshot or file"),
         "from_node": Arg("string", pattern=TOKEN, what="node id"),
         "target": Arg("string", pattern=PATH, what="directory"), "recovery_key": RECOVERY_KEY},
        write=True, job="restore"),
    _op("mesh.sync", "backups:sync",
        {"direction": Arg("string", choices=("push", "pull"), what="direction", default="push"),
         "peer": Arg("string", pattern=TOKEN, what="node id"), "bwlimit": Arg("int", low=1, high=10**7)},
        write=True, job="sync"),
    _op("mesh.add-peer", "backups:add_peer",
        {"node_id": NODE_ID, "address": Arg("string", pattern=HOSTPORT, what="HOST[:PORT]")}, write=True),
    _op("mesh.remove-peer", "backups:remove_peer", {"node_id": NODE_ID}, write=True),
    _op("mesh.peers", "backups:peers"),
    _op("mesh.id", "backups:node_id"),
    _op("mesh.snapshots", "backups:snapshots"),
    _op("mesh.discovered", "backups:discovered"),
    _op("mesh.verify", "backups:verify",
        {"from_node": Arg("string", pattern=TOKEN, what="node id"), "recovery_key": RECOVERY_KEY}),
    _op("mesh.prune", "backups:prune", {"dry_run": FLAG}, write=True, read_when=("dry_run", True)),
    _op("mesh.key.export", "backups:key_export", write=True),
    _op("mesh.recover", "backups:recover",
        {"peers": Arg("array", required=True, pattern=PEER, what="NODE_ID@HOST[:PORT]"),
         "recovery_key": Arg("string", required=True, secret=True, what="recovery key")}, write=True),
    _op("mesh.enable", "backups:enable", write=True),
    _op("mesh.disable", "backups:disable", write=True),
    # smarthosts (config relay; the password only on stdin, kept in data_path/relay)
    _op("relay.add", "relays:add",
        {"name": Arg("string", required=True, pattern=RELAY_NAME, what="relay name (letters, digits, '_')"),
         "host": Arg("string", required=True, pattern=HOST, what="host name or IP address"),
         "port": Arg("int", low=1, high=65535),
         "tls": Arg("string", choices=("starttls", "tls"), what="TLS mode", default="starttls"),
         "user": Arg("string", required=True, pattern=LOGIN, what="login (no spaces, no ':')"),
         "sender_domain": Arg("array", pattern=DOMAIN, what="domain name"),
         "no_verify": FLAG,
         "password": Arg("string", required=True, secret=True, what="password")}, write=True),
    _op("relay.del", "relays:delete", {"name": Arg("string", required=True, pattern=RELAY_NAME, what="relay name")},
        write=True),
    _op("relay.list", "relays:list_"),
    _op("relay.test", "relays:test", {"name": Arg("string", pattern=RELAY_NAME, what="relay name"),
                                      "timeout": Arg("number", low=1, high=60, default=10.0)}),
    # IMAP import and sync jobs (config import; a job's password kept in data_path/import, never in UCI)
    _op("import.run", "imports:run", IMPORT_ARGS, write=True, job="import"),
    _op("import.add", "imports:add",
        {**{k: v for k, v in IMPORT_ARGS.items() if k in ("user", "source")},
         "every": Arg("string", required=True, pattern=DURATION, what="interval (like 15m, 1h)"),
         **{k: v for k, v in IMPORT_ARGS.items() if k not in ("user", "source")}}, write=True),
    _op("import.list", "imports:list_"),
    _op("import.show", "imports:show", {"name": Arg("string", required=True, pattern=RELAY_NAME,
                                                    what="import name")}),
    _op("import.del", "imports:delete", {"name": Arg("string", required=True, pattern=RELAY_NAME,
                                                     what="import name")}, write=True),
    # the first-run setup (docs/setup.md): one operation per step, its progress in DataLayout.setup_state
    _op("setup.status", "setup:status"),
    _op("setup.reset", "setup:reset", write=True),
    _op("setup.identity", "setup:identity",
        {"domain": Arg("string", required=True, pattern=DOMAIN, what="domain name"),
         "hostname": Arg("string", pattern=DOMAIN, what="host name", default="mail")}, write=True),
    _op("setup.dns", "setup:dns",
        {"provider": Arg("string", required=True, pattern=TOKEN, what="DNS provider"),
         "server": Arg("string", pattern=HOSTPORT, what="server (HOST[:PORT] or URL)"),
         "zone": OPT_DOMAIN,
         "credentials": Arg("string", secret=True, what="credentials (KEY=VALUE words)")}, write=True),
    _op("setup.plan", "setup:plan", write=True),
    _op("setup.records", "setup:records", write=True, job="setup-records"),
    _op("setup.install", "setup:install", write=True, job="setup-install"),
    _op("setup.certificate", "setup:certificate",
        {"type": Arg("string", pattern=TOKEN, what="certificate source"),
         "directory": Arg("string", pattern=PATH, what="ACME directory URL"),
         "ca_bundle": Arg("string", pattern=PATH, what="file"),
         "email": Arg("string", pattern=ADDRESS, what="e-mail address")}, write=True, job="setup-certificate"),
    _op("setup.mailbox", "setup:mailbox",
        {"address": Arg("string", required=True, pattern=ADDRESS, what="e-mail address"),
         "password": Arg("string", required=True, secret=True, what="password"),
         "quota": Arg("string", pattern=SIZE, what="size (like 500M or 2G)")}, write=True),
    _op("setup.finish", "setup:finish", {"address": Arg("string", pattern=ADDRESS, what="e-mail address")},
        write=True),
    # UCI
    _op("config.get", "uciconfig:get", {"path": Arg("string", required=True, pattern=PATH, what="path")}),
    _op("config.set", "uciconfig:set_",
        {"path": Arg("string", required=True, pattern=PATH, what="path"), "value": Arg("array", what="value")},
        write=True),
    _op("config.show", "uciconfig:show", {"path": Arg("string", pattern=PATH, what="path", default="mailserver")}),
)

OPERATIONS: dict[str, Operation] = {op.name: op for op in _TABLE}
JOBS: dict[str, Operation] = {op.job: op for op in _TABLE if op.job}


def get(name: str) -> Operation:
    return OPERATIONS[name]


def plain(value: Any) -> Any:
    """JSON-ready form of a result: dataclasses, datetimes and tuples become dicts, strings and lists."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, (dt.datetime, dt.date)):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return value
