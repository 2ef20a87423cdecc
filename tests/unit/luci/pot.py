"""The translation template of luci-app-secumail: every _('...') of the views and every menu title.

Regenerate after changing a view: python3 -m tests.unit.luci.pot
(test_pot.py fails while luci-app/po/templates/mailserver.pot is out of date).
"""

from __future__ import annotations

import json
import os
import re
import sys

APP = os.path.join(os.path.dirname(__file__), "..", "..", "..", "luci-app")
POT = os.path.join(APP, "po", "templates", "mailserver.pot")
HTDOCS = os.path.join(APP, "htdocs", "luci-static", "resources")
MENU = os.path.join(APP, "root", "usr", "share", "luci", "menu.d", "luci-app-secumail.json")

# _('text') with JS single-quote escapes, or _("text")
_CALL = re.compile(r"""\b_\(\s*(?:'((?:[^'\\\n]|\\.)*)'|"((?:[^"\\\n]|\\.)*)")\s*\)""")


def _unescape(text: str) -> str:
    return re.sub(r"\\(.)", lambda m: {"n": "\n", "t": "\t"}.get(m.group(1), m.group(1)), text)


def js_files() -> list[str]:
    found = []
    for root, _dirs, files in os.walk(HTDOCS):
        found.extend(os.path.join(root, name) for name in files if name.endswith(".js"))
    return sorted(found)


def msgids() -> dict[str, list[str]]:
    """msgid → places ('htdocs/…/overview.js:12') in file order."""
    found: dict[str, list[str]] = {}
    for path in js_files():
        rel = os.path.relpath(path, APP)
        with open(path, encoding="utf-8") as handle:
            for number, line in enumerate(handle, 1):
                for m in _CALL.finditer(line):
                    text = _unescape(m.group(1) if m.group(1) is not None else m.group(2))
                    found.setdefault(text, []).append(f"{rel}:{number}")
    with open(MENU, encoding="utf-8") as handle:
        for node in json.load(handle).values():
            found.setdefault(node["title"], []).append("root/usr/share/luci/menu.d/luci-app-secumail.json")
    return found


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\t", "\\t") + '"'


def render() -> str:
    out = ['msgid ""', 'msgstr "Content-Type: text/plain; charset=UTF-8"', ""]
    for text, places in msgids().items():
        out.extend(f"#: {place}" for place in dict.fromkeys(places))
        out.append(f"msgid {_quote(text)}")
        out.append('msgstr ""')
        out.append("")
    return "\n".join(out)


if __name__ == "__main__":
    os.makedirs(os.path.dirname(POT), exist_ok=True)
    with open(POT, "w", encoding="utf-8") as handle:
        handle.write(render())
    sys.stdout.write(f"{POT}: {len(msgids())} messages\n")
