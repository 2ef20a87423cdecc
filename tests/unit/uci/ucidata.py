"""The uci tests' sample config and an in-process run of the uci CLI."""

from __future__ import annotations

import io

from secumail.uci import cli

SAMPLE = b"""config settings 'main'
\toption domain 'example.com'
\toption port '25'
\toption enabled 'yes'
\tlist peer 'alpha'
\tlist peer 'beta'

config rule
\toption name 'first'
\toption target 'ACCEPT'

config rule
\toption name 'second'
\toption target 'DROP'

config zone 'lan'
\toption network 'lan'
\toption addr '192.0.2.1'
\toption addr6 '2001:db8::1'
"""


def run_cli(*argv: str) -> tuple:
    """(rc, stdout bytes, stderr bytes) of the uci CLI run in-process."""
    out, err = io.BytesIO(), io.BytesIO()
    rc = cli.main(list(argv), stdout=out, stderr=err)
    return rc, out.getvalue(), err.getvalue()
