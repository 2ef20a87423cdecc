"""Makefile.openwrt follows the SDK's conventions; the init script is procd-shaped and parses."""

import json
import os
import re
import shutil
import subprocess

import pytest

from tests.support.paths import REPO

MAKEFILE = os.path.join(REPO, "Makefile.openwrt")
INIT = os.path.join(REPO, "files", "etc", "init.d", "mailserver")


def read(path):
    with open(path, encoding="utf-8") as handle:
        return handle.read()


def variables(text):
    return dict(re.findall(r"^([A-Z_]+)\s*[:?]?=\s*(.*)$", text, re.M))


def test_makefile_has_required_variables_and_calls():
    text = read(MAKEFILE)
    v = variables(text)
    for name in ("PKG_NAME", "PKG_VERSION", "PKG_RELEASE", "PKG_LICENSE", "PKG_MAINTAINER"):
        assert v.get(name), name
    assert v["PKG_NAME"] == "secumail"
    assert text.index("include $(TOPDIR)/rules.mk") < text.index("include $(INCLUDE_DIR)/package.mk")
    assert "python3-package.mk" in text
    for call in ("$(eval $(call Py3Package,secumail))", "$(eval $(call BuildPackage,secumail))",
                 "$(eval $(call BuildPackage,secumail-src))"):  # fmt: skip
        assert call in text
    conffiles = re.search(r"define Package/secumail/conffiles\n(.*?)endef", text, re.S).group(1)
    assert "/etc/config/mailserver" in conffiles.split()
    deps = re.search(r"\n  DEPENDS:=(.*?)\nendef", text, re.S).group(1)
    for dep in ("+python3-light", "+python3-uci", "+python3-cryptography", "+python3-dns", "+python3-zeroconf",
                "+python3-bcrypt", "+lxc-start", "+lxc-attach", "+kmod-veth"):  # fmt: skip
        assert dep in deps.split(), dep


def test_every_installed_file_exists_in_the_tree():
    text = read(MAKEFILE)
    block = re.search(r"define Py3Package/secumail/install\n(.*?)endef", text, re.S).group(1)
    sources = re.findall(r"\$\(INSTALL_(?:BIN|CONF|DATA)\)\s+(\S+)\s+\S+", block)
    assert len(sources) >= 5
    with open(os.path.join(REPO, "setup.py"), encoding="utf-8") as handle:
        setup_py = handle.read()
    for source in sources:
        if source.startswith("$(SECUMAIL_SRC)/"):
            path = os.path.join(REPO, source[len("$(SECUMAIL_SRC)/") :])
            assert os.path.isfile(path), f"{source} is installed but {path} does not exist"
        elif source.startswith("$(PKG_INSTALL_DIR)/usr/bin/"):
            script = source.rsplit("/", 1)[1]
            assert re.search(rf'"{script}=secumail[\w.]*:\w+"', setup_py), f"no console script {script}"
        else:
            pytest.fail(f"unexpected install source {source}")


def test_pypi_recipes_for_what_openwrt_lacks():
    for name in ("acme", "josepy", "paramiko"):
        text = read(os.path.join(REPO, "openwrt", f"python-{name}", "Makefile"))
        v = variables(text)
        assert v["PKG_NAME"] == f"python-{name}"
        assert re.fullmatch(r"[0-9a-f]{64}", v["PKG_HASH"])
        assert "pypi.mk" in text and f"$(eval $(call Py3Package,python3-{name}))" in text


def test_init_script_parses_and_has_procd_shape():
    sh = shutil.which("sh")
    assert sh
    result = subprocess.run([sh, "-n", INIT], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    text = read(INIT)
    assert text.startswith("#!/bin/sh /etc/rc.common\n")
    assert re.search(r"^USE_PROCD=1$", text, re.M)
    assert re.search(r"^START=\d+$", text, re.M)
    for needle in ("start_service()", "service_triggers()", "reload_service()", "procd_open_instance",
                   "procd_set_param command /usr/bin/secumaild", "procd_set_param respawn", "procd_set_param stdout 1",
                   "procd_set_param stderr 1", "procd_close_instance", "procd_add_reload_trigger mailserver",
                   "procd_add_mdns"):  # fmt: skip
        assert needle in text.replace('"$PROG"', "/usr/bin/secumaild"), needle
    for name in re.findall(r'^extra_command "(\w+)"', text, re.M):
        assert re.search(rf"^{name}\(\) {{", text, re.M), f"extra_command {name} has no function"


def test_uci_defaults_script_parses():
    path = os.path.join(REPO, "files", "etc", "uci-defaults", "90-secumail")
    result = subprocess.run(["sh", "-n", path], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert read(path).rstrip().endswith("exit 0")


STUBS = r"""
extra_command() { :; }
config_load() { :; }
config_get_bool() { eval "$1=\${CFG_$2_$3:-$4}"; }
config_get() { eval "$1=\${CFG_$2_$3:-$4}"; }
procd_open_instance() { echo "open $*"; }
procd_set_param() { :; }
procd_close_instance() { echo close; }
procd_add_mdns() { echo "mdns $*"; }
"""


def _start_service(tmp_path, mesh_enabled: str) -> str:
    fake = tmp_path / "mailctl"
    fake.write_text('#!/bin/sh\n[ "$1 $2 $3" = "--json mesh id" ] || exit 2\n'
                    'echo \'{"node_id": "AB12-CD34-EF56"}\'\n')  # fmt: skip
    fake.chmod(0o755)
    script = (STUBS + f". {INIT}\nMAILCTL={fake}\nCFG_mesh_enabled={mesh_enabled}\nCFG_mesh_port=7022\n"
              "start_service\n")  # fmt: skip
    result = subprocess.run(["sh", "-c", script], capture_output=True, text=True, timeout=10,
                            env={"PATH": "/usr/bin:/bin"})  # fmt: skip
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_init_script_announces_the_node_id_by_mdns_only_when_mesh_is_enabled(tmp_path):
    on = _start_service(tmp_path, "1")
    assert "mdns secumail tcp 7022 id=AB12-CD34-EF56 v=1" in on
    assert on.index("open secumaild") < on.index("mdns") < on.index("close")
    off = _start_service(tmp_path, "0")
    assert "mdns" not in off and "close" in off


def _uci_defaults(tmp_path, config: str) -> str:
    """Run files/etc/uci-defaults/90-secumail against `config` with this project's uci CLI as `uci`;
    the resulting /etc/config/mailserver text."""
    import sys

    confdir = tmp_path / "config"
    confdir.mkdir(parents=True)
    (confdir / "mailserver").write_text(config)
    bindir = tmp_path / "bin"
    bindir.mkdir()
    # its own change dir too: the default /tmp/.uci is shared with tests running beside this one
    delta = tmp_path / "delta"
    uci = f'#!/bin/sh\nPYTHONPATH={REPO} exec {sys.executable} -m secumail.uci -c {confdir} -t {delta} "$@"\n'
    (bindir / "uci").write_text(uci)
    (bindir / "uci").chmod(0o755)
    script = read(os.path.join(REPO, "files", "etc", "uci-defaults", "90-secumail"))
    script = script.replace(". /lib/functions.sh", ":").replace("/var/run/secumail", str(tmp_path / "run"))
    result = subprocess.run(["sh", "-c", script], capture_output=True, text=True, timeout=60,
                            env={"PATH": f"{bindir}:/usr/bin:/bin"})  # fmt: skip
    assert result.returncode == 0, result.stderr
    return (confdir / "mailserver").read_text()


def test_uci_defaults_moves_the_old_shipped_memory_limit_to_auto_when_the_spam_filter_is_on(tmp_path):
    old = (
        "config mailserver 'main'\n\toption domain 'example.org'\n\n"
        "config container 'container'\n\toption memory '256'\n"
    )
    assert "option memory 'auto'" in _uci_defaults(tmp_path / "on", old)
    off = old + "\nconfig features 'features'\n\toption spam_filter '0'\n"
    assert "option memory '256'" in _uci_defaults(tmp_path / "off", off)  # the light path fits in 256
    chosen = old.replace("'256'", "'1024'")
    assert "option memory '1024'" in _uci_defaults(tmp_path / "chosen", chosen)
    # and the protection section exists afterwards, like every other
    assert "config protection 'protection'" in _uci_defaults(tmp_path / "sections", old)


# How the package's own tree (files/) is installed: by its path under files/, with the mode the runtime needs.
# init.d and uci-defaults are executed; hotplug-call sources the hotplug.d scripts; etc/config is a conffile.
MODES = {"etc/config/": "CONF", "etc/init.d/": "BIN", "etc/uci-defaults/": "BIN", "etc/hotplug.d/": "DATA"}


def _tracked(prefix: str) -> list[str]:
    listed = subprocess.run(["git", "-C", REPO, "ls-files", prefix], capture_output=True, text=True, check=True)
    return listed.stdout.split()


def _installed() -> dict[str, tuple[str, str]]:
    """{path on the router: (INSTALL_ macro, source)} from Makefile.openwrt's install block."""
    block = re.search(r"define Py3Package/secumail/install\n(.*?)endef", read(MAKEFILE), re.S).group(1)
    found = re.findall(r"\$\(INSTALL_(BIN|CONF|DATA)\)\s+(\S+)\s+\$\(1\)(\S+)", block)
    return {dest: (macro, source) for macro, source, dest in found}


def test_makefile_installs_exactly_the_files_the_package_needs():
    needed = {"/usr/bin/mailctl": "BIN", "/usr/bin/secumaild": "BIN"}  # console scripts (setup.py)
    for path in _tracked("files"):
        rel = os.path.relpath(path, "files")
        mode = next((m for prefix, m in MODES.items() if rel.startswith(prefix)), None)
        assert mode, f"{path} is in the package tree but no rule says how it is installed"
        needed["/" + rel] = mode
    installed = _installed()
    assert sorted(installed) == sorted(needed)  # nothing missing, nothing extra
    for dest, (macro, source) in installed.items():
        assert macro == needed[dest], f"{dest} installed with INSTALL_{macro}, needs INSTALL_{needed[dest]}"
        if not dest.startswith("/usr/bin/"):
            assert source == "$(SECUMAIL_SRC)/files" + dest, f"{dest} comes from {source}"
    # every path the runtime names for itself is one of them
    init = read(INIT)
    for name in ("PROG", "MAILCTL"):
        assert re.search(rf"^{name}=(\S+)$", init, re.M).group(1) in installed, name
    from secumail.daemon import launcher

    assert launcher.INIT_SCRIPT in installed
    conffiles = re.search(r"define Package/secumail/conffiles\n(.*?)endef", read(MAKEFILE), re.S).group(1)
    assert {p for p in conffiles.split() if not p.endswith("/")} <= set(installed)


def test_the_python_package_ships_every_module_and_template():
    """Py3Package installs what setup.py declares: each module's package and each data file must be in it."""
    from fnmatch import fnmatch

    from setuptools import find_packages

    packages = set(find_packages(where=REPO, include=["secumail", "secumail.*"]))
    setup_py = read(os.path.join(REPO, "setup.py"))
    assert 'find_packages(include=["secumail", "secumail.*"])' in setup_py
    globs = re.search(r'package_data=\{"secumail": \[(.*?)\]\}', setup_py).group(1)
    globs = re.findall(r'"([^"]+)"', globs)
    for path in _tracked("secumail"):
        if path.endswith(".py") and not path.startswith("secumail/mail/templates/"):  # templates: data, below
            assert os.path.dirname(path).replace("/", ".") in packages, f"{path} is in no package"
        else:
            rel = os.path.relpath(path, "secumail")
            # setuptools' globs do not cross a directory: "*" matches within one path component
            assert any(fnmatch(rel, g) and rel.count("/") == g.count("/") for g in globs), f"{path} is not shipped"


def test_the_luci_package_ships_plugin_acl_and_menu_that_agree():
    """luci.mk installs luci-app/root/ as it is and htdocs/ under /www: names and modes must agree there."""
    luci = os.path.join(REPO, "luci-app")
    assert "+secumail" in variables(read(os.path.join(luci, "Makefile")))["LUCI_DEPENDS"].split()
    staged = subprocess.run(["git", "-C", REPO, "ls-files", "-s", "luci-app/root"], capture_output=True, text=True,
                            check=True).stdout  # fmt: skip
    modes = {words[3]: words[0] for words in map(str.split, staged.splitlines())}
    plugins = [p for p in modes if p.startswith("luci-app/root/usr/libexec/rpcd/")]
    assert plugins and all(modes[p] == "100755" for p in plugins), "rpcd runs the plugins: they must be executable"
    objects = {os.path.basename(p) for p in plugins}
    with open(os.path.join(luci, "root/usr/share/rpcd/acl.d/luci-app-secumail.json"), encoding="utf-8") as handle:
        acl = json.load(handle)
    granted = {
        obj for grant in acl.values() for side in ("read", "write") for obj in grant.get(side, {}).get("ubus", {})
    }
    assert granted == objects
    with open(os.path.join(luci, "root/usr/share/luci/menu.d/luci-app-secumail.json"), encoding="utf-8") as handle:
        menu = json.load(handle)
    assert {acl_name for entry in menu.values() for acl_name in entry.get("depends", {}).get("acl", [])} <= set(acl)
    for entry in menu.values():
        if entry["action"]["type"] == "view":
            view = os.path.join(luci, "htdocs/luci-static/resources/view", entry["action"]["path"] + ".js")
            assert os.path.isfile(view), f"menu names view {entry['action']['path']} but {view} is absent"
