"""Debian packages a test world needs, installed on first use (`make deps` installs them up front).

One lock around apt-get: integration worlds run side by side (make test), and two apt-get at once
fail on dpkg's lock.
"""

from __future__ import annotations

import fcntl
import os
import subprocess
from collections.abc import Sequence

LOCK = "/var/lock/secumail-tests-apt.lock"
_updated = False


def missing(packages: Sequence[str]) -> list[str]:
    def installed(name: str) -> bool:
        query = subprocess.run(["dpkg-query", "-W", "-f=${Status}", name], capture_output=True, text=True)
        return query.stdout.strip() == "install ok installed"

    return [name for name in packages if not installed(name)]


def install(packages: Sequence[str]) -> str | None:
    """apt-get install what is missing (apt-get update once first if that fails); why not, or None."""
    global _updated
    if not missing(packages):
        return None
    if os.geteuid() != 0:
        return f"needs root to install {' '.join(missing(packages))}"
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    with open(LOCK, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        todo = missing(packages)  # another worker may have installed them meanwhile
        if not todo:
            return None
        command = ["apt-get", "install", "-y", "-q", "--no-install-recommends", *todo]
        done = subprocess.run(command, capture_output=True, env=env, timeout=1200)
        if done.returncode != 0 and not _updated:
            subprocess.run(["apt-get", "update", "-q"], capture_output=True, env=env, timeout=600)
            _updated = True
            done = subprocess.run(command, capture_output=True, env=env, timeout=1200)
    if done.returncode != 0 or missing(todo):
        return f"cannot install {' '.join(todo)}: {done.stderr.decode(errors='replace')[-300:]}"
    return None
