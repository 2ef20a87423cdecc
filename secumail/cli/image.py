"""mailctl image export|import: move a built container image to a router without debootstrap."""

from __future__ import annotations

import argparse

from secumail.cli.base import group, operation


def register(sub: argparse._SubParsersAction) -> None:
    cmds = group(sub, "image", "export or import the container image (packages only, no state)")
    p = operation(cmds, "export", "image.export", "write the installed image to FILE (.tar.zst or .tar.gz)")
    p.add_argument("file")
    p = operation(cmds, "import", "image.import", "install the image in FILE (the mail server must be stopped)")
    p.add_argument("file")
