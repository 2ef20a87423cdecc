"""secumaild run as procd runs it: in the foreground, logging to stderr, signalled from outside."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

from tests.support.paths import REPO
from tests.support.procs import descendants, terminate


def write_config(confdir: str, data_path: str, lxc_path: str, extra: str = "", enabled: str = "0") -> None:
    os.makedirs(confdir, exist_ok=True)
    with open(os.path.join(confdir, "mailserver"), "w", encoding="utf-8") as handle:
        handle.write(
            f"config mailserver 'main'\n\toption enabled '{enabled}'\n\toption domain 'example.org'\n"
            f"\toption data_path '{data_path}'\n\toption message_size_limit '50'\n\n"
            f"config container 'container'\n\toption lxc_path '{lxc_path}'\n\n"
            f"config features 'features'\n\toption fail2ban '0'\n" + extra
        )


class Daemon:
    def __init__(self, root: str, env_extra: dict[str, str] | None = None, args: tuple[str, ...] = (),
                 prefix: tuple[str, ...] = (), confdir: str | None = None) -> None:  # fmt: skip
        self.root = root
        self.confdir = confdir or os.path.join(root, "conf")
        self.rundir = os.path.join(root, "run")
        self.data_path = os.path.join(root, "data")
        self.lxc_path = os.path.join(root, "lxc")
        self.log = os.path.join(root, "secumaild.log")
        self.env = dict(os.environ)
        self.env.update({
            "SECUMAIL_RUNDIR": self.rundir,
            "SECUMAIL_SAVEDIR": os.path.join(root, "save"),
            "SECUMAIL_CONFDIR": self.confdir,
            "SECUMAIL_DAEMON_TEST_TASKS": "1",
            "PYTHONPATH": REPO,
        })  # fmt: skip
        self.env.update(env_extra or {})
        self.args = args
        self.prefix = prefix  # e.g. ("ip", "netns", "exec", NAME): secumaild in a network namespace
        self.proc: subprocess.Popen | None = None

    def start(self) -> Daemon:
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                [*self.prefix, sys.executable, "-m", "secumail.daemon", "--foreground", "--confdir", self.confdir,
                 "--stderr", "--debug", *self.args],
                stdout=log, stderr=log, env=self.env, cwd=self.root,
            )  # fmt: skip
        self.wait_for(lambda: self.call("daemon.info"), what="the control socket")
        return self

    def call(self, method: str, params: dict | None = None):
        old = os.environ.get("SECUMAIL_RUNDIR")
        os.environ["SECUMAIL_RUNDIR"] = self.rundir
        try:
            from secumail.daemon.client import call

            return call(method, params, timeout=10)
        finally:
            if old is None:
                os.environ.pop("SECUMAIL_RUNDIR", None)
            else:
                os.environ["SECUMAIL_RUNDIR"] = old

    def mailctl(self, *args: str, env: dict[str, str] | None = None, input: str | None = None):
        full = dict(self.env)
        full.update(env or {})
        return subprocess.run([sys.executable, "-m", "secumail.cli", *args], capture_output=True, text=True,
                              env=full, input=input, timeout=120)  # fmt: skip

    def wait_for(self, predicate, timeout: float = 20.0, what: str = "condition"):
        end = time.monotonic() + timeout
        last = None
        while time.monotonic() < end:
            if self.proc is not None and self.proc.poll() is not None:
                raise AssertionError(f"secumaild exited with {self.proc.returncode}:\n{self.logtext()[-3000:]}")
            try:
                value = predicate()
                if value:
                    return value
            except Exception as exc:  # noqa: BLE001 - keep polling
                last = exc
            time.sleep(0.05)
        raise AssertionError(f"timed out waiting for {what} ({last}):\n{self.logtext()[-3000:]}")

    def wait_job(self, job_id: str, timeout: float = 60.0) -> dict:
        return self.wait_for(lambda: (lambda j: j if j["state"] in ("done", "failed") else None)(
            self.call("jobs.show", {"id": job_id})), timeout, f"job {job_id}")  # fmt: skip

    def logtext(self) -> str:
        with open(self.log, encoding="utf-8", errors="replace") as handle:
            return handle.read()

    def children(self) -> list[int]:
        assert self.proc is not None
        return descendants(self.proc.pid)

    def signal(self, sig: int) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)

    def stop(self) -> int | None:
        return terminate(self.proc, 30)


def dump(data) -> str:
    return json.dumps(data, sort_keys=True)
