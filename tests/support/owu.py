"""A real LuCI on loopback from ../shared/openwrt-userland (ubusd, rpcd, uhttpd, ucode, luci-base), with
luci-app-secumail installed the way its OpenWrt package installs it.

The kit's build.sh builds once into PREFIX (a cache outside the checkout; re-runs are no-ops), start.sh
and stop.sh run one instance per PREFIX. Paths are compiled in, so the app's files go under PREFIX and
the configs (rpcd logins, /etc/config/mailserver) under the run directory.
"""

from __future__ import annotations

import os
import shutil
import subprocess

from tests.support.luciplugin import ACL, APP, MENU, PLUGIN
from tests.support.paths import REPO

KIT = os.path.join(os.path.dirname(REPO), "shared", "openwrt-userland")
PREFIX = os.environ.get("SECUMAIL_OWU_PREFIX", "/var/cache/secumail-test/openwrt-userland")


def missing() -> str | None:
    """Why no LuCI can run here (one line), or None."""
    if not os.path.isfile(os.path.join(KIT, "build.sh")):
        return f"needs the OpenWrt userland kit at {KIT} (../shared/openwrt-userland beside the checkout)"
    return None


def build(log: str) -> None:
    """build.sh into PREFIX (seconds when it is already built); its output goes to `log`."""
    os.makedirs(os.path.dirname(PREFIX), exist_ok=True)
    with open(log, "w") as out:
        done = subprocess.run(["bash", os.path.join(KIT, "build.sh"), PREFIX, "/tmp/secumail-owu-build"],
                              stdout=out, stderr=subprocess.STDOUT, timeout=1800, check=False)  # fmt: skip
    assert done.returncode == 0, f"openwrt-userland build.sh failed (exit {done.returncode}), see {log}"


def install_app() -> None:
    """luci-app-secumail as luci.mk lays it out, relative to PREFIX (a re-run overwrites the same files)."""
    shutil.copytree(os.path.join(APP, "htdocs"), os.path.join(PREFIX, "www"), dirs_exist_ok=True)
    for source, target in ((MENU, "share/luci/menu.d"), (ACL, "share/rpcd/acl.d"), (PLUGIN, "libexec/rpcd")):
        os.makedirs(os.path.join(PREFIX, target), exist_ok=True)
        shutil.copy2(source, os.path.join(PREFIX, target))
    # LuCI caches its menu tree; a stale one would hide a changed menu.d
    shutil.rmtree(os.path.join(PREFIX, "rt", "tmp", "luci-indexcache"), ignore_errors=True)


def start(rundir: str, *, port: int, root_password: str, env: dict[str, str]) -> None:
    """ubusd, rpcd and uhttpd on 127.0.0.1:`port`; rpcd (and so the plugin) gets `env`."""
    stop()  # what a killed earlier run left
    done = subprocess.run(["bash", os.path.join(KIT, "start.sh"), PREFIX], capture_output=True, text=True,
                          env={**env, "OWU_RUNDIR": rundir, "OWU_PORT": str(port),
                               "OWU_ROOT_PASSWORD": root_password, "OWU_HOSTNAME": "secumail-test"},
                          timeout=60, check=False)  # fmt: skip
    assert done.returncode == 0, f"openwrt-userland start.sh failed: {done.stderr.strip()}"


def add_login(rundir: str, user: str, password: str, *, write: bool) -> None:
    """An rpcd login (read on every ACL group, write only if `write`); rpcd reads them at each login."""
    hashed = subprocess.run(["openssl", "passwd", "-6", "-stdin"], input=password, capture_output=True, text=True,
                            check=True).stdout.strip()  # fmt: skip
    with open(os.path.join(rundir, "etc", "config", "rpcd"), "a") as handle:
        handle.write(f"\nconfig login\n\toption username '{user}'\n\toption password '{hashed}'\n\tlist read '*'\n")
        if write:
            handle.write("\tlist write '*'\n")


def stop() -> None:
    subprocess.run(["bash", os.path.join(KIT, "stop.sh"), PREFIX], capture_output=True, env={
        **os.environ, "OWU_KEEP_RUNDIR": "1"}, timeout=60, check=False)  # fmt: skip
