"""mailctl image export|import: move a built container image to a router without debootstrap."""

from __future__ import annotations

import argparse
from typing import Any

from secumail.cli.base import Context, command, group, stderr_progress


def register(sub: argparse._SubParsersAction) -> None:
    cmds = group(sub, "image", "export or import the container image (packages only, no state)")
    p = command(cmds, "export", export, "write the installed image to FILE (.tar.zst or .tar.gz)")
    p.add_argument("file")
    p = command(cmds, "import", import_, "install the image in FILE (the mail server must be stopped)")
    p.add_argument("file")


def export(ctx: Context, args: argparse.Namespace) -> Any:
    from secumail.container import service

    return service.image_export(ctx.settings, args.file, stderr_progress())


def import_(ctx: Context, args: argparse.Namespace) -> Any:
    from secumail.container import service

    return service.image_import(ctx.settings, args.file, stderr_progress())
