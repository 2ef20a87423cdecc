"""nftables primitive: load an `nft -f` script, one error line when nft is missing or refuses it."""

from __future__ import annotations

from secumail.errors import SecumailError
from secumail.system.proc import run, which


def apply_script(script: str, *, rules: str, why: str, nft: str | None = None) -> str:
    """Load `script` with `nft -f -`; return the nft binary used (callers may keep it).

    `rules` names the rules in the error line ("the fail2ban rules"); `why` says what needs
    nftables when the binary is missing ("fail2ban bans through an nftables set").
    """
    binary = nft or which("nft")
    if binary is None:
        raise SecumailError(f"nft not found: install nftables ({why})")
    result = run([binary, "-f", "-"], input=script, check=False, timeout=30)
    if not result.ok:
        raise SecumailError(f"nft refused {rules}: {(result.stderr or result.stdout).strip()[-300:]}")
    return binary


def remove_table_script(family: str, table: str) -> str:
    """Delete `family table` whether or not it exists (nft has no 'delete if present')."""
    return f"add table {family} {table}\ndelete table {family} {table}\n"
