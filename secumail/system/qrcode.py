"""QR codes (ISO/IEC 18004) as SVG, in pure Python: byte mode, error correction L or M, versions 1-10.

Enough for a URL the phone opens (up to 271 bytes at level M). Written for the setup
wizard's last page, where LuCI shows the code for the phone profile's download address;
no library is needed on the router nor in the browser.
"""

from __future__ import annotations

from collections.abc import Callable

from secumail.errors import InputError

# version -> level -> (EC codewords per block, [(blocks, data codewords per block), ...])
_BLOCKS: dict[int, dict[str, tuple[int, list[tuple[int, int]]]]] = {
    1: {"L": (7, [(1, 19)]), "M": (10, [(1, 16)])},
    2: {"L": (10, [(1, 34)]), "M": (16, [(1, 28)])},
    3: {"L": (15, [(1, 55)]), "M": (26, [(1, 44)])},
    4: {"L": (20, [(1, 80)]), "M": (18, [(2, 32)])},
    5: {"L": (26, [(1, 108)]), "M": (24, [(2, 43)])},
    6: {"L": (18, [(2, 68)]), "M": (16, [(4, 27)])},
    7: {"L": (20, [(2, 78)]), "M": (18, [(4, 31)])},
    8: {"L": (24, [(2, 97)]), "M": (22, [(2, 38), (2, 39)])},
    9: {"L": (30, [(2, 116)]), "M": (22, [(3, 36), (2, 37)])},
    10: {"L": (18, [(2, 68), (2, 69)]), "M": (26, [(4, 43), (1, 44)])},
}
_ALIGNMENT = {1: [], 2: [6, 18], 3: [6, 22], 4: [6, 26], 5: [6, 30], 6: [6, 34],
              7: [6, 22, 38], 8: [6, 24, 42], 9: [6, 26, 46], 10: [6, 28, 50]}
_LEVEL_BITS = {"L": 0b01, "M": 0b00}
MAX_VERSION = 10

# --- Reed-Solomon over GF(256), polynomial x^8+x^4+x^3+x^2+1 ---------------------------------------

_EXP = [0] * 512
_LOG = [0] * 256
_value = 1
for _power in range(255):
    _EXP[_power] = _value
    _LOG[_value] = _power
    _value <<= 1
    if _value & 0x100:
        _value ^= 0x11D
for _power in range(255, 512):
    _EXP[_power] = _EXP[_power - 255]


def _multiply(a: int, b: int) -> int:
    return 0 if a == 0 or b == 0 else _EXP[_LOG[a] + _LOG[b]]


def _generator(degree: int) -> list[int]:
    """Coefficients (highest first, leading 1) of the product of (x - a^i), i < degree."""
    poly = [1]
    for i in range(degree):
        nxt = poly + [0]
        for j, coef in enumerate(poly):
            nxt[j + 1] ^= _multiply(coef, _EXP[i])
        poly = nxt
    return poly


def ec_codewords(data: list[int], degree: int) -> list[int]:
    """The remainder of data(x) * x^degree divided by the generator: the block's EC codewords."""
    gen = _generator(degree)
    rest = list(data) + [0] * degree
    for i in range(len(data)):
        factor = rest[i]
        if factor:
            for j in range(1, degree + 1):
                rest[i + j] ^= _multiply(gen[j], factor)
    return rest[len(data):]


# --- data codewords ------------------------------------------------------------------------------


def _capacity(version: int, level: str) -> int:
    return sum(count * size for count, size in _BLOCKS[version][level][1])


def _choose_version(length: int, level: str) -> int:
    for version in range(1, MAX_VERSION + 1):
        count_bits = 8 if version < 10 else 16
        if 4 + count_bits + 8 * length <= 8 * _capacity(version, level):
            return version
    raise InputError(f"text too long for a QR code here ({length} bytes; at most "
                     f"{_capacity(MAX_VERSION, level) - 3} at level {level})")


def _data_codewords(payload: bytes, version: int, level: str) -> list[int]:
    bits: list[int] = []

    def put(value: int, width: int) -> None:
        bits.extend((value >> (width - 1 - i)) & 1 for i in range(width))

    put(0b0100, 4)  # byte mode
    put(len(payload), 8 if version < 10 else 16)
    for byte in payload:
        put(byte, 8)
    capacity = 8 * _capacity(version, level)
    bits.extend([0] * min(4, capacity - len(bits)))  # terminator
    bits.extend([0] * (-len(bits) % 8))
    words = [int("".join(map(str, bits[i:i + 8])), 2) for i in range(0, len(bits), 8)]
    pad = (0xEC, 0x11)
    words.extend(pad[i % 2] for i in range(capacity // 8 - len(words)))
    return words


def _interleave(words: list[int], version: int, level: str) -> list[int]:
    degree, groups = _BLOCKS[version][level]
    blocks: list[list[int]] = []
    at = 0
    for count, size in groups:
        for _ in range(count):
            blocks.append(words[at:at + size])
            at += size
    ecs = [ec_codewords(block, degree) for block in blocks]
    out = [block[i] for i in range(max(map(len, blocks))) for block in blocks if i < len(block)]
    out.extend(ec[i] for i in range(degree) for ec in ecs)
    return out


# --- the matrix -----------------------------------------------------------------------------------


def _bch(value: int, generator: int, length: int) -> int:
    """value followed by the remainder of value * x^(length) over `generator` (BCH code)."""
    rest = value << length
    top = generator.bit_length() - 1
    while rest.bit_length() > top:
        rest ^= generator << (rest.bit_length() - 1 - top)
    return (value << length) | rest


_MASKS: list[Callable[[int, int], bool]] = [
    lambda x, y: (x + y) % 2 == 0,
    lambda x, y: y % 2 == 0,
    lambda x, y: x % 3 == 0,
    lambda x, y: (x + y) % 3 == 0,
    lambda x, y: (y // 2 + x // 3) % 2 == 0,
    lambda x, y: (x * y) % 2 + (x * y) % 3 == 0,
    lambda x, y: ((x * y) % 2 + (x * y) % 3) % 2 == 0,
    lambda x, y: ((x + y) % 2 + (x * y) % 3) % 2 == 0,
]


class _Matrix:
    def __init__(self, version: int) -> None:
        self.version = version
        self.size = 17 + 4 * version
        self.dark = [[False] * self.size for _ in range(self.size)]
        self.fixed = [[False] * self.size for _ in range(self.size)]

    def set(self, x: int, y: int, dark: bool) -> None:
        self.dark[y][x] = dark
        self.fixed[y][x] = True

    def functions(self) -> None:
        size = self.size
        for i in range(size):  # timing patterns
            self.set(6, i, i % 2 == 0)
            self.set(i, 6, i % 2 == 0)
        for cx, cy in ((3, 3), (size - 4, 3), (3, size - 4)):  # finders with their separators
            for dy in range(-4, 5):
                for dx in range(-4, 5):
                    x, y = cx + dx, cy + dy
                    if 0 <= x < size and 0 <= y < size:
                        ring = max(abs(dx), abs(dy))
                        self.set(x, y, ring not in (2, 4))
        centres = _ALIGNMENT[self.version]
        last = len(centres) - 1
        for i, cx in enumerate(centres):
            for j, cy in enumerate(centres):
                if (i, j) in ((0, 0), (0, last), (last, 0)):
                    continue  # under a finder
                for dy in range(-2, 3):
                    for dx in range(-2, 3):
                        self.set(cx + dx, cy + dy, max(abs(dx), abs(dy)) != 1)
        self.format_bits(0, "L")  # reserve the areas; real bits come after masking
        if self.version >= 7:
            bits = _bch(self.version, 0x1F25, 12)
            for i in range(18):
                a, b = size - 11 + i % 3, i // 3
                self.set(a, b, (bits >> i) & 1 == 1)
                self.set(b, a, (bits >> i) & 1 == 1)

    def format_bits(self, mask: int, level: str) -> None:
        size = self.size
        bits = _bch(_LEVEL_BITS[level] << 3 | mask, 0x537, 10) ^ 0x5412
        bit = [(bits >> i) & 1 == 1 for i in range(15)]
        for i in range(6):
            self.set(8, i, bit[i])
        self.set(8, 7, bit[6])
        self.set(8, 8, bit[7])
        self.set(7, 8, bit[8])
        for i in range(9, 15):
            self.set(14 - i, 8, bit[i])
        for i in range(8):
            self.set(size - 1 - i, 8, bit[i])
        for i in range(8, 15):
            self.set(8, size - 15 + i, bit[i])
        self.set(8, size - 8, True)  # the dark module

    def place(self, codewords: list[int]) -> None:
        bits = [(word >> (7 - i)) & 1 == 1 for word in codewords for i in range(8)]
        at = 0
        right = self.size - 1
        upward = True
        while right >= 1:
            if right == 6:
                right = 5  # the vertical timing pattern
            for step in range(self.size):
                y = self.size - 1 - step if upward else step
                for x in (right, right - 1):
                    if not self.fixed[y][x]:
                        self.dark[y][x] = at < len(bits) and bits[at]
                        at += 1
            upward = not upward
            right -= 2

    def masked(self, mask: int, level: str) -> list[list[bool]]:
        test = _MASKS[mask]
        grid = [[self.dark[y][x] ^ (not self.fixed[y][x] and test(x, y)) for x in range(self.size)]
                for y in range(self.size)]
        saved = self.dark
        self.dark = grid
        self.format_bits(mask, level)
        self.dark = saved
        return grid


def _penalty(grid: list[list[bool]]) -> int:
    """The standard's four penalty rules: runs, 2x2 blocks, finder look-alikes, dark balance."""
    size = len(grid)
    score = 0
    lines = grid + [list(col) for col in zip(*grid)]
    finder = ([True, False, True, True, True, False, True, False, False, False, False],
              [False, False, False, False, True, False, True, True, True, False, True])
    for line in lines:
        run, previous = 0, None
        for cell in line:
            run = run + 1 if cell == previous else 1
            previous = cell
            if run == 5:
                score += 3
            elif run > 5:
                score += 1
        for i in range(size - 10):
            if line[i:i + 11] in finder:
                score += 40
    for y in range(size - 1):
        for x in range(size - 1):
            if grid[y][x] == grid[y][x + 1] == grid[y + 1][x] == grid[y + 1][x + 1]:
                score += 3
    dark = sum(map(sum, grid))
    score += 10 * (abs(dark * 20 - size * size * 10) // (size * size))
    return score


def encode(text: str | bytes, *, level: str = "M") -> list[list[bool]]:
    """The QR code's modules (True is dark), rows top to bottom, without the quiet zone."""
    if level not in _LEVEL_BITS:
        raise InputError(f"QR error correction level {level!r} is not L or M")
    payload = text.encode("utf-8") if isinstance(text, str) else bytes(text)
    version = _choose_version(len(payload), level)
    matrix = _Matrix(version)
    matrix.functions()
    matrix.place(_interleave(_data_codewords(payload, version, level), version, level))
    grids = [matrix.masked(mask, level) for mask in range(8)]
    return min(grids, key=_penalty)


def svg(text: str | bytes, *, level: str = "M", scale: int = 4) -> str:
    """An SVG image of the code (quiet zone of four modules), one path of dark squares."""
    grid = encode(text, level=level)
    border = 4
    side = (len(grid) + 2 * border) * scale
    steps = [f"M{(x + border) * scale},{(y + border) * scale}h{scale}v{scale}h-{scale}z"
             for y, row in enumerate(grid) for x, cell in enumerate(row) if cell]
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{side}" height="{side}" '
            f'viewBox="0 0 {side} {side}" shape-rendering="crispEdges">'
            f'<rect width="{side}" height="{side}" fill="#fff"/>'
            f'<path fill="#000" d="{"".join(steps)}"/></svg>')
