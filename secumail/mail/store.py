"""The account files in data_path/config that Postfix and Dovecot read directly.

    domains   one domain a line (the list mailctl manages; main.domain is implied)
    vdomains  Postfix virtual_mailbox_domains   "example.com OK"
    vmailbox  Postfix virtual_mailbox_maps      "user@example.com example.com/user/"
    valias    Postfix virtual_alias_maps        "src dest1,dest2"; catch-all "@example.com dest"
    vsenders  Postfix smtpd_sender_login_maps   "address login1,login2": who may send as whom
    users     Dovecot passwd-file (0600)        "user@d:{BLF-CRYPT}$2y$..:5000:5000::::<extra fields>"
              extra fields: userdb_quota_rule=*:storage=500M
    app-passwords          every app password (0600)  "user@d NAME SELECTOR imap,smtp CREATED {BLF-CRYPT}$2y$..."
    app-passwords.SERVICE  Dovecot passwd-file per     "user@d/SELECTOR:{BLF-CRYPT}$2y$..." (secumail.mail.apppasswords)
                           service (imap pop3 smtp dav)

The Postfix maps are read as `texthash:` tables, which need no postmap: a
change takes effect on `postfix reload`, and editing accounts needs no
Postfix binary on the router. valias also maps every mailbox to itself, so a
catch-all never swallows mail for a real user (Postfix virtual(5)).

`load()` parses the files, `save()` writes all of them or none: every new
file is written and fsynced under a temporary name first, then renamed.
Callers hold `lock()` around load-modify-save.
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field

from secumail.config.layout import DataLayout
from secumail.errors import InputError, SecumailError
from secumail.mail.apppasswords import APP_PASSWORDS, SERVICE_FILES, AppPassword, parse_line, service_lines
from secumail.system.files import file_lock, fsync_dir

VMAIL_UID = 5000
VMAIL_GID = 5000
HEADER = "# Managed by mailctl (secumail): change it with 'mailctl {what}', not by hand.\n"

# File name → mode. users holds password hashes: owner only. Maps: group-readable (postfix reads as root).
FILES = {"domains": 0o644, "vdomains": 0o644, "vmailbox": 0o640, "valias": 0o640, "vsenders": 0o640,
         "users": 0o600, APP_PASSWORDS: 0o600, **dict.fromkeys(SERVICE_FILES, 0o600)}
# The password files Dovecot's auth process reads (through its group, secumail.appliance.ownership).
DOVECOT_FILES = ("users", *SERVICE_FILES)

# Local parts become maildir paths and map keys: letters, digits and . _ + - only, starting with a letter,
# digit or _ (never a dot or an option-like '-'), no '..' and no trailing dot.
_LOCAL = re.compile(r"^[a-z0-9_][a-z0-9_+-]*(?:\.[a-z0-9_+-]+)*$")
_DOMAIN = re.compile(
    r"^(?=.{1,253}$)(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z][a-z0-9-]{0,61}[a-z0-9]$"
)
_QUOTA = re.compile(r"^(\d+)([KMGT]?)$", re.IGNORECASE)
_UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}


def normalize_domain(text: str) -> str:
    domain = text.strip().lower().rstrip(".")
    if not _DOMAIN.match(domain):
        raise InputError(f"{text!r} is not a domain name (e.g. example.com)")
    return domain


def split_address(text: str, what: str = "address", allow_delimiter: bool = False) -> tuple[str, str]:
    """'User@Example.com' → ('user', 'example.com'); one clear error for anything else."""
    address = text.strip().lower()
    local, sep, domain = address.rpartition("@")
    if not sep or not local:
        raise InputError(f"{what} {text!r} is not an e-mail address (user@domain)")
    if len(local) > 64 or not _LOCAL.match(local):
        raise InputError(f"{what} {text!r}: {local!r} is not a valid mailbox name "
                         "(letters, digits and . _ + -, not starting with . or -)")
    if not allow_delimiter and "+" in local:
        raise InputError(f"{what} {text!r}: '+' is the tag delimiter (user+tag@) and cannot be in a name")
    try:
        domain = normalize_domain(domain)
    except InputError:
        raise InputError(f"{what} {text!r}: {domain!r} is not a domain name") from None
    return local, domain


def normalize_address(text: str, what: str = "address", allow_delimiter: bool = False) -> str:
    local, domain = split_address(text, what, allow_delimiter)
    return f"{local}@{domain}"


def parse_quota(text: str) -> int:
    """'500M' → bytes; '0' → 0 (no quota). Units K, M, G, T (powers of 1024)."""
    match = _QUOTA.match(text.strip())
    if not match:
        raise InputError(f"quota {text!r} is not a size: a number with K, M, G or T (500M, 2G), 0 for none")
    value = int(match.group(1)) * _UNITS[match.group(2).upper()]
    if value and value < 1 << 20:
        raise InputError(f"quota {text!r} is below 1M; a mailbox that small cannot take one message")
    return value


def format_quota(text: str) -> str:
    """Canonical quota text as Dovecot reads it ('500m' → '500M'); '' for none."""
    match = _QUOTA.match(text.strip())
    if not match or int(match.group(1)) == 0:
        return ""
    return f"{int(match.group(1))}{match.group(2).upper()}"


@dataclass
class User:
    address: str
    password_hash: str
    quota: str = ""  # canonical text ('500M'), '' = no quota

    @property
    def quota_bytes(self) -> int:
        return parse_quota(self.quota) if self.quota else 0


@dataclass
class Accounts:
    primary: str  # main.domain: always a domain, never deletable
    extra_domains: list[str] = field(default_factory=list)
    users: dict[str, User] = field(default_factory=dict)
    aliases: dict[str, list[str]] = field(default_factory=dict)
    app_passwords: list[AppPassword] = field(default_factory=list)

    @property
    def domains(self) -> list[str]:
        return sorted({self.primary, *self.extra_domains})

    def domain_of(self, address: str) -> str:
        return address.rpartition("@")[2]


def config_dir(data_path: str) -> str:
    return DataLayout(data_path).config


_held: dict[str, int] = {}  # lock path -> depth held by this process


@contextlib.contextmanager
def lock(data_path: str) -> Iterator[None]:
    """One writer at a time for all account files (data_path/config/.lock).

    Re-entrant within a process: `domain add` holds it while its change is
    deployed, and deploy takes it again (a second flock on a new open file
    would wait for ourselves forever)."""
    directory = config_dir(data_path)
    os.makedirs(directory, mode=0o755, exist_ok=True)
    path = os.path.realpath(DataLayout(data_path).accounts_lock)
    if _held.get(path):
        _held[path] += 1
        try:
            yield
        finally:
            _held[path] -= 1
        return
    with file_lock(path):
        _held[path] = 1
        try:
            yield
        finally:
            del _held[path]


def _lines(path: str) -> Iterator[tuple[int, str]]:
    try:
        with open(path, encoding="utf-8") as handle:
            for number, line in enumerate(handle, 1):
                line = line.strip()
                if line and not line.startswith("#"):
                    yield number, line
    except FileNotFoundError:
        return


def load(data_path: str, primary: str) -> Accounts:
    """Read the account files; a corrupt line is named (file:line), never guessed at."""
    directory = config_dir(data_path)
    accounts = Accounts(primary=normalize_domain(primary))

    def bad(name: str, number: int, problem: str) -> SecumailError:
        return SecumailError(f"{os.path.join(directory, name)}:{number}: {problem}; fix or remove that line")

    for number, line in _lines(os.path.join(directory, "domains")):
        try:
            domain = normalize_domain(line)
        except InputError:
            raise bad("domains", number, f"{line!r} is not a domain name") from None
        if domain != accounts.primary and domain not in accounts.extra_domains:
            accounts.extra_domains.append(domain)

    for number, line in _lines(os.path.join(directory, "users")):
        fields = line.split(":")
        if len(fields) < 2 or not fields[1]:
            raise bad("users", number, "not a 'user@domain:{SCHEME}hash:...' line")
        try:
            address = normalize_address(fields[0])
        except InputError as exc:
            raise bad("users", number, str(exc)) from None
        quota = ""
        extra = ":".join(fields[7:]) if len(fields) > 7 else ""
        for item in extra.split():
            if item.startswith("userdb_quota_rule=*:storage="):
                quota = format_quota(item.split("=", 2)[2])
        accounts.users[address] = User(address, fields[1], quota)

    for number, line in _lines(os.path.join(directory, "valias")):
        parts = line.split(None, 1)
        if len(parts) != 2:
            raise bad("valias", number, "not a 'source destination[,destination...]' line")
        source = parts[0].lower()
        destinations = [d.strip().lower() for d in parts[1].split(",") if d.strip()]
        if destinations == [source] and source in accounts.users:
            continue  # the identity entry written for every mailbox; regenerated on save
        accounts.aliases[source] = destinations

    for number, line in _lines(os.path.join(directory, APP_PASSWORDS)):
        try:
            accounts.app_passwords.append(parse_line(line))
        except InputError as exc:
            raise bad(APP_PASSWORDS, number, str(exc)) from None
    return accounts


def render(accounts: Accounts) -> dict[str, str]:
    """The content of every account file, from the model (pure)."""
    domains = accounts.domains
    users = sorted(accounts.users.values(), key=lambda u: (u.address.rpartition("@")[2], u.address))
    out = {
        "domains": HEADER.format(what="domain add|del")
        + "".join(f"{d}\n" for d in sorted(accounts.extra_domains) if d != accounts.primary),
        "vdomains": HEADER.format(what="domain add|del") + "".join(f"{d} OK\n" for d in domains),
        "vmailbox": HEADER.format(what="user add|del")
        + "".join(f"{u.address} {_mailbox_path(u.address)}\n" for u in users),
    }
    alias_lines = [f"{u.address} {u.address}\n" for u in users]  # keeps catch-alls off real mailboxes
    for src, dests in sorted(accounts.aliases.items(), key=_alias_key):
        alias_lines.append(f"{src} {','.join(dests)}\n")
    out["valias"] = HEADER.format(what="alias add|del") + "".join(alias_lines)
    out["vsenders"] = HEADER.format(what="user|alias add|del") + "".join(_sender_lines(accounts, users))
    user_lines = []
    for user in users:
        extra = f"userdb_quota_rule=*:storage={user.quota}" if user.quota else ""
        user_lines.append(f"{user.address}:{user.password_hash}:{VMAIL_UID}:{VMAIL_GID}::::{extra}\n")
    out["users"] = HEADER.format(what="user add|del|passwd|quota") + "".join(user_lines)
    # A deleted mailbox takes its app passwords with it (a new mailbox of the same name never inherits them).
    apps = sorted((a for a in accounts.app_passwords if a.address in accounts.users),
                  key=lambda a: (a.address, a.name))
    out[APP_PASSWORDS] = HEADER.format(what="user app-password add|del") + "".join(a.line() for a in apps)
    for name, lines in service_lines(apps).items():
        out[name] = HEADER.format(what="user app-password add|del") + "".join(lines)
    return out


def _sender_lines(accounts: Accounts, users: list[User]) -> list[str]:
    """A mailbox sends as itself and as the aliases that deliver to it (never as a catch-all)."""
    lines = [f"{u.address} {u.address}\n" for u in users]
    for source, dests in sorted(accounts.aliases.items(), key=_alias_key):
        owners = [d for d in dests if d in accounts.users]
        if owners and not source.startswith("@"):
            lines.append(f"{source} {','.join(owners)}\n")
    return lines


def _alias_key(item: tuple[str, list[str]]) -> tuple[str, int, str]:
    source = item[0]
    local, _, domain = source.rpartition("@")
    return (domain, 0 if local else 1, source)  # catch-all last within its domain, for reading


def _mailbox_path(address: str) -> str:
    local, _, domain = address.rpartition("@")
    return f"{domain}/{local}/"


def save(data_path: str, accounts: Accounts) -> list[str]:
    """Write every account file that changed, all or none; return the names written."""
    directory = config_dir(data_path)
    os.makedirs(directory, mode=0o755, exist_ok=True)
    wanted = render(accounts)
    changed = []
    owners: dict[str, tuple[int, int]] = {}  # name -> (gid, mode) for the new file
    old_mtimes: dict[str, float] = {}
    for name, content in wanted.items():
        path = os.path.join(directory, name)
        gid, mode = 0, FILES[name]
        try:
            st = os.stat(path)
            old_mtimes[name] = st.st_mtime
            # The container gives Dovecot's group read access to `users` (its auth process is
            # not root): keep that group and its read bit across rewrites.
            if st.st_gid != 0 and st.st_mode & 0o040:
                gid, mode = st.st_gid, mode | 0o040
            with open(path, encoding="utf-8") as handle:
                same = handle.read() == content
            owners[name] = (gid, mode)
            if same and (st.st_mode & 0o777) == mode:
                continue
        except FileNotFoundError:
            owners[name] = (gid, mode)
        changed.append(name)
    temps: list[tuple[str, str]] = []
    try:
        for name in changed:
            fd, tmp = tempfile.mkstemp(prefix=f".{name}.", dir=directory)
            temps.append((tmp, os.path.join(directory, name)))
            gid, mode = owners[name]
            if gid:
                os.fchown(fd, -1, gid)
            os.fchmod(fd, mode)
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(wanted[name])
                handle.flush()
                os.fsync(handle.fileno())
            _distinct_mtime(tmp, old_mtimes.get(name))
        for tmp, path in temps:
            os.replace(tmp, path)
    except BaseException:
        for tmp, _ in temps:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
        raise
    fsync_dir(directory)
    return changed


def _distinct_mtime(path: str, old: float | None) -> None:
    """Dovecot notices a changed passwd-file by its mtime in whole seconds (and size): two changes
    within one second with equal sizes would go unseen, so the new file gets a later second."""
    import time

    if old is None:
        return
    now = time.time()
    if int(now) <= int(old):
        stamp = int(old) + 1
        os.utime(path, (stamp, stamp))
