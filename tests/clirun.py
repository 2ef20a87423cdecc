"""What a test sees of one mailctl run: exit code, stdout, stderr."""

from dataclasses import dataclass


@dataclass
class CliResult:
    code: int
    out: str
    err: str
