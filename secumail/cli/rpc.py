"""mailctl rpc list|call METHOD: the ubus methods of luci.mailserver, answered for the rpcd plugin.

The plugin (luci-app/root/usr/libexec/rpcd/luci.mailserver) is a shim: `list`
and `call METHOD` (arguments as one JSON object on stdin) are passed through
to these commands, which print exactly the ubus reply. Every method is an
operation of the appliance's table (secumail.appliance.operations): its
arguments and their checks, its read/write class (the LuCI ACL is checked
against it) and whether it is long work, started as a secumaild job and
polled with jobShow so no call holds rpcd for long. Only jobShow and jobList
are not operations: they ask secumaild about its jobs.

A reply is one JSON object: the result (a list comes as {"result": [...]}),
a result that reports problems gets "failed": true, and a failure is
{"error": "one line", "code": 2 for bad input, 1 otherwise}. A secret
(password) arrives in the stdin JSON and never reaches any argv.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from dataclasses import dataclass, field
from typing import Any

from secumail.appliance.operations import OPERATIONS, Operation, Reported
from secumail.appliance.schema import SNAPSHOT, TOKEN, Arg, Invalid, check_args
from secumail.cli.base import Context, command, group
from secumail.errors import InputError, SecumailError


@dataclass(frozen=True)
class Method:
    """One ubus method: the operation(s) it runs and how its arguments map onto the operation's."""

    operation: str | None  # None: pick by `select`; jobShow/jobList have neither
    expose: tuple[str, ...] | None = None  # operation arguments offered (default: all)
    fixed: dict[str, Any] = field(default_factory=dict)  # set by the method itself (dnsPlan: dry_run)
    rename: dict[str, str] = field(default_factory=dict)  # method argument → operation argument
    override: dict[str, Arg] = field(default_factory=dict)  # a narrower check for LuCI
    select: tuple[str, tuple[str, ...]] | None = None  # (argument, operations it chooses between)
    write: bool = False  # the ACL class of a method that is no operation (agentStart)

    def operations(self) -> list[Operation]:
        names = self.select[1] if self.select else [self.operation] if self.operation else []
        return [OPERATIONS[name] for name in names]

    def args(self) -> dict[str, Arg]:
        if self.select:
            return {self.select[0]: Arg("string", required=True, choices=self.select[1], what=self.select[0])}
        if self.operation is None:
            return dict(self.override)
        op = OPERATIONS[self.operation]
        back = {inner: outer for outer, inner in self.rename.items()}
        names = self.expose if self.expose is not None else tuple(n for n in op.args if n not in self.fixed)
        return {back.get(name, name): self.override.get(back.get(name, name), op.args[name]) for name in names}

    def writes(self) -> bool:
        """The ACL class: write when any operation it may run changes the server with the fixed arguments."""
        if self.operation is None and not self.select:
            return self.write
        return any(op.writes(self.fixed) for op in self.operations())


_PICK = ("start", "stop")
_DIRECTION = Arg("string", required=True, choices=("push", "pull"), what="direction")
METHODS: dict[str, Method] = {
    # status and logs
    "getStatus": Method("status"),
    "getDiagnosis": Method("diagnose"),
    "getCharts": Method("charts"),
    "getLogs": Method("logs", override={"lines": Arg("int", low=1, high=2000, default=100)}),
    "getQueue": Method("queue.list"),
    # secumaild's start/stop jobs also set main.enabled, so the reconcile loop does not undo the button
    "serviceAction": Method(None, select=("action", _PICK)),
    "install": Method("install"),
    "applyConfig": Method("configure"),
    # accounts (a domain change re-renders and reloads the mail config: a job)
    "listDomains": Method("domain.list"),
    "listUsers": Method("user.list"),
    "listAliases": Method("alias.list"),
    "domainAdd": Method("domain.add"),
    "domainDel": Method("domain.del"),
    "userAdd": Method("user.add"),
    "userDel": Method("user.del"),
    "userPasswd": Method("user.passwd"),
    "userQuota": Method("user.quota"),
    "listAppPasswords": Method("user.app-password.list"),
    "appPasswordDel": Method("user.app-password.del"),
    "aliasAdd": Method("alias.add"),
    "aliasDel": Method("alias.del"),
    # queue
    "queueFlush": Method("queue.flush"),
    "queueDelete": Method("queue.delete"),
    "queueDeleteAll": Method("queue.delete-all"),
    # DNS: the plan and the check read the provider and the DNS servers, so they are jobs too
    "dnsPlan": Method("dns-setup", expose=("domain",), fixed={"dry_run": True}),
    "dnsCheck": Method("dns-check"),
    "dnsApply": Method("dns-setup", expose=("domain", "force"), fixed={"dry_run": False}),
    "getReports": Method("reports"),
    # certificates
    "getCertStatus": Method("ssl-status"),
    "certIssue": Method("ssl-setup", expose=("force", "staging")),
    "certRenew": Method("ssl-renew"),
    # mesh backup
    "getNodeId": Method("mesh.id"),
    "listPeers": Method("mesh.peers"),
    "listDiscovered": Method("mesh.discovered"),
    "listSnapshots": Method("mesh.snapshots"),
    "meshAddPeer": Method("mesh.add-peer"),
    "meshRemovePeer": Method("mesh.remove-peer"),
    "meshBackup": Method("mesh.backup", expose=()),
    "meshSync": Method("mesh.sync", expose=("direction", "peer"), override={"direction": _DIRECTION}),
    "meshRestore": Method("mesh.restore", expose=("source",), rename={"snapshot": "source"},
                          override={"snapshot": Arg("string", required=True, pattern=SNAPSHOT, what="snapshot id")}),
    # smarthosts (the password arrives in the stdin JSON, never in argv or a job's arguments)
    "listRelays": Method("relay.list"),
    "relayAdd": Method("relay.add"),
    "relayDel": Method("relay.del"),
    "relayTest": Method("relay.test", expose=("name",)),
    # IMAP import (the old server's password arrives in the stdin JSON; a run is the secumaild job `import`)
    "listImports": Method("import.list"),
    "importShow": Method("import.show"),
    "importRun": Method("import.run"),
    "importAdd": Method("import.add"),
    "importDel": Method("import.del"),
    # the first-run wizard (view/mailserver/setup.js); install, records and certificate are jobs it follows
    "setupStatus": Method("setup.status"),
    "setupReset": Method("setup.reset"),
    "setupIdentity": Method("setup.identity"),
    "setupDns": Method("setup.dns"),
    "setupPlan": Method("setup.plan"),
    "setupRecords": Method("setup.records"),
    "setupInstall": Method("setup.install"),
    "setupCertificate": Method("setup.certificate"),
    "setupMailbox": Method("setup.mailbox"),
    "setupFinish": Method("setup.finish"),
    # secumaild's jobs (long work)
    "jobShow": Method(None, override={"id": Arg("string", required=True, pattern=TOKEN, what="job id")}),
    "jobList": Method(None),
    # secumaild itself: Overview's "Start agent" button (procd's init script on OpenWrt)
    "agentStart": Method(None, write=True),
}


def signatures() -> dict[str, dict[str, Any]]:
    """What `list` prints: rpcd derives each argument's ubus type from its sample value."""
    return {name: {arg: spec.sample() for arg, spec in method.args().items()} for name, method in METHODS.items()}


def _reply(data: Any) -> dict[str, Any]:
    if isinstance(data, Reported):  # a result that says what failed (dns-check found wrong records)
        body = data.data if isinstance(data.data, dict) else {"result": data.data}
        return {**body, "failed": True}
    return data if isinstance(data, dict) else {"result": data}


def answer(ctx: Context, name: str, text: str) -> dict[str, Any]:
    """The ubus reply to `call name` with `text` (the call's JSON) on stdin."""
    method = METHODS.get(name)
    if method is None:
        return {"error": f"unknown method {name!r} of luci.mailserver", "code": 2}
    try:
        raw = _parse(text)
        raw.pop("ubus_rpc_session", None)
        values = check_args(method.args(), raw)
        return _no_shell_hints(_reply(_run(ctx, name, method, values)))
    except SecumailError as exc:
        return {"error": _one_line(str(exc)), "code": exc.exit_code}


# A shell hint ("(run 'mailctl mesh backup')", "(create it: mailctl user add …)", ": run 'mailctl start'"): the
# web UI offers buttons and pages, not commands, so its replies carry the reason alone.
_SHELL_HINT = re.compile(r"\s*\([^()]*(?:mailctl|/etc/init\.d)[^()]*\)|\s*[:;,]\s*(?:run|start it with) '.*$")


def _no_shell_hints(value: Any) -> Any:
    if isinstance(value, str):
        return _SHELL_HINT.sub("", value)
    if isinstance(value, dict):
        return {key: _no_shell_hints(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_no_shell_hints(item) for item in value]
    return value


def _one_line(message: str) -> str:
    lines = message.strip().splitlines()
    return _no_shell_hints((lines[0] if lines else "failed").removeprefix("mailctl: "))


def _parse(text: str) -> dict[str, Any]:
    if not text.strip():
        return {}
    try:
        data = json.loads(text)
    except ValueError as exc:
        where = f"line {exc.lineno} column {exc.colno}"
        raise Invalid(f"the call's input is not valid JSON ({exc.msg} at {where})") from None
    if not isinstance(data, dict):
        raise Invalid("the call's input must be a JSON object")
    return data


def _run(ctx: Context, name: str, method: Method, values: dict[str, Any]) -> Any:
    from secumail.daemon.client import call

    if name == "jobShow":
        job = call("jobs.show", {"id": values["id"]})
        return Reported(job) if isinstance(job, dict) and job.get("state") == "failed" else job
    if name == "jobList":
        return call("jobs.list")
    if name == "agentStart":
        from secumail.daemon.launcher import ensure_daemon_running

        return {"agent": "running", "pid": ensure_daemon_running(ctx.confdir).get("pid")}
    op_name = values.pop(method.select[0]) if method.select else method.operation
    op = OPERATIONS[str(op_name)]
    args = {method.rename.get(key, key): value for key, value in values.items()}
    args.update(method.fixed)
    defaults = {key: arg.default for key, arg in method.override.items() if arg.default is not None}
    args = {**{method.rename.get(k, k): v for k, v in defaults.items()}, **args}
    if op.job:
        params: dict[str, Any] = {"name": op.job, "args": args}
        secret = op.secret()
        if secret is not None and secret in args:
            params["stdin"] = args.pop(secret)  # the job reads it on stdin, never in its arguments
        return call("jobs.start", params)
    if op.name == "status":
        from secumail.cli.server import status_from_daemon

        data = status_from_daemon(ctx.confdir)
        if data is None:
            from secumail.daemon.launcher import daemon_info

            data = dict(op.run(ctx, args), agent={"running": daemon_info(timeout=1.0) is not None})
        return {"agent": {"running": True}, **data}
    return op.run(ctx, args)


def register(sub: argparse._SubParsersAction) -> None:
    cmds = group(sub, "rpc", "the LuCI rpcd plugin's ubus methods (luci.mailserver)")
    command(cmds, "list", lambda ctx, args: signatures(), "print every method with its arguments")
    p = command(cmds, "call", _call, "answer METHOD with its arguments as one JSON object on stdin")
    p.add_argument("method")


def _call(ctx: Context, args: argparse.Namespace) -> Any:
    if not ctx.json:
        raise InputError("mailctl rpc call: use --json (the reply is one JSON object)")
    return answer(ctx, args.method, sys.stdin.read())
