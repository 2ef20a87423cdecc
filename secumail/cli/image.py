"""mailctl image build|export|import: make a container image on a PC (any router's CPU) or move the installed
one, for a router that has no debootstrap, no room or no time to build its own."""

from __future__ import annotations

import argparse

from secumail.cli.base import group, operation


def register(sub: argparse._SubParsersAction) -> None:
    cmds = group(sub, "image", "build, export or import the container image (packages only, no state)")
    p = operation(
        cmds, "build", "image.build", "build the Debian mail image (for --arch, e.g. arm64 on a PC) into FILE"
    )
    p.add_argument("file")
    p.add_argument("--arch", help="Debian architecture (default: mailserver.container.arch, else this machine's)")
    p = operation(cmds, "export", "image.export", "write the installed image to FILE (.tar.zst or .tar.gz)")
    p.add_argument("file")
    p = operation(cmds, "import", "image.import", "install the image in FILE (the mail server must be stopped)")
    p.add_argument("file")
