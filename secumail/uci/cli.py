"""The ``uci`` command line (OpenWrt's cli.c): same commands, output, errors and exit codes.

``main(argv)`` takes the arguments after the program name and returns the exit
status; stdout/stderr are written as bytes (arguments that are not UTF-8 arrive
as surrogate escapes and go out as the original bytes).
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Sequence
from typing import BinaryIO, Union

from . import errors as E
from . import ops
from .context import DEFAULT_CONF2DIR, DEFAULT_CONFDIR, UciContext
from .delta import quote
from .model import CMD_LIST_ADD, CMD_LIST_DEL, CMD_REMOVE, Option, Package, Section, to_bytes, to_str
from .writer import export_text

APPNAME = "uci"
OPTSTRING = "c:C:d:f:LmnNp:P:qsSt:X"

(CMD_GET, CMD_SET, CMD_ADD_LIST, CMD_DEL_LIST, CMD_DEL, CMD_RENAME, CMD_REVERT, CMD_REORDER,
 CMD_SHOW, CMD_CHANGES, CMD_EXPORT, CMD_COMMIT, CMD_ADD, CMD_IMPORT, CMD_HELP, CMD_BATCH) = range(16)

_COMMANDS = {
    "show": CMD_SHOW, "changes": CMD_CHANGES, "export": CMD_EXPORT, "commit": CMD_COMMIT,
    "get": CMD_GET, "set": CMD_SET, "ren": CMD_RENAME, "rename": CMD_RENAME, "revert": CMD_REVERT,
    "reorder": CMD_REORDER, "del": CMD_DEL, "delete": CMD_DEL, "import": CMD_IMPORT, "help": CMD_HELP,
    "add": CMD_ADD, "add_list": CMD_ADD_LIST, "del_list": CMD_DEL_LIST, "batch": CMD_BATCH,
}
_SECTION_CMDS = (CMD_ADD_LIST, CMD_DEL_LIST, CMD_GET, CMD_SET, CMD_DEL, CMD_RENAME, CMD_REVERT, CMD_REORDER)
_PACKAGE_CMDS = (CMD_SHOW, CMD_EXPORT, CMD_COMMIT, CMD_CHANGES)
_VALUE_CMDS = (CMD_SET, CMD_DEL, CMD_ADD_LIST, CMD_DEL_LIST, CMD_RENAME, CMD_REORDER)

USAGE = (
    "Usage: %s [<options>] <command> [<arguments>]\n\n"
    "Commands:\n"
    "\tbatch\n"
    "\texport     [<config>]\n"
    "\timport     [<config>]\n"
    "\tchanges    [<config>]\n"
    "\tcommit     [<config>]\n"
    "\tadd        <config> <section-type>\n"
    "\tadd_list   <config>.<section>.<option>=<string>\n"
    "\tdel_list   <config>.<section>.<option>=<string>\n"
    "\tshow       [<config>[.<section>[.<option>]]]\n"
    "\tget        <config>.<section>[.<option>]\n"
    "\tset        <config>.<section>[.<option>]=<value>\n"
    "\tdelete     <config>[.<section>[[.<option>][=<id>]]]\n"
    "\trename     <config>.<section>[.<option>]=<name>\n"
    "\trevert     <config>[.<section>[.<option>]]\n"
    "\treorder    <config>.<section>=<position>\n"
    "\n"
    "Options:\n"
    "\t-c <path>  set the search path for config files (default: " + DEFAULT_CONFDIR + ")\n"
    "\t-C <path>  set the search path for config override files (default: " + DEFAULT_CONF2DIR + ")\n"
    "\t-d <str>   set the delimiter for list values in uci show\n"
    "\t-f <file>  use <file> as input instead of stdin\n"
    "\t-m         when importing, merge data into an existing package\n"
    "\t-n         name unnamed sections on export (default)\n"
    "\t-N         don't name unnamed sections\n"
    "\t-p <path>  add a search path for config change files\n"
    "\t-P <path>  add a search path for config change files and use as default\n"
    "\t-t <path>  set save path for config change files\n"
    "\t-q         quiet mode (don't print error messages)\n"
    "\t-s         force strict mode (stop on parser errors, default)\n"
    "\t-S         disable strict mode\n"
    "\t-X         do not use extended syntax on 'show'\n"
    "\n"
)


class GetoptError(Exception):
    pass


def gnu_getopt(args: Sequence[str], optstring: str, prog: str) -> tuple:
    """glibc getopt with argument permutation: ([(flag, arg)], operands).

    Raises GetoptError carrying glibc's message for a bad option.
    """
    takes_arg = {c: optstring[i + 1:i + 2] == ":" for i, c in enumerate(optstring) if c != ":"}
    opts = []
    operands = []
    i = 0
    while i < len(args):
        arg = args[i]
        i += 1
        if arg == "--":
            operands.extend(args[i:])
            break
        if not arg.startswith("-") or arg == "-":
            operands.append(arg)
            continue
        j = 1
        while j < len(arg):
            flag = arg[j]
            j += 1
            if flag not in takes_arg:
                raise GetoptError(f"{prog}: invalid option -- '{flag}'\n")
            if not takes_arg[flag]:
                opts.append((flag, None))
                continue
            if j < len(arg):
                opts.append((flag, arg[j:]))
            elif i < len(args):
                opts.append((flag, args[i]))
                i += 1
            else:
                raise GetoptError(f"{prog}: option requires an argument -- '{flag}'\n")
            break
    return opts, operands


class Cli:
    """One ``uci`` process: a fresh context, flags and output streams."""

    def __init__(self, stdout: BinaryIO, stderr: BinaryIO, appname: str = APPNAME) -> None:
        self.out = stdout
        self.err = stderr
        self.appname = appname
        self.ctx = UciContext()
        self.ctx.on_parse_error = None
        self.show_ext = True
        self.quiet = False
        self.nocommit = False
        self.merge = False
        self.delimiter = " "
        self.input_path: str | None = None
        self._error_info = ""  # libuci's static error_info buffer

    # --- output ----------------------------------------------------------------
    def write(self, text: str) -> None:
        self.out.write(to_bytes(text))

    def usage(self) -> None:
        self.err.write(to_bytes(USAGE % self.appname))

    def perror(self, code: int) -> None:
        if self.quiet:
            return
        info = self.ctx.pctx_info
        if code == E.ERR_PARSE and info is not None:
            text = f" ({info.reason or 'unknown'}) at line {info.line}, byte {info.byte}"
            self._error_info = text[:126]
        self._error_info += "\n"
        message = f"{self.appname}: {E.ERROR_TEXT.get(code, E.ERROR_TEXT[E.ERR_UNKNOWN])}{self._error_info}"
        self.err.write(to_bytes(message))

    def _print_parse_error(self, exc: E.UciException) -> None:
        # -S (libuci's UCI_FLAG_PERROR): report a skipped line without the prefix.
        if exc.has_position:
            parse_error = E.ERROR_TEXT[E.ERR_PARSE]
            self.err.write(to_bytes(f"{parse_error} ({exc.reason}) at line {exc.line}, byte {exc.byte}\n"))

    def show_value(self, o: Option, quoted: bool) -> None:
        if not o.is_list:
            self.write((quote(o.value) if quoted else o.value) + "\n")
            return
        parts = []
        for i, item in enumerate(o.value):
            sep = self.delimiter if i else ""
            if quoted or any(c in item for c in " \t\r\n"):
                parts.append(sep + quote(item))
            else:
                parts.append(sep + item)
        self.write("".join(parts) + "\n")

    def show_option(self, o: Option, ref: str | None = None) -> None:
        if o.section is None or o.section.package is None:
            raise E.uci_error(E.ERR_INVAL)
        self.write(f"{o.section.package.name}.{ref or o.section.name}.{o.name}=")
        self.show_value(o, True)

    def show_section(self, s: Section, ref: str | None = None) -> None:
        if s.package is None:
            raise E.uci_error(E.ERR_INVAL)
        self.write(f"{s.package.name}.{ref or s.name}={s.type}\n")
        for o in s.options:
            o.section = s
            self.show_option(o, ref)

    def show_package(self, p: Package) -> None:
        counters: dict = {}
        for s in p.sections:
            s.package = p
            ref = s.name
            if self.show_ext:
                idx = counters.get(s.type, 0)
                counters[s.type] = idx + 1
                if s.anonymous:
                    ref = f"@{s.type}[{idx}]"
            self.show_section(s, ref)

    def show_changes(self, p: Package) -> None:
        for h in p.saved_delta:
            prefix = "-" if h.cmd == CMD_REMOVE else ""
            op = {CMD_LIST_ADD: "+=", CMD_LIST_DEL: "-="}.get(h.cmd, "=")
            line = f"{prefix}{p.name}.{h.section}"
            if h.option is not None:
                line += "." + h.option
            if h.cmd != CMD_REMOVE:
                line += op + quote(h.value or "")
            self.write(line + "\n")

    # --- commands ----------------------------------------------------------------
    def _lookup(self, tuple_str: str) -> ops.Ptr | None:
        try:
            ptr = ops.parse_ptr(tuple_str)
            return ops.lookup_ptr(self.ctx, ptr, True)
        except E.UciException as exc:
            self.perror(exc.code)
            return None

    def package_cmd(self, cmd: int, tuple_str: str) -> int:
        ptr = self._lookup(tuple_str)
        if ptr is None:
            return 1
        ret = 1
        try:
            if ptr.p is None:
                raise E.uci_error(E.ERR_INVAL)
            if cmd == CMD_CHANGES:
                self.show_changes(ptr.p)
            elif cmd == CMD_COMMIT:
                if self.nocommit:
                    return 0
                try:
                    ptr.p = self.ctx.commit(ptr.p, False)
                except E.UciException as exc:
                    self.perror(exc.code)
                    return 1
            elif cmd == CMD_EXPORT:
                self.write(export_text(ptr.p, header=True, export_name=self.ctx.export_name))
            elif cmd == CMD_SHOW:
                if not ptr.complete:
                    self.perror(E.ERR_NOTFOUND)
                    return 1
                if ptr.o is not None:
                    self.show_option(ptr.o)
                elif ptr.s is not None:
                    self.show_section(ptr.s)
                else:
                    self.show_package(ptr.p)
            ret = 0
        finally:
            loaded = self.ctx.find_loaded(ptr.p.name) if ptr.p is not None else None
            if loaded is not None:
                self.ctx.unload(loaded)
        return ret

    def do_package_cmd(self, cmd: int, args: Sequence[str]) -> int:
        if len(args) > 2:
            return 255
        if len(args) == 2:
            return self.package_cmd(cmd, args[1])
        try:
            configs = self.ctx.list_configs()
        except E.UciException as exc:
            self.perror(exc.code)
            return 1
        for name in configs:
            self.package_cmd(cmd, name)
        return 0

    def do_add(self, args: Sequence[str]) -> int:
        if len(args) != 3:
            return 255
        try:
            p = self.ctx.load(args[1])
            s = ops.add_section(p, args[2])
            self.ctx.save(p)
        except E.UciException as exc:
            self.perror(exc.code)
            return exc.code
        self.write(s.name + "\n")
        return 0

    def do_section_cmd(self, cmd: int, args: Sequence[str]) -> int:
        if len(args) != 2:
            return 255
        ptr = self._lookup(args[1])
        if ptr is None:
            return 1
        if ptr.value is not None and cmd not in _VALUE_CMDS:
            return 1
        ret = E.OK
        try:
            if cmd == CMD_GET:
                if not ptr.complete:
                    self.perror(E.ERR_NOTFOUND)
                    return 1
                if ptr.o is not None:
                    self.show_value(ptr.o, False)
                elif ptr.s is not None:
                    self.write(ptr.s.type + "\n")
            elif cmd == CMD_RENAME:
                ops.rename(self.ctx, ptr)
            elif cmd == CMD_REVERT:
                self.ctx.revert(ptr)
            elif cmd == CMD_SET:
                ops.set_value(self.ctx, ptr)
            elif cmd == CMD_ADD_LIST:
                ops.add_list(self.ctx, ptr)
            elif cmd == CMD_DEL_LIST:
                ops.del_list(self.ctx, ptr)
            elif cmd == CMD_REORDER:
                if ptr.s is None or ptr.value is None:
                    self.perror(E.ERR_NOTFOUND)
                    return 1
                if ptr.p is None:
                    raise E.uci_error(E.ERR_INVAL)
                ops.reorder_section(ptr.p, ptr.s, ops.c_strtoul_int(ptr.value))
            elif cmd == CMD_DEL:
                if ptr.value is not None and ops.c_sscanf_int(ptr.value) is None:
                    return 1
                ret = ops.delete(self.ctx, ptr)
        except E.UciException as exc:
            ret = exc.code
        if cmd in (CMD_GET, CMD_REVERT):
            return 0
        if ret == E.OK and ptr.p is not None:
            try:
                self.ctx.save(ptr.p)
            except E.UciException as exc:
                ret = exc.code
        if ret != E.OK:
            self.perror(ret if ret != 1 else E.OK)
            return 1
        return 0

    def run_command(self, args: Sequence[str]) -> int:
        cmd = _COMMANDS.get(args[0].lower(), -1)
        if cmd in _SECTION_CMDS:
            return self.do_section_cmd(cmd, args)
        if cmd in _PACKAGE_CMDS:
            return self.do_package_cmd(cmd, args)
        if cmd == CMD_ADD:
            return self.do_add(args)
        if cmd == CMD_HELP:
            self.usage()
            return 0
        if cmd in (CMD_IMPORT, CMD_BATCH):
            if not self.quiet:
                message = f"{self.appname}: {args[0]} is not supported by this implementation\n"
                self.err.write(to_bytes(message))
            return 1
        return 255

    def main(self, argv: Sequence[str]) -> int:
        try:
            opts, operands = gnu_getopt(argv, OPTSTRING, self.appname)
        except GetoptError as exc:
            self.err.write(to_bytes(str(exc)))
            self.usage()
            return 0
        for flag, value in opts:
            if flag == "c":
                self.ctx.confdir = value
            elif flag == "C":
                self.ctx.set_conf2dir(value)
            elif flag == "d":
                self.delimiter = value
            elif flag == "f":
                if self.input_path is not None:
                    if not self.quiet:
                        self.err.write(b"Too many input files.\n")
                    return 1
                self.input_path = value
            elif flag == "m":
                self.merge = True
            elif flag == "s":
                self.ctx.strict = True
            elif flag == "S":
                self.ctx.strict = False
                self.ctx.on_parse_error = self._print_parse_error
            elif flag == "n":
                self.ctx.export_name = True
            elif flag == "N":
                self.ctx.export_name = False
            elif flag == "p":
                with contextlib.suppress(E.UciException):
                    self.ctx.add_delta_path(value)
            elif flag == "P":
                self.ctx.set_savedir(value)
                self.nocommit = True
            elif flag == "q":
                self.quiet = True
            elif flag == "t":
                self.ctx.set_savedir(value)
            elif flag == "X":
                self.show_ext = False
            else:  # -L: accepted by getopt, unknown to the CLI
                self.usage()
                return 0
        if not operands:
            self.usage()
            return 0
        ret = self.run_command(operands)
        if ret == 255:
            self.usage()
        return ret


def _as_str(arg: Union[str, bytes]) -> str:
    return to_str(arg) if isinstance(arg, bytes) else arg


def main(
    argv: Sequence[Union[str, bytes]] | None = None,
    stdout: BinaryIO | None = None,
    stderr: BinaryIO | None = None,
) -> int:
    """Run ``uci`` with ``argv`` (without the program name); returns the exit status."""
    if argv is None:
        argv = sys.argv[1:]
    out = stdout if stdout is not None else sys.stdout.buffer
    err = stderr if stderr is not None else sys.stderr.buffer
    cli = Cli(out, err)
    try:
        return cli.main([_as_str(a) for a in argv])
    finally:
        out.flush()
        err.flush()
