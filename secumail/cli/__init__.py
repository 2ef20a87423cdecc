"""mailctl: the shell interface of secumail (and, with --json, of the LuCI rpcd plugin).

Exit codes: 0 ok, 1 the operation failed, 2 bad input or usage. Every failure
is one line on stderr; a traceback only with --debug.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from secumail import __version__
from secumail.cli.base import Context, Failed, Parser, UsageError, emit
from secumail.errors import SecumailError

# Command groups, in the order `mailctl --help` lists them. Each module's
# register() adds its commands; modules import heavy code only inside handlers.
COMMAND_MODULES = ("setup", "server", "accounts", "queue", "certs", "dns", "reports", "mesh", "webmail", "relay",
                   "imports", "config", "image", "agent_jobs", "rpc")


def build_parser() -> Parser:
    import importlib

    parser = Parser(
        prog="mailctl",
        description="Manage the secumail mail server (Postfix + Dovecot in LXC) on this router.",
        epilog="Configuration lives in /etc/config/mailserver (UCI). '--json' prints one JSON document.",
    )
    parser.add_argument("--json", action="store_true", help="print the result as one JSON document")
    parser.add_argument("--confdir", metavar="DIR", help="UCI config directory (default /etc/config)")
    parser.add_argument("--debug", action="store_true", help="show tracebacks and debug logging")
    parser.add_argument("--version", action="version", version=f"mailctl {__version__}")
    sub = parser.add_subparsers(title="commands", metavar="COMMAND", parser_class=Parser)
    for name in COMMAND_MODULES:
        importlib.import_module(f"secumail.cli.{name}").register(sub)
    return parser


def _hoist_global_flags(argv: list[str]) -> list[str]:
    """Accept --json/--debug/--confdir anywhere (`mailctl status --json`), as users type them."""
    front: list[str] = []
    rest: list[str] = []
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg == "--":
            rest.extend(argv[i:])
            break
        if arg in ("--json", "--debug"):
            front.append(arg)
        elif arg == "--confdir" and i + 1 < len(argv):
            front.extend(argv[i : i + 2])
            i += 1
        elif arg.startswith("--confdir="):
            front.append(arg)
        else:
            rest.append(arg)
        i += 1
    return front + rest


def main(argv: Sequence[str] | None = None) -> int:
    from secumail.system.files import tighten_umask

    tighten_umask()
    from secumail.cli.imports import default_command

    args_list = default_command(_hoist_global_flags(list(sys.argv[1:] if argv is None else argv)))
    debug = "--debug" in args_list
    ctx = Context(json="--json" in args_list, debug=debug)
    try:
        parser = build_parser()
        args = parser.parse_args(args_list)
        ctx.confdir = args.confdir
        from secumail.system.log import setup_logging

        setup_logging("mailctl", debug=args.debug, stderr=True, tool=True)
        handler = getattr(args, "handler", None)
        if handler is None:
            group_parser = getattr(args, "group_parser", None)
            if group_parser is None:
                if any(arg not in ("--json", "--debug") for arg in args_list):
                    raise UsageError("mailctl: no command given (see 'mailctl --help')")
                parser.print_help()
                return 0
            raise UsageError(f"{group_parser.prog}: no command given (see '{group_parser.prog} --help')")
        data = handler(ctx, args)
        if isinstance(data, Failed):
            emit(ctx, data.data, args.text)
            return data.code
        emit(ctx, data, args.text)
        return 0
    except SecumailError as exc:
        _fail(ctx, str(exc), exc.exit_code)
        return exc.exit_code
    except KeyboardInterrupt:
        _fail(ctx, "interrupted", 130)
        return 130
    except BrokenPipeError:
        return 1
    except Exception as exc:  # a bug: still one line, unless the user asked for the traceback
        if debug:
            raise
        _fail(ctx, f"internal error: {type(exc).__name__}: {exc} (run with --debug for details)", 1)
        return 1


def _fail(ctx: Context, message: str, code: int) -> None:
    if not message.startswith("mailctl"):
        message = f"mailctl: {message}"
    sys.stderr.write(message + "\n")
    if ctx.json:
        import json

        sys.stdout.write(json.dumps({"error": message, "code": code}) + "\n")


def run() -> None:
    """Console entry point."""
    sys.exit(main())


__all__ = ["build_parser", "main", "run"]
