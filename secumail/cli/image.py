"""mailctl image export|import: move a built container image to a router without debootstrap."""

from __future__ import annotations

import argparse

from secumail.cli.base import command, group, pending

IMAGE = "image export/import (the mail container)"


def register(sub: argparse._SubParsersAction) -> None:
    cmds = group(sub, "image", "export or import the container image (packages only, no state)")
    p = command(cmds, "export", pending(IMAGE), "write the image to a tarball (zstd or gzip)")
    p.add_argument("file")
    p = command(cmds, "import", pending(IMAGE), "install an image from a tarball")
    p.add_argument("file")
