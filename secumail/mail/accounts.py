"""Domains, mailboxes and aliases: validated changes to the account files.

Every operation takes the lock, loads, checks, changes the model, saves all
files or none, then asks `apply.on_accounts_changed` to make Postfix and
Dovecot see it. A refused change raises InputError (exit 2) with one line and
leaves every file as it was.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import shutil
from typing import TYPE_CHECKING, Any

from secumail.errors import InputError
from secumail.mail import apppasswords, store
from secumail.mail.apply import MailRuntime
from secumail.mail.passwords import hash_password
from secumail.mail.store import Accounts, User, normalize_address, normalize_domain, split_address

if TYPE_CHECKING:
    from secumail.config.settings import Settings

log = logging.getLogger(__name__)
_SIZE_IN_NAME = re.compile(r",S=(\d+)")


def _data_path(settings: Settings) -> str:
    return settings.main.data_path


def _load(settings: Settings) -> Accounts:
    return store.load(_data_path(settings), settings.main.domain)


def _commit(settings: Settings, accounts: Accounts, what: str, runtime: MailRuntime | None) -> list[str]:
    changed = store.save(_data_path(settings), accounts)
    if changed:
        from secumail.mail import apply

        apply.on_accounts_changed(settings, what, changed, runtime)
    return changed


def _require_domain(accounts: Accounts, domain: str, address: str) -> None:
    if domain not in accounts.domains:
        raise InputError(
            f"{address}: {domain} is not one of this server's domains (add it: mailctl domain add {domain})"
        )


# ---- domains -------------------------------------------------------------------------------------


def domain_list(settings: Settings) -> list[dict[str, Any]]:
    accounts = _load(settings)
    rows = []
    for domain in accounts.domains:
        rows.append({
            "domain": domain,
            "primary": domain == accounts.primary,
            "users": sum(1 for a in accounts.users if accounts.domain_of(a) == domain),
            "aliases": sum(1 for a in accounts.aliases if accounts.domain_of(a) == domain),
        })
    return rows


def domain_add(settings: Settings, domain: str, *, runtime: MailRuntime | None = None) -> dict[str, Any]:
    domain = normalize_domain(domain)
    with store.lock(_data_path(settings)):
        accounts = _load(settings)
        if domain in accounts.domains:
            raise InputError(f"domain {domain} exists already")
        accounts.extra_domains.append(domain)
        dkim = _ensure_dkim(settings, domain)
        _commit(settings, accounts, "domain", runtime)
    return {"domain": domain, "added": True, "dkim": dkim}


def _ensure_dkim(settings: Settings, domain: str) -> str | None:
    """A signing key for a new domain right away, so the DNS record can be published with it."""
    if not settings.features.dkim:
        return None
    from secumail.mail import dkim

    path = dkim.ensure_key(_data_path(settings), domain, settings.dkim.selector, bits=settings.dkim.key_bits)
    if settings.dkim.ed25519:
        dkim.ensure_key(_data_path(settings), domain, dkim.ed25519_selector(settings.dkim.selector),
                        algorithm="ed25519")
    return path


def domain_del(settings: Settings, domain: str,
               *, force: bool = False, runtime: MailRuntime | None = None) -> dict[str, Any]:
    domain = normalize_domain(domain)
    with store.lock(_data_path(settings)):
        accounts = _load(settings)
        if domain == accounts.primary:
            raise InputError(f"{domain} is the primary domain (mailserver.main.domain) and cannot be deleted")
        if domain not in accounts.extra_domains:
            raise InputError(f"domain {domain} does not exist (see mailctl domain list)")
        users = [a for a in accounts.users if accounts.domain_of(a) == domain]
        aliases = [a for a in accounts.aliases if accounts.domain_of(a) == domain]
        if (users or aliases) and not force:
            raise InputError(
                f"domain {domain} still has {len(users)} mailbox(es) and {len(aliases)} alias(es); "
                "delete them first or use --force (mail stays on disk)"
            )
        for address in users:
            del accounts.users[address]
        for source in aliases:
            del accounts.aliases[source]
        emptied = _drop_destinations(accounts, lambda d: accounts.domain_of(d) == domain)
        accounts.extra_domains.remove(domain)
        _commit(settings, accounts, "domain", runtime)
    return {"domain": domain, "deleted": True, "users_removed": users, "aliases_removed": aliases + emptied}


def _drop_destinations(accounts: Accounts, gone) -> list[str]:
    """Remove destinations that no longer exist from other aliases; return aliases left empty (deleted)."""
    emptied = []
    for source, dests in list(accounts.aliases.items()):
        kept = [d for d in dests if not gone(d)]
        if not kept:
            del accounts.aliases[source]
            emptied.append(source)
        else:
            accounts.aliases[source] = kept
    return emptied


# ---- users ---------------------------------------------------------------------------------------


def _mailbox_dir(settings: Settings, address: str) -> str:
    local, domain = split_address(address)
    return settings.layout.maildir(domain, local)


def _usage(path: str) -> int:
    """Bytes in a maildir: Dovecot's S= size from file names, else the file size."""
    total = 0
    for root, _dirs, files in os.walk(path):
        leaf = os.path.basename(root)
        if leaf not in ("cur", "new", "tmp"):
            continue
        for name in files:
            match = _SIZE_IN_NAME.search(name)
            if match:
                total += int(match.group(1))
            else:
                with contextlib.suppress(OSError):
                    total += os.lstat(os.path.join(root, name)).st_size
    return total


def user_list(settings: Settings) -> list[dict[str, Any]]:
    accounts = _load(settings)
    rows = []
    for user in sorted(accounts.users.values(), key=lambda u: (accounts.domain_of(u.address), u.address)):
        usage = _usage(_mailbox_dir(settings, user.address))
        limit = user.quota_bytes
        rows.append({
            "address": user.address,
            "domain_served": accounts.domain_of(user.address) in accounts.domains,  # else: mail to it bounces
            "quota": user.quota or "none",
            "quota_bytes": limit,
            "usage_bytes": usage,
            "usage_percent": round(100.0 * usage / limit, 1) if limit else None,
        })
    return rows


def _canonical_quota(text: str | None) -> str:
    if text is None:
        return ""
    store.parse_quota(text)  # raises a clear error for bad syntax
    return store.format_quota(text)


def user_add(settings: Settings, address: str, password: str,
             *, quota: str | None = None, runtime: MailRuntime | None = None) -> dict[str, Any]:
    address = normalize_address(address, "mailbox")
    quota_text = _canonical_quota(quota)
    password_hash = hash_password(password)  # slow part outside the lock
    with store.lock(_data_path(settings)):
        accounts = _load(settings)
        _require_domain(accounts, accounts.domain_of(address), address)
        if address in accounts.users:
            raise InputError(f"mailbox {address} exists already (change its password: mailctl user passwd)")
        if address in accounts.aliases:
            raise InputError(f"{address} is an alias; delete the alias first (mailctl alias del {address})")
        accounts.users[address] = User(address, password_hash, quota_text)
        _commit(settings, accounts, "user", runtime)
    return {"address": address, "added": True, "quota": quota_text or "none"}


def _existing_user(accounts: Accounts, address: str) -> str:
    address = normalize_address(address, "mailbox")
    if address not in accounts.users:
        raise InputError(f"mailbox {address} does not exist (see mailctl user list)")
    return address


def user_del(settings: Settings, address: str,
             *, purge: bool = False, runtime: MailRuntime | None = None) -> dict[str, Any]:
    with store.lock(_data_path(settings)):
        accounts = _load(settings)
        address = _existing_user(accounts, address)
        pointing = sorted(s for s, dests in accounts.aliases.items() if address in dests)
        if pointing:
            raise InputError(
                f"mailbox {address} receives mail of alias(es) {', '.join(pointing)}; "
                "delete or change them first (mailctl alias del)"
            )
        del accounts.users[address]
        _commit(settings, accounts, "user", runtime)
        maildir = _mailbox_dir(settings, address)
        purged = False
        if purge:
            local, domain = split_address(address)
            home = settings.layout.user_home(domain, local)  # sieve scripts
            for directory in (maildir, home):
                if os.path.isdir(directory):
                    shutil.rmtree(directory)
                    purged = True
    return {"address": address, "deleted": True, "mail_purged": purged,
            "mail_kept": None if purge else maildir}


def user_passwd(settings: Settings, address: str, password: str,
                *, runtime: MailRuntime | None = None) -> dict[str, Any]:
    password_hash = hash_password(password)
    with store.lock(_data_path(settings)):
        accounts = _load(settings)
        address = _existing_user(accounts, address)
        accounts.users[address].password_hash = password_hash
        _commit(settings, accounts, "password", runtime)
    return {"address": address, "password_changed": True}


class WrongCurrentPassword(InputError):
    """The current password given to user_passwd_confirmed is not the mailbox's (or no such mailbox)."""


def user_passwd_confirmed(settings: Settings, address: str, current: str, password: str,
                          *, runtime: MailRuntime | None = None) -> dict[str, Any]:
    """`user passwd` for the user themself: only the mailbox password as it is in the account file opens it
    (never an app password, which Dovecot keeps apart). The same policy and commit as user_passwd.
    WrongCurrentPassword when it does not match; the file is then left as it was."""
    from secumail.mail.passwords import verify_password

    with store.lock(_data_path(settings)):
        accounts = _load(settings)
        address = normalize_address(address, "mailbox")
        user = accounts.users.get(address)
        stored = user.password_hash if user is not None else ""
    # the slow parts outside the lock: checking the current password, hashing the new one
    if user is None or not verify_password(current, stored):
        raise WrongCurrentPassword(f"{address}: wrong current password; nothing was changed")
    password_hash = hash_password(password)
    with store.lock(_data_path(settings)):
        accounts = _load(settings)
        user = accounts.users.get(address)
        if user is None or user.password_hash != stored:  # changed meanwhile: confirm against the new one
            raise InputError(f"{address}: the password changed meanwhile; nothing was changed")
        user.password_hash = password_hash
        _commit(settings, accounts, "password", runtime)
    return {"address": address, "password_changed": True}


def user_quota(settings: Settings, address: str, size: str, *, runtime: MailRuntime | None = None) -> dict[str, Any]:
    quota_text = _canonical_quota(size)
    with store.lock(_data_path(settings)):
        accounts = _load(settings)
        address = _existing_user(accounts, address)
        accounts.users[address].quota = quota_text
        _commit(settings, accounts, "quota", runtime)
    return {"address": address, "quota": quota_text or "none"}


# ---- app passwords (secumail.mail.apppasswords) -------------------------------------------------


def app_password_add(settings: Settings, address: str, name: str, *, scope: str | None = None,
                     runtime: MailRuntime | None = None) -> dict[str, Any]:
    """A new app password for `address`; the token is in the result and nowhere else (only its hash is kept)."""
    import datetime as dt

    name = apppasswords.check_name(name)
    scopes = apppasswords.parse_scopes(scope)
    with store.lock(_data_path(settings)):
        accounts = _load(settings)
        address = _existing_user(accounts, address)
        mine = [a for a in accounts.app_passwords if a.address == address]
        if any(a.name == name for a in mine):
            raise InputError(f"{address} has an app password named {name!r} already "
                             f"(revoke it first: mailctl user app-password del {address} {name})")
        if len(mine) >= apppasswords.MAX_PER_USER:
            raise InputError(f"{address} has {len(mine)} app passwords, the most one mailbox may have; revoke one")
        selector, token = apppasswords.new_token({a.selector for a in mine})
        created = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        accounts.app_passwords.append(apppasswords.AppPassword(
            address, name, selector, scopes, created, hash_password(token)))
        _commit(settings, accounts, "app password", runtime)
    return {"address": address, "name": name, "scopes": list(scopes), "created": created, "password": token}


def app_password_list(settings: Settings, address: str | None = None) -> list[dict[str, Any]]:
    accounts = _load(settings)
    if address is not None:
        address = _existing_user(accounts, address)
    return [a.row() for a in sorted(accounts.app_passwords, key=lambda a: (a.address, a.name))
            if a.address in accounts.users and address in (None, a.address)]


def app_password_del(settings: Settings, address: str, name: str,
                     *, runtime: MailRuntime | None = None) -> dict[str, Any]:
    """Revoke one app password: refused from the moment this returns (the auth cache is flushed)."""
    with store.lock(_data_path(settings)):
        accounts = _load(settings)
        address = _existing_user(accounts, address)
        kept = [a for a in accounts.app_passwords if not (a.address == address and a.name == name)]
        if len(kept) == len(accounts.app_passwords):
            raise InputError(f"{address} has no app password named {name!r} "
                             f"(see mailctl user app-password list {address})")
        accounts.app_passwords = kept
        _commit(settings, accounts, "app password", runtime)
    return {"address": address, "name": name, "revoked": True}


def user_profile(settings: Settings, address: str, *, app_password: str | None = None,
                 runtime: MailRuntime | None = None) -> dict[str, Any]:
    """The Apple configuration profile of a mailbox; with `app_password` a new app password (IMAP and SMTP,
    and DAV when features.dav is on) of that name is made and put inside, so the device needs no typing."""
    from secumail.mail import clientconfig, dav

    address = _existing_user(_load(settings), address)
    token = None
    if app_password is not None:
        scope = ",".join((*apppasswords.DEFAULT_SCOPES, "dav")) if dav.on(settings) else None
        token = app_password_add(settings, address, app_password, scope=scope, runtime=runtime)["password"]
    profile = clientconfig.apple_profile(settings, address, password=token)
    return {"address": address, "app_password": app_password, "profile": profile.decode("utf-8")}


# ---- aliases -------------------------------------------------------------------------------------


def _normalize_source(text: str) -> str:
    if text.strip().startswith("@"):
        return "@" + normalize_domain(text.strip()[1:])
    return normalize_address(text, "alias")


def _resolve_next(accounts: Accounts, address: str) -> list[str] | None:
    """Where Postfix sends `address` next: alias targets, or None when it stops (mailbox/external/unknown)."""
    if address in accounts.aliases:
        return accounts.aliases[address]
    if address in accounts.users:
        return None
    domain = accounts.domain_of(address)
    if domain in accounts.domains and f"@{domain}" in accounts.aliases:
        return accounts.aliases[f"@{domain}"]
    return None


def _find_loop(accounts: Accounts, start: str) -> list[str] | None:
    """A cycle through aliases starting at `start` (as a path), or None."""
    path: list[str] = []

    def walk(address: str) -> list[str] | None:
        if address in path:
            return path[path.index(address):] + [address]
        targets = _resolve_next(accounts, address)
        if not targets:
            return None
        path.append(address)
        for target in targets:
            if target == address:
                continue
            found = walk(target)
            if found:
                return found
        path.pop()
        return None

    if start.startswith("@"):
        for target in accounts.aliases[start]:
            found = walk(target)
            if found:
                return found
        return None
    return walk(start)


def alias_add(settings: Settings, source: str, destinations: list[str],
              *, runtime: MailRuntime | None = None) -> dict[str, Any]:
    source = _normalize_source(source)
    dests: list[str] = []
    for text in destinations:
        for part in text.split(","):
            if part.strip():
                address = normalize_address(part, "destination", allow_delimiter=True)
                if address not in dests:
                    dests.append(address)
    if not dests:
        raise InputError(f"alias {source}: give at least one destination address")
    with store.lock(_data_path(settings)):
        accounts = _load(settings)
        domain = source.lstrip("@").rpartition("@")[2]
        _require_domain(accounts, domain, source)
        if source in accounts.users:
            raise InputError(f"{source} is a mailbox; an alias of the same name would hide it")
        if source in accounts.aliases:
            raise InputError(f"alias {source} exists already (-> {','.join(accounts.aliases[source])}); "
                             "delete it first (mailctl alias del)")
        if source in dests:
            raise InputError(f"alias {source} cannot point to itself")
        for dest in dests:
            base = re.sub(r"\+[^@]*@", "@", dest)
            if accounts.domain_of(base) in accounts.domains and _resolve_next(accounts, base) is None \
                    and base not in accounts.users:
                raise InputError(f"destination {dest} does not exist here (no such mailbox or alias)")
        accounts.aliases[source] = dests
        loop = _find_loop(accounts, source)
        if loop:
            raise InputError(f"alias {source} would make a loop: {' -> '.join(loop)}")
        _commit(settings, accounts, "alias", runtime)
    return {"source": source, "destinations": dests, "catch_all": source.startswith("@")}


def alias_del(settings: Settings, source: str, *, runtime: MailRuntime | None = None) -> dict[str, Any]:
    source = _normalize_source(source)
    with store.lock(_data_path(settings)):
        accounts = _load(settings)
        if source not in accounts.aliases:
            raise InputError(f"alias {source} does not exist (see mailctl alias list)")
        referenced = sorted(s for s, dests in accounts.aliases.items() if source in dests)
        if referenced:
            raise InputError(f"alias {source} is a destination of {', '.join(referenced)}; change them first")
        del accounts.aliases[source]
        _commit(settings, accounts, "alias", runtime)
    return {"source": source, "deleted": True}


def alias_list(settings: Settings) -> list[dict[str, Any]]:
    accounts = _load(settings)
    rows = []
    for source, dests in sorted(accounts.aliases.items(), key=store._alias_key):
        rows.append({"source": source, "destinations": dests, "catch_all": source.startswith("@")})
    return rows
