"""Shape of the LuCI app: ACL and menu JSON, views that parse, call only listed methods, cover every UCI option."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess

import pytest

from secumail.config.settings import SECTIONS
from tests.support.luciplugin import ACL, MENU, PLUGIN, RESOURCES, VIEWS
from tests.unit.luci import pot

_DECLARE = re.compile(r"rpc\.declare\(\{\s*object:\s*'([^']+)',\s*method:\s*'([^']+)'(?:,\s*params:\s*\[([^\]]*)\])?")
_CALLS = re.compile(r"ms\.(?:call|fetch|runJob)\(\s*'([A-Za-z]+)'")
PAGES = ["overview", "setup", "settings", "accounts", "imports", "dns", "reports", "certificates", "mesh", "logs",
         "diagnose"]


def _js_files() -> list[str]:
    return pot.js_files()


def _read(path: str) -> str:
    with open(path, encoding="utf-8") as handle:
        return handle.read()


def _plugin_list() -> dict:
    out = subprocess.run([PLUGIN, "list"], capture_output=True, text=True, check=True).stdout
    return json.loads(out)


def _declared() -> dict[str, list[str]]:
    """method → params of every rpc.declare in the app's JavaScript."""
    found: dict[str, list[str]] = {}
    for path in _js_files():
        for obj, method, params in _DECLARE.findall(_read(path)):
            assert obj == "luci.mailserver", f"{path} declares {obj}.{method}"
            found[method] = re.findall(r"'([^']+)'", params or "")
    return found


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
@pytest.mark.parametrize("path", _js_files(), ids=os.path.basename)
def test_every_js_file_parses(path):
    proc = subprocess.run(["node", "--check", path], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr


def test_views_follow_luci_client_side_shape():
    for page in PAGES:
        text = _read(os.path.join(VIEWS, f"{page}.js"))
        assert text.startswith("'use strict';\n'require view';"), page
        assert "return view.extend({" in text, page


def test_views_declare_exactly_the_methods_the_plugin_lists_with_its_argument_names():
    listed = _plugin_list()
    declared = _declared()
    assert set(declared) == set(listed), (set(declared) ^ set(listed))
    for method, params in declared.items():
        assert params == list(listed[method]), method


def test_views_only_call_declared_methods_and_every_method_is_used():
    declared = set(_declared())
    called, mentioned = set(), set()
    for path in _js_files():
        text = "\n".join(line for line in _read(path).splitlines() if "rpc.declare(" not in line)
        called.update(_CALLS.findall(text))
        mentioned.update(word for word in re.findall(r"'([A-Za-z]+)'", text) if word in declared)
    assert called <= declared, called - declared
    assert declared <= mentioned, f"declared but never used: {declared - mentioned}"


def test_acl_grants_exactly_the_listed_methods_split_read_write():
    with open(ACL) as handle:
        acl = json.load(handle)
    assert list(acl) == ["luci-app-secumail"]
    group = acl["luci-app-secumail"]
    assert set(group) == {"description", "read", "write"} and group["description"]
    read = group["read"]["ubus"]["luci.mailserver"]
    write = group["write"]["ubus"]["luci.mailserver"]
    assert set(group["read"]["ubus"]) == {"luci.mailserver"} and set(group["write"]["ubus"]) == {"luci.mailserver"}
    assert group["read"]["uci"] == ["mailserver"] and group["write"]["uci"] == ["mailserver"]
    assert not set(read) & set(write)
    assert set(read) | set(write) == set(_declared()) == set(_plugin_list())
    # everything that changes the server is write-only; read-only users see status
    for method in ("userAdd", "userPasswd", "domainDel", "aliasAdd", "serviceAction", "install", "certIssue",
                   "dnsApply", "meshAddPeer", "meshRestore", "queueDeleteAll"):
        assert method in write, method
    for method in ("getStatus", "listUsers", "getCertStatus", "listPeers", "getLogs", "jobShow"):
        assert method in read, method


def test_menu_entries_point_at_existing_views_gated_by_the_acl():
    with open(MENU) as handle:
        menu = json.load(handle)
    root = menu.pop("admin/services/mailserver")
    assert root["title"] == "Mail Server"
    assert root["action"] == {"type": "firstchild"}
    assert root["depends"] == {"acl": ["luci-app-secumail"]}
    assert sorted(menu) == sorted(f"admin/services/mailserver/{page}" for page in PAGES)
    orders = []
    for key, node in menu.items():
        assert set(node) == {"title", "order", "action"}, key
        assert node["action"]["type"] == "view"
        assert os.path.isfile(os.path.join(RESOURCES, "view", node["action"]["path"] + ".js")), key
        orders.append(node["order"])
    assert len(set(orders)) == len(orders)


def _settings_sections() -> dict[str, tuple[str, dict[str, str | None]]]:
    """uci name → (uci type, {option: default}) as settings.js declares them."""
    text = _read(os.path.join(VIEWS, "settings.js"))
    body = text[text.index("render: function("):]
    parts = re.split(r"s = m\.section\(form\.(\w+), '(\w+)'(?:, '(\w+)')?", body)[1:]
    found = {}
    for i in range(0, len(parts), 4):
        kind, name, utype, block = parts[i : i + 4]
        if kind != "NamedSection":
            continue
        options: dict[str, str | None] = {}
        for m in re.finditer(r"\b(flag|value|choice|list)\(s, '(\w+)', [^,]+(?:, '([^']*)')?", block):
            options[m.group(2)] = m.group(3) if m.group(1) != "list" else None
        for m in re.finditer(r"\[ '(\w+)', _\('[^']*'\), '([^']*)' \]", block):
            options[m.group(1)] = m.group(2)
        found[name] = (utype, options)
    return found


def test_settings_form_has_every_uci_option_with_the_agents_default():
    form = _settings_sections()
    assert set(form) == {spec.uci_name for spec in SECTIONS}
    for spec in SECTIONS:
        utype, options = form[spec.uci_name]
        assert utype == spec.uci_type, spec.uci_name
        assert set(options) == set(spec.options()), (spec.uci_name, set(options) ^ set(spec.options()))
        for name, default in options.items():
            want = spec.options()[name].metadata["uci_default"]
            if default is not None:  # lists have no default
                assert default == want, f"{spec.uci_name}.{name}: form {default!r}, agent {want!r}"
    text = _read(os.path.join(VIEWS, "settings.js"))
    assert "form.Map('mailserver'" in text and "form.GridSection, 'peer'" in text


def test_settings_form_edits_every_relay_option_but_never_a_password():
    from secumail.config.settings import Relay

    text = _read(os.path.join(VIEWS, "settings.js"))
    grid = text[text.index("form.GridSection, 'relay'"):]
    grid = grid[: grid.index("m.render()")]
    options = set(re.findall(r"s\.option\(form\.\w+, '(\w+)'", grid))
    assert options == set(Relay.options())
    assert "password" not in options  # set through relayAdd into a 0600 file, never UCI


def test_translation_template_is_up_to_date():
    with open(pot.POT, encoding="utf-8") as handle:
        assert handle.read() == pot.render(), "run: python3 -m tests.unit.luci.pot"
