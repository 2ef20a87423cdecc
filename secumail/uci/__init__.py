"""Pure-Python UCI: OpenWrt's libuci file formats, the ``uci`` CLI and the pyuci API.

``from secumail.uci import Uci`` is a drop-in for OpenWrt's ``from uci import Uci``;
files and delta files it writes are byte-identical to libuci's.
"""

from __future__ import annotations

from .api import Uci
from .errors import UciException, UciExceptionInvalidInput, UciExceptionNotFound

__all__ = ["Uci", "UciException", "UciExceptionInvalidInput", "UciExceptionNotFound"]
