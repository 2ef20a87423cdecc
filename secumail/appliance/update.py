"""`mailctl update`: a new image beside the running one, self-tested, then switched to; --rollback.

The candidate container (`<name>-next`) runs the new image with its own name and address on the
agent's bridge. It never sees the users' mail or the queue: it mounts a scratch copy of config/
(plus a test account) and empty mail, home, spool and dav directories; certificates and keys are
the live ones, read-only. Only when its self-test passes is the old container stopped, the image
directories renamed (rootfs -> rootfs.previous, rootfs.next -> rootfs) and the container started
again on its usual address: the queue in data_path/spool is never shared by two Postfixes.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import secrets
import shutil
import subprocess
import time
from typing import Any

from secumail.appliance import updatestate
from secumail.appliance.image import Progress, install_hooks, quiet
from secumail.appliance.selftest import SELFTEST_USER, SelfTestFailed
from secumail.appliance.spec import container_idmap, rootfs_path, running_container, spec_for, stable_hwaddr
from secumail.config.layout import CONFIG, DAV, HOME, MAIL, SPOOL
from secumail.config.settings import Settings
from secumail.container import idmap as idmap_mod
from secumail.container.lxcconf import BindMount
from secumail.container.runtime import Container
from secumail.errors import ContainerError, InputError
from secumail.mail import layout

SCRATCH = (MAIL, HOME, SPOOL, DAV)  # written by the services: the candidate gets empty ones


class UpdateFailed(ContainerError):
    """The candidate was refused; the running container was not touched."""


def update(settings: Settings, image: str | None = None, rollback: bool = False,
           progress: Progress = quiet) -> dict[str, Any]:
    """Make a candidate image (built, imported from `image`, or the previous one with `rollback`),
    self-test it beside the running container, switch over. Raises UpdateFailed (one line) when the
    self-test fails: the old container keeps serving."""
    from secumail.mail import deploy

    if image and rollback:
        raise InputError("--image and --rollback exclude each other")
    if image and not os.path.isfile(image):
        raise InputError(f"{image}: no such file")
    if settings.container.network_mode != "bridge":
        raise InputError("mailctl update needs container.network_mode 'bridge': the new image is tested beside the "
                         "old one on an address of its own")  # fmt: skip
    old = running_container(settings)
    data_path = settings.main.data_path
    dirs = updatestate.image_dirs(rootfs_path(settings))
    state_path = settings.layout.update_state
    state = updatestate.load(state_path)
    if rollback:
        if not os.path.isdir(os.path.join(dirs["previous"], "usr")):
            raise InputError("no previous image to roll back to: 'mailctl update' keeps one after it switched")
        candidate_rootfs = dirs["previous"]
    else:
        candidate_rootfs = dirs["next"]
        _make_image(settings, candidate_rootfs, image, progress)
    live = deploy.live_generation(data_path)
    if live is None:
        raise ContainerError("no live mail config yet: run 'mailctl install' first")
    generation = live
    if rollback:
        existing = set(os.listdir(settings.layout.generated))
        generation = updatestate.rollback_generation(state, live, existing) or live
    candidate = _Candidate(settings, candidate_rootfs, generation)
    try:
        tested = candidate.run(progress)
    except SelfTestFailed as exc:
        candidate.remove()
        if not rollback:
            shutil.rmtree(candidate_rootfs, ignore_errors=True)
        raise UpdateFailed(f"the new image failed its self-test at {exc}; the running mail server was not "
                           f"touched") from None  # fmt: skip
    except BaseException:
        candidate.remove()
        if not rollback:
            shutil.rmtree(candidate_rootfs, ignore_errors=True)
        raise
    candidate.remove()
    gap = _switch(settings, old, dirs, candidate_rootfs, generation=generation if generation != live else None,
                  progress=progress)
    source = "rollback" if rollback else (os.path.abspath(image) if image else "build")
    updatestate.save(state_path, updatestate.UpdateState(
        previous_generation=live, generation=deploy.live_generation(data_path), source=source,
        switched_at=dt.datetime.now(dt.timezone.utc).replace(microsecond=0).isoformat()))
    return {"result": "ok", "source": source, "generation": deploy.live_generation(data_path),
            "previous_generation": live, "self_test": tested, "switch_seconds": round(gap, 2),
            "previous_image": dirs["previous"]}


def _make_image(settings: Settings, target: str, image: str | None, progress: Progress) -> None:
    """The candidate's rootfs at `target`: imported from the tarball `image`, else made as install makes
    it (the configured provisioner; the Debian one from the image cache when it holds this package list)."""
    shutil.rmtree(target, ignore_errors=True)
    idmap = container_idmap()
    c = settings.container
    if image or c.provisioner == "tarball":
        from secumail.container.provision.tarball import import_image

        source = image or c.image
        if not source:
            raise InputError("mailserver.container.image: a tarball path is required with provisioner 'tarball'")
        progress(f"unpacking {source}")
        import_image(os.path.abspath(source), target, progress=progress)
        idmap_mod.shift_tree(target, idmap)
        idmap_mod.mark(target, idmap)
    elif c.provisioner == "debian":
        from secumail.appliance.spec import image_cache_dir
        from secumail.container import cache

        progress("building or unpacking the Debian mail image")
        cache.debian_image(image_cache_dir(settings), target, suite=c.suite, arch=c.arch or None,
                           mirror=c.mirror or None, progress=progress, idmap=idmap)  # fmt: skip
    else:
        from secumail.container.provision import alpine

        alpine.build(target, arch=c.arch or None, progress=progress)
        idmap_mod.ensure_rootfs(target, idmap)
    if not os.path.exists(os.path.join(target, "usr/sbin/postfix")):
        shutil.rmtree(target, ignore_errors=True)
        raise UpdateFailed("the new image has no Postfix (usr/sbin/postfix): not a mail image")
    install_hooks(target, idmap)


class _Candidate:
    """The new image as a container of its own, on scratch copies of what the services write."""

    def __init__(self, settings: Settings, rootfs: str, generation: str) -> None:
        self.settings = settings
        self.rootfs = rootfs
        self.generation = generation
        c = settings.container
        self.name = settings.main.container + updatestate.CANDIDATE_SUFFIX
        self.container = Container(self.name, c.lxc_path)
        self.scratch = os.path.join(c.lxc_path, self.name, "selftest")
        self.address = updatestate.candidate_address(c.host_address, c.address)

    def run(self, progress: Progress) -> dict[str, float]:
        from secumail.appliance import selftest
        from secumail.mail import lightpath, render

        self.remove()  # a candidate left over by an interrupted update
        account = self._prepare_scratch()
        idmap = container_idmap()
        spec = dataclasses.replace(
            spec_for(self.settings, idmap), name=self.name, rootfs=self.rootfs,
            address=str(self.address), hwaddr=stable_hwaddr(self.name), mounts=self._mounts())
        self.container.define(spec)
        progress(f"starting the candidate container {self.name} at {self.address.ip}")
        try:
            self.container.start()
        except ContainerError as exc:
            raise SelfTestFailed("container start", str(exc)) from None
        s = self.settings
        gen_path = render.container_path(s, s.layout.generation(self.generation))
        features = {"dkim": s.features.dkim, "spam": s.features.spam_filter, "dmarc": lightpath.on(s)}
        return selftest.run(self.container, str(self.address.ip), gen_path=gen_path, features=features,
                            account=account, ports=(s.ports.smtp, s.ports.submission or 587, s.ports.imap or 143),
                            progress=progress)  # fmt: skip

    def remove(self) -> None:
        if os.path.isdir(self.container.directory):
            if self.container.exists():
                self.container.stop(timeout=20)
            shutil.rmtree(self.container.directory)

    def _mounts(self) -> tuple[BindMount, ...]:
        data_path = self.settings.main.data_path
        mounts = []
        for m in layout.MOUNTS:
            own = m.sub == CONFIG or m.sub in SCRATCH
            source = os.path.join(self.scratch if own else data_path, m.sub)
            mounts.append(BindMount(source, m.target, read_only=True if m.sub == layout.CLAMAV else m.read_only))
        return tuple(mounts)

    def _prepare_scratch(self) -> tuple[str, str]:
        """config/ copied (owners kept) with a test account added; empty mail, home, spool and dav with the
        owners and modes of the real ones. Returns the test account's address and password."""
        from secumail.mail import store
        from secumail.mail.passwords import hash_password

        data_path = self.settings.main.data_path
        os.makedirs(self.scratch, mode=0o755)  # the container's mapped root walks through it
        subprocess.run(["cp", "-a", os.path.join(data_path, CONFIG), os.path.join(self.scratch, CONFIG)],
                       check=True, capture_output=True)  # fmt: skip
        for sub in SCRATCH:
            _mirror_dirs(os.path.join(data_path, sub), os.path.join(self.scratch, sub), depth=1 if sub != SPOOL else 3)
        address = f"{SELFTEST_USER}@{self.settings.main.domain}"
        password = secrets.token_urlsafe(18)
        accounts = store.load(self.scratch, self.settings.main.domain)
        accounts.users[address] = store.User(address, hash_password(password))
        config = os.path.join(self.scratch, CONFIG)
        before = {n: os.stat(os.path.join(config, n)) for n in os.listdir(config)}
        for name in store.save(self.scratch, accounts):  # owned as the copied originals were
            st = before.get(name)
            if st is not None:
                os.chown(os.path.join(config, name), st.st_uid, st.st_gid)
                os.chmod(os.path.join(config, name), st.st_mode & 0o7777)
        return address, password


def _mirror_dirs(source: str, target: str, depth: int) -> None:
    """`target` with the directories (no files) of `source` down to `depth`, owners and modes kept."""
    base = source.rstrip("/").count("/")
    for root, dirs, _files in os.walk(source):
        rel = os.path.relpath(root, source)
        here = os.path.join(target, rel) if rel != "." else target
        st = os.lstat(root)
        os.makedirs(here, exist_ok=True)
        os.chown(here, st.st_uid, st.st_gid)
        os.chmod(here, st.st_mode & 0o7777)
        if root.count("/") - base >= depth:
            dirs[:] = []


def _switch(settings: Settings, old: Container, dirs: dict[str, str], candidate: str, *, generation: str | None,
            progress: Progress) -> float:
    """Stop the old container, put the candidate image in its place (the old one becomes previous),
    start; seconds from the stop to the SMTP banner. If the new image does not come up, the old one is
    put back and started."""
    from secumail.appliance import lifecycle, ownership
    from secumail.mail import deploy

    current, previous = dirs["current"], dirs["previous"]
    aside = current + ".swap"
    shutil.rmtree(aside, ignore_errors=True)
    progress(f"switching: stopping {settings.main.container}")
    began = time.monotonic()
    old.stop()
    os.rename(current, aside)
    os.rename(candidate, current)
    if os.path.lexists(previous):
        shutil.rmtree(previous)
    os.rename(aside, previous)
    if generation is not None:
        progress(f"config generation {generation} is live again")
        deploy.swap_live(settings.main.data_path, generation)
    try:
        ownership.hand_over(settings, CONFIG)  # the new image's dovecot group reads the password files
        lifecycle.define_and_start(settings, progress)
        lifecycle.wait_for_smtp(settings, timeout=60)
    except BaseException as exc:
        progress(f"the new image did not come up ({exc}): putting the old one back")
        old.stop()
        os.rename(current, aside)
        os.rename(previous, current)
        os.rename(aside, previous)
        ownership.hand_over(settings, CONFIG)
        lifecycle.define_and_start(settings, progress)
        raise
    gap = time.monotonic() - began
    progress(f"the new image serves: SMTP answered {gap:.1f} s after the old one stopped")
    return gap
