"""The QR encoder, checked by decoding its output with zbar (Debian's zbar-tools) when it is installed."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from secumail.errors import InputError
from secumail.system.qrcode import ec_codewords, encode, svg


def _pgm(grid: list[list[bool]], path, scale: int = 4) -> None:
    border = 4
    side = (len(grid) + 2 * border) * scale

    def dark(x: int, y: int) -> bool:
        gx, gy = x // scale - border, y // scale - border
        return 0 <= gx < len(grid) and 0 <= gy < len(grid) and grid[gy][gx]

    pixels = bytes(0 if dark(x, y) else 255 for y in range(side) for x in range(side))
    path.write_bytes(b"P5 %d %d 255\n" % (side, side) + pixels)


def test_reed_solomon_matches_the_standards_worked_example():
    # ISO/IEC 18004 annex: "01234567" at 1-M, data codewords and their 10 EC codewords
    data = [0x10, 0x20, 0x0C, 0x56, 0x61, 0x80, 0xEC, 0x11, 0xEC, 0x11, 0xEC, 0x11, 0xEC, 0x11, 0xEC, 0x11]
    assert ec_codewords(data, 10) == [0xA5, 0x24, 0xD4, 0xC1, 0xED, 0x36, 0xC7, 0x87, 0x2C, 0x55]


@pytest.mark.parametrize(("text", "level", "size"), [
    ("hi", "M", 21),
    ("https://mail.example.test/cgi-bin/luci/admin/services/mailserver/profile?t=abc123", "M", 37),
    ("x" * 200, "L", 53),   # version 9: version information blocks
    ("y" * 200, "M", 57),   # version 10: 16-bit length, two block sizes
])
def test_zbar_reads_back_what_was_encoded(tmp_path, text, level, size):
    grid = encode(text, level=level)
    assert len(grid) == size
    if shutil.which("zbarimg") is None:
        pytest.skip("zbarimg (Debian zbar-tools) is not installed")
    _pgm(grid, tmp_path / "code.pgm")
    out = subprocess.run(["zbarimg", "-q", "--raw", str(tmp_path / "code.pgm")],
                         capture_output=True, text=True, timeout=30)
    assert out.stdout.rstrip("\n") == text


def test_too_long_is_one_clear_error():
    with pytest.raises(InputError, match="too long for a QR code"):
        encode("z" * 400, level="M")


def test_svg_is_one_path_with_a_quiet_zone():
    image = svg("hi", scale=2)
    assert image.startswith("<svg ") and image.count("<path") == 1
    assert 'width="58"' in image  # (21 + 2*4) * 2
