"""The OpenWrt userland kit of ../shared/openwrt-userland (pinned libubox, ubus, uci, ucode, rpcd, uhttpd,
LuCI sources with build.sh), built once into a cache directory outside the checkout, and the OpenWrt shell
library (rc.common, functions.sh, procd.sh), which the kit does not hold.

Each returns (value, None) or (None, one line saying what is missing) for the caller's pytest.skip.
"""

from __future__ import annotations

import fcntl
import os
import subprocess

from tests.support.paths import REPO

KIT = os.path.join(os.path.dirname(REPO), "shared", "openwrt-userland")
PREFIX = "/var/cache/secumail-test/owu-procd"  # build.sh compiles its paths in: never move it
BUILD_DIR = "/var/cache/secumail-test/owu-procd-build"
LOCK = "/var/lock/secumail-tests-owu.lock"

# Where OpenWrt keeps the shell side of procd in its source tree, and where a router has each file.
# None of these is in the kit (they are in openwrt/openwrt's base-files, uci and procd packages).
OPENWRT_SHELL = {
    "package/base-files/files/etc/rc.common": "etc/rc.common",
    "package/base-files/files/lib/functions.sh": "lib/functions.sh",
    "package/base-files/files/lib/functions/service.sh": "lib/functions/service.sh",
    "package/system/uci/files/lib/config/uci.sh": "lib/config/uci.sh",
    "package/system/procd/files/procd.sh": "lib/functions/procd.sh",
}


def kit_prefix() -> tuple[str | None, str | None]:
    """The kit's install prefix (bin/jshn, bin/uci, share/libubox/jshn.sh, ...), built on first use (~50 s)."""
    if not os.path.isfile(os.path.join(KIT, "build.sh")):
        return None, f"needs the OpenWrt userland kit at {KIT} (../shared/openwrt-userland): absent"
    if os.geteuid() != 0:
        return None, "needs root to build the OpenWrt userland kit (build.sh installs its build packages)"
    os.makedirs(os.path.dirname(PREFIX), exist_ok=True)
    with open(LOCK, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # two workers building one prefix would break it
        built = subprocess.run([os.path.join(KIT, "build.sh"), PREFIX, BUILD_DIR], capture_output=True,
                               text=True, timeout=1800)  # fmt: skip
    if built.returncode != 0:
        return None, f"the OpenWrt userland kit did not build: {(built.stdout + built.stderr)[-300:]}"
    return PREFIX, None


def openwrt_shell() -> tuple[dict[str, str] | None, str | None]:
    """{path on the router: file in an OpenWrt source tree} for rc.common, functions.sh, service.sh, uci.sh and
    procd.sh, from the checkout named by OPENWRT_SRC."""
    tree = os.environ.get("OPENWRT_SRC", "")
    if not tree:
        return None, ("needs OpenWrt's rc.common/functions.sh/procd.sh, which ../shared/openwrt-userland lacks: "
                      "set OPENWRT_SRC to an openwrt/openwrt checkout")  # fmt: skip
    files = {dest: os.path.join(tree, source) for source, dest in OPENWRT_SHELL.items()}
    missing = [path for path in files.values() if not os.path.isfile(path)]
    if missing:
        return None, f"OPENWRT_SRC={tree} is not an OpenWrt source tree: no {missing[0]}"
    return files, None
