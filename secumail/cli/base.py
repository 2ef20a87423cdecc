"""What every mailctl command shares: the context, one-line errors, output.

Handlers are `handler(ctx, args) -> data`: they return JSON-ready data and
raise SecumailError on failure. Most commands are `operation(...)`: the handler
runs an operation of the appliance's table with the parsed options. `--json` prints the data as one document;
otherwise the command's `text` function (or a generic one) formats it.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any, Callable, NoReturn

from secumail.appliance.operations import OPERATIONS, Call, Reported
from secumail.errors import InputError

Handler = Callable[["Context", argparse.Namespace], Any]
TextFormatter = Callable[[Any], str]


class UsageError(InputError):
    """Bad command line: unknown command, missing or malformed argument."""


class Parser(argparse.ArgumentParser):
    """argparse that fails with one line (and exit 2 via UsageError) instead of usage text."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{self.prog}: {message} (see '{self.prog} --help')")


class Context(Call):
    """A command's call: the appliance's Call (settings loaded on first use, so --help never reads config)
    plus how mailctl prints."""

    def __init__(self, confdir: str | None = None, json: bool = False, debug: bool = False) -> None:
        super().__init__(confdir, debug=debug, progress=_stderr_line, warn=_warning)
        self.json = json


def _stderr_line(line: str) -> None:
    """Progress lines for long commands: on stderr, so stdout stays one JSON document with --json."""
    sys.stderr.write(f"mailctl: {line}\n")
    sys.stderr.flush()


def _warning(line: str) -> None:
    """One warning line on stderr (stdout stays the result, one JSON document with --json)."""
    _stderr_line(f"warning: {line}")


def command(
    sub: argparse._SubParsersAction,
    name: str,
    handler: Handler,
    help_text: str,
    text: TextFormatter | None = None,
    **kwargs: Any,
) -> Parser:
    """Add a sub-command whose parse result carries its handler and formatter."""
    parser = sub.add_parser(name, help=help_text, description=help_text, **kwargs)
    parser.set_defaults(handler=handler, text=text)
    return parser


def group(sub: argparse._SubParsersAction, name: str, help_text: str) -> argparse._SubParsersAction:
    """A command with sub-commands of its own (`mailctl user add ...`)."""
    parser = sub.add_parser(name, help=help_text, description=help_text)
    parser.set_defaults(handler=None, group_parser=parser)
    return parser.add_subparsers(title="commands", metavar="COMMAND", parser_class=Parser)


def generic_text(data: Any) -> str:
    """Plain text for data without a formatter of its own."""
    if data is None:
        return ""
    if isinstance(data, str):
        return data
    if isinstance(data, dict):
        width = max((len(str(key)) for key in data), default=0)
        lines = []
        for key, value in data.items():
            if isinstance(value, (dict, list)):
                value = json.dumps(value, sort_keys=False)
            lines.append(f"{str(key) + ':':<{width + 1}} {value}")
        return "\n".join(lines)
    if isinstance(data, list):
        return "\n".join(generic_text(item) if isinstance(item, dict) else str(item) for item in data)
    return str(data)


def table(rows: list[dict[str, Any]], columns: list[str]) -> str:
    """A left-aligned text table; an empty list prints '(none)'."""
    if not rows:
        return "(none)"
    cells = [[str(row.get(col, "")) for col in columns] for row in rows]
    widths = [max(len(col), *(len(r[i]) for r in cells)) for i, col in enumerate(columns)]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    out = [fmt.format(*[c.upper() for c in columns]).rstrip()]
    out.extend(fmt.format(*r).rstrip() for r in cells)
    return "\n".join(out)


# A handler result printed like any other, after which mailctl exits `code` (dns-check found errors).
Failed = Reported

Secrets = Callable[[Context, argparse.Namespace], "dict[str, Any]"]
After = Callable[[Context, Any], Any]


def operation(sub: argparse._SubParsersAction, name: str, op_name: str, help_text: str,
              text: TextFormatter | None = None, *, secrets: Secrets | None = None, after: After | None = None,
              **kwargs: Any) -> Parser:
    """A sub-command that runs operation `op_name` (secumail.appliance.operations): its arguments are the
    parsed options of the same names; `secrets(ctx, args)` supplies the ones read from a prompt or stdin."""
    op = OPERATIONS[op_name]

    def handler(ctx: Context, args: argparse.Namespace) -> Any:
        values = {key: getattr(args, key) for key in op.args if getattr(args, key, None) is not None}
        if secrets is not None:
            values.update(secrets(ctx, args))
        data = op.run(ctx, values)
        return after(ctx, data) if after is not None else data

    parser = command(sub, name, handler, help_text, text=text, **kwargs)
    parser.set_defaults(operation=op_name)
    return parser


def emit(ctx: Context, data: Any, text: TextFormatter | None) -> None:
    if ctx.json:
        sys.stdout.write(json.dumps(data if data is not None else {"result": "ok"}, default=str) + "\n")
        return
    rendered = (text or generic_text)(data)
    if rendered:
        sys.stdout.write(rendered.rstrip("\n") + "\n")


def read_password(args: argparse.Namespace, prompt: str = "Password", *, confirm: bool = True) -> str:
    """From stdin with --password-stdin, else an interactive prompt (typed twice for a new one: `confirm`);
    never argv."""
    if getattr(args, "password_stdin", False):
        line = sys.stdin.readline()
        password = line.rstrip("\r\n")
    else:
        if not sys.stdin.isatty():
            raise UsageError("no terminal to ask for a password: use --password-stdin")
        import getpass

        password = getpass.getpass(f"{prompt}: ")
        if confirm and getpass.getpass(f"{prompt} (again): ") != password:
            raise InputError("the two passwords differ; nothing was changed")
    if not password:
        raise InputError("empty password; nothing was changed")
    if len(password) > 1024 or "\0" in password:
        raise InputError("the password is too long or holds a NUL byte")
    return password
