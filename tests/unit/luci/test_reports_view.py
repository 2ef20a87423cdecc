"""The Reports page renders what `getReports` returns: run reports.js in node with LuCI's pieces stubbed."""

from __future__ import annotations

import json
import os
import shutil
import subprocess

import pytest

from secumail.mail.reports.collect import collect
from tests.support.luciplugin import VIEWS
from tests.support.settings import mail_settings
from tests.unit.mail.test_reports_cli import build_mailbox

# view.extend, E(), _(), String.prototype.format and the mailserver.common helpers the page uses,
# reduced to a tree of text; the page's render() output is flattened to its text lines.
RUNNER = r"""
const fs = require('fs');
global._ = s => s;
String.prototype.format = function(...args) { let i = 0; return this.replace(/%s|%d/g, () => String(args[i++])); };
global.E = (tag, attrs, children) => ({ tag, attrs: attrs || {}, children: [].concat(children || []) });
global.L = { bind: (fn, self, ...a) => fn.bind(self, ...a) };
const view = { extend: proto => proto };
const ui = { createHandlerFn: (self, name) => () => self[name] };
const ms = {
  fetch: () => Promise.resolve({}),
  notifyError: () => {},
  readOnlyNote: () => '',
  errorBox: msg => E('div', { 'class': 'alert' }, [ msg ]),
  table: (headers, rows, empty) => E('table', {}, [ E('tr', {}, headers) ].concat(
    rows.length ? rows.map(r => E('tr', {}, r)) : [ E('tr', {}, [ empty ]) ]))
};
const page = new Function('view', 'ui', 'ms', fs.readFileSync(process.argv[1], 'utf8'))(view, ui, ms);
const text = node => {
  if (node == null || node === '') return '';
  if (typeof node !== 'object') return String(node);
  const inner = node.children.map(text);
  return node.tag === 'tr' ? inner.join(' | ') + '\n' : inner.join(node.tag === 'span' ? '' : '\n');
};
const out = text(page.render(JSON.parse(fs.readFileSync(0, 'utf8'))));
process.stdout.write(out.split('\n').map(l => l.trim()).filter(Boolean).join('\n'));
"""


def _render(data: dict) -> list[str]:
    proc = subprocess.run(["node", "-e", RUNNER, os.path.join(VIEWS, "reports.js")], input=json.dumps(data),
                          capture_output=True, text=True, check=True)
    return proc.stdout.splitlines()


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
def test_reports_page_shows_sources_tls_failures_notes_and_refusals(tmp_path):
    data = tmp_path / "data"
    build_mailbox(data)
    result = json.loads(json.dumps(collect(mail_settings(data), 30)))
    # every domain's rua reaches admin (example.net's through its RFC 2142 postmaster role): add a note to show
    assert result["notes"] == []
    result["notes"] = ["example.net: reports go to postmaster@example.net, which is no mailbox here"]
    lines = _render(result)
    assert "Source address | Domain | Messages | SPF | DKIM | DMARC | Disposition | Reported by" in lines
    assert "198.51.100.9 | example.org | 3 | 0/3 | 0/3 | 0/3 | quarantine 3 | google.com" in lines
    assert "203.0.113.7 | example.org | 24 | 24/0 | 24/0 | 24/0 | none 24 | google.com, Enterprise Outlook" in lines
    assert ("example.org | sts | 40 | 3 | certificate-expired 2, starttls-not-supported 1 | Google Inc.") in lines
    assert any(line.startswith("example.net: reports go to postmaster@example.net") for line in lines)
    assert any(line.endswith("evil.xml.gz: XML with a DOCTYPE (DTDs and entities are refused)") for line in lines)
    assert "2 report(s) on 27 message(s): 24 passed DMARC, 3 failed." in " ".join(lines)


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
def test_reports_page_with_nothing_and_with_an_error():
    empty = {"days": 30, "since": "x", "first": None, "last": None, "mailboxes": [], "notes": [], "refused": [],
             "dmarc": {"reports": 0, "messages": 0, "dmarc_pass": 0, "dmarc_fail": 0, "sources": [], "orgs": []},
             "tls": {"reports": 0, "successful": 0, "failed": 0, "domains": []}}
    lines = _render(empty)
    assert "Reports period: no report in this period. Read from: no mailbox." in lines
    assert "No DMARC report in this period" in lines and "No TLS-RPT report in this period" in lines
    assert "Refused reports" not in lines
    assert "days: 0 is out of range (1-366)" in _render({"error": "days: 0 is out of range (1-366)"})
