"""Render → stage → check inside the container → swap → reload; a failed check changes nothing.

Generations live in data_path/config/generated/<id>/; data_path/config/live
is a symlink to the current one, replaced atomically (rename of a new
symlink). The container sees config/ (read-only) under /srv/mailserver. The checks run the
real tools on the staged files:

    postconf -c <gen>/postfix -n   main.cf (unknown parameters, syntax)
    postconf -c <gen>/postfix -M   master.cf
    postfix -c <gen>/postfix check  permissions, tables, the rest of `postfix check`
    doveconf -c <gen>/dovecot/dovecot.conf -n
    opendkim -n -x <gen>/opendkim/opendkim.conf      (when DKIM is on)
    rspamadm --var=LOCAL_CONFDIR=<gen>/rspamd configtest   (when the spam filter is on)
    opendmarc -n -c <gen>/opendmarc/opendmarc.conf          (the light path: filter off)

Any error or warning fails the deploy with the tool's line, which names the
file and line; the staged generation is removed and `live` is untouched.
After the swap, `<gen>/container/reload` installs the files in /etc and
reloads (or starts) each service.

Everything runs through an Executor: `exec(args, input=None) -> Result`
(secumail.container.runtime.Container fits), so tests can use a fake.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import shutil
import time
from typing import TYPE_CHECKING, Any, Callable, Protocol

from secumail.config.layout import DataLayout
from secumail.errors import SecumailError
from secumail.mail import render

if TYPE_CHECKING:
    from secumail.config.settings import Settings

log = logging.getLogger(__name__)
HandOver = Callable[..., None]
KEEP_GENERATIONS = 2  # the live one and the one before it (for a manual roll back)


class Executor(Protocol):
    def exec(self, args: list[str], input: str | None = None) -> Any:  # -> Result(returncode, stdout, stderr)
        ...


class ConfigCheckFailed(SecumailError):
    """A rendered file was refused by Postfix, Dovecot or OpenDKIM; the running config stays."""


# Lines about the container rather than the config (e.g. no /etc/mtab before the first start).
_BENIGN = ("setmntent(",)


def _complaint(output: str) -> str | None:
    """The first line that is an error or a warning, or None when the output is clean."""
    for line in output.splitlines():
        low = line.lower()
        if any(marker in line for marker in _BENIGN):
            continue
        if "warning" in low or "fatal" in low or "error" in low:
            return line.strip()
    return None


def run_checked(executor: Executor, args: list[str]) -> Any:
    res = executor.exec(list(args))
    if res.returncode != 0:
        detail = (res.stderr or res.stdout or "").strip().splitlines()
        raise SecumailError(f"{' '.join(args)} failed in the container: {detail[-1] if detail else 'no output'}")
    return res


def check_commands(gen: str, dkim: bool, spam: bool = False, dmarc: bool = False) -> list[list[str]]:
    """The validation commands for generation `gen` (a container path)."""
    commands = [
        ["postconf", "-c", f"{gen}/postfix", "-n"],
        ["postconf", "-c", f"{gen}/postfix", "-M"],
        ["postfix", "-c", f"{gen}/postfix", "check"],
        ["doveconf", "-c", f"{gen}/dovecot/dovecot.conf", "-n"],
    ]
    if dkim:
        commands.append(["opendkim", "-n", "-x", f"{gen}/opendkim/opendkim.conf"])
    if spam:  # the image's rspamd.conf with this generation's local.d/ and override.d/
        commands.append(["rspamadm", f"--var=LOCAL_CONFDIR={gen}/rspamd", "configtest", "-c",
                         "/etc/rspamd/rspamd.conf"])
    if dmarc:
        commands.append(["opendmarc", "-n", "-c", f"{gen}/opendmarc/opendmarc.conf"])
    return commands


def check(executor: Executor, gen: str, dkim: bool, spam: bool = False, dmarc: bool = False) -> None:
    """Run every check; raise ConfigCheckFailed naming the tool's complaint (file and line)."""
    for args in check_commands(gen, dkim, spam, dmarc):
        res = executor.exec(args)
        problem = _complaint(res.stderr or "")
        if res.returncode != 0 or problem:
            if not problem:
                lines = (res.stderr or res.stdout or "").strip().splitlines()
                problem = lines[-1].strip() if lines else f"exit status {res.returncode}, no output"
            raise ConfigCheckFailed(f"new mail config refused by {args[0]}: {problem}; running config unchanged")


def live_generation(data_path: str) -> str | None:
    """The id of the live generation, or None before the first deploy."""
    link = DataLayout(data_path).live
    try:
        return os.path.basename(os.readlink(link))
    except OSError:
        return None


def _new_id(data_path: str) -> str:
    base = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
    n = 0
    while True:
        candidate = f"{base}-{n}"
        if not os.path.exists(DataLayout(data_path).generation(candidate)):
            return candidate
        n += 1


def swap_live(data_path: str, generation_id: str) -> None:
    """Point data_path/config/live at generated/<id> in one rename."""
    layout = DataLayout(data_path)
    config = layout.config
    tmp = os.path.join(config, f".live-{generation_id}")
    with contextlib.suppress(FileNotFoundError):
        os.unlink(tmp)
    # relative, so the link resolves on the host and inside the container alike
    os.symlink(os.path.relpath(layout.generation(generation_id), config), tmp)
    os.replace(tmp, layout.live)
    from secumail.system.files import fsync_dir

    fsync_dir(config)


def _prune(data_path: str, keep: set[str]) -> None:
    root = DataLayout(data_path).generated
    entries = sorted(os.listdir(root)) if os.path.isdir(root) else []
    old = [e for e in entries if e not in keep]
    for name in old[: max(0, len(entries) - KEEP_GENERATIONS)]:
        shutil.rmtree(os.path.join(root, name), ignore_errors=True)


def write_files(directory: str, files: render.Files) -> None:
    """Write a rendered generation below `directory`, each file with its mode."""
    from secumail.system.files import atomic_write

    for rel, (content, mode) in files.items():
        path = os.path.join(directory, rel)
        os.makedirs(os.path.dirname(path), mode=0o755, exist_ok=True)
        atomic_write(path, content, mode=mode)


def _within_host_memory(settings: Settings) -> Settings:
    """The settings this host can run: virus scanning on a host with less memory than ClamAV needs (a
    config written by hand or restored onto a smaller router) stays off; status says why."""
    from secumail.config.settings import virus_scan_refusal

    refusal = virus_scan_refusal(settings) if settings.features.virus_scan else None
    if refusal is None:
        return settings
    log.warning("virus scanning stays off: %s", refusal)
    return dataclasses.replace(settings, features=dataclasses.replace(settings.features, virus_scan=False))


def deploy(settings: Settings, executor: Executor | None, files: render.Files | None = None,
           domains: list[str] | None = None, *, hand_over: HandOver | None = None) -> dict[str, Any]:
    """Render (or take `files`), stage, check, swap, reload. Returns what happened.

    `hand_over(*subs)` gives what the host wrote below data_path to the container's root (the
    appliance layer knows the container's id map); None for a container without one.

    With executor None (container not running) nothing can be checked: the
    generation is staged and made live so the next start uses it, and the
    result says it was not checked.
    """
    from secumail.mail import store
    from secumail.system.files import file_lock

    settings = _within_host_memory(settings)
    data_path = settings.main.data_path
    with store.lock(data_path):  # every map the config names must exist (fresh install, new map names)
        accounts = store.load(data_path, settings.main.domain)
        store.save(data_path, accounts)
    if domains is None:
        domains = accounts.domains
    layout = settings.layout
    root = layout.generated
    os.makedirs(root, mode=0o755, exist_ok=True)
    with file_lock(layout.deploy_lock):
        gen_id = _new_id(data_path)
        staging = os.path.join(root, f".staging-{gen_id}")
        final = layout.generation(gen_id)
        gen_path = render.container_path(settings, final)
        render.ensure_keys(settings, domains)
        from secumail.mail import relay

        relay.write_map(settings)  # secrets stay out of the generation (readable 0644 files)
        if files is None:
            files = render.render_all(settings, domains, gen_path)
        try:
            write_files(staging, files)
            os.rename(staging, final)
            if hand_over is not None:
                hand_over("config", "dkim", "ssl", "relay", "clamav")  # the container's root owns what it reads
            if executor is not None:
                from secumail.mail import lightpath

                check(executor, gen_path, settings.features.dkim, settings.features.spam_filter,
                      lightpath.on(settings))
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            shutil.rmtree(final, ignore_errors=True)
            raise
        previous = live_generation(data_path)
        swap_live(data_path, gen_id)
        _prune(data_path, keep={gen_id, previous or ""})
        if executor is not None:
            run_checked(executor, [f"{gen_path}/container/reload"])
    log.info("mail config generation %s is live (checked: %s)", gen_id, executor is not None)
    return {"generation": gen_id, "previous": previous, "checked": executor is not None,
            "reloaded": executor is not None}
