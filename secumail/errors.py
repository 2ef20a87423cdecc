"""One error hierarchy for the whole agent.

Every error renders its own context into a one-line message that says what
failed, on which input, and (where useful) what to do. The CLI prints that
line and exits with `exit_code`; it never prints a traceback unless --debug.
"""

from __future__ import annotations


class SecumailError(Exception):
    """Base class: an operation failed (exit code 1)."""

    exit_code = 1


class InputError(SecumailError):
    """The user's input is wrong: bad value, unknown name, bad usage (exit 2)."""

    exit_code = 2


class ConfigError(InputError):
    """A UCI option holds an invalid value: `mailserver.main.domain: '...' is not ...`."""

    def __init__(self, path: str, value: object, problem: str) -> None:
        self.path = path
        self.value = value
        self.problem = problem
        super().__init__(f"{path}: {value!r} {problem}")


class CommandFailed(SecumailError):
    """An external command exited non-zero."""

    def __init__(self, args: list[str] | tuple[str, ...], returncode: int, stderr: str = "") -> None:
        self.args_ = list(args)
        self.returncode = returncode
        self.stderr = stderr
        detail = stderr.strip().splitlines()[-1] if stderr.strip() else "no error output"
        super().__init__(f"{args[0]} exited with {returncode}: {detail}")


class NotAvailable(SecumailError):
    """A feature exists in the CLI but its implementation has not landed yet."""

    def __init__(self, what: str) -> None:
        super().__init__(f"{what} is not available in this version of secumail yet")


class ContainerError(SecumailError):
    """The LXC container could not be created, started, stopped or reached."""


class ProviderError(SecumailError):
    """A DNS provider refused or failed an operation."""


class BackupFormatError(SecumailError):
    """A backup repository or object is corrupt or of an unknown version."""
