"""PNG images with the standard library alone (zlib, struct): 8-bit RGB, no
interlace, every row filtered with None (the PNG specification, ISO/IEC 15948),
and a 3×5 pixel font to label them."""

from __future__ import annotations

import struct
import zlib
from collections.abc import Sequence

RGB = tuple[int, int, int]
SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _chunk(kind: bytes, data: bytes) -> bytes:
    """A chunk: length, type, data, and the CRC-32 of type and data."""
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def encode(pixels: Sequence[Sequence[RGB]]) -> bytes:
    """The PNG file of ``pixels``, rows top to bottom, each the same number of
    (red, green, blue) triples of 0..255."""
    if not pixels or not pixels[0]:
        raise ValueError("pixels: an image needs at least one row and one column")
    width = len(pixels[0])
    raw = bytearray()
    for y, row in enumerate(pixels):
        if len(row) != width:
            raise ValueError(f"pixels: row {y} has {len(row)} pixels, row 0 has {width}")
        raw.append(0)  # filter type None
        for pixel in row:
            raw.extend(pixel)
    header = struct.pack(">IIBBBBB", width, len(pixels), 8, 2, 0, 0, 0)  # 8-bit RGB
    return (
        SIGNATURE
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", zlib.compress(bytes(raw), 9))
        + _chunk(b"IEND", b"")
    )


def decode(data: bytes) -> list[list[RGB]]:
    """The pixels of a PNG that encode() wrote (8-bit RGB, filter None): for tests
    and tools that read our own images back; anything else is a ValueError."""
    if not data.startswith(SIGNATURE):
        raise ValueError("data: not a PNG (no signature)")
    pos, chunks = len(SIGNATURE), {}
    idat = b""
    while pos < len(data):
        (length,) = struct.unpack_from(">I", data, pos)
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        (crc,) = struct.unpack_from(">I", data, pos + 8 + length)
        if crc != zlib.crc32(kind + body):
            raise ValueError(f"data: chunk {kind!r} fails its CRC")
        if kind == b"IDAT":
            idat += body
        chunks[kind] = body
        pos += 12 + length
    width, height, depth, colour = struct.unpack_from(">IIBB", chunks[b"IHDR"])
    if (depth, colour) != (8, 2) or b"IEND" not in chunks:
        raise ValueError("data: only 8-bit RGB images ending in IEND are read here")
    raw = zlib.decompress(idat)
    stride = 1 + 3 * width
    rows = []
    for y in range(height):
        line = raw[y * stride : (y + 1) * stride]
        if line[0] != 0:
            raise ValueError(f"data: row {y} uses filter {line[0]}, not None")
        rows.append([(line[i], line[i + 1], line[i + 2]) for i in range(1, stride, 3)])
    return rows


# 3 columns × 5 rows per glyph, top row first: a 1 is a lit pixel
_GLYPHS = {
    "0": "111 101 101 101 111",
    "1": "010 110 010 010 111",
    "2": "111 001 111 100 111",
    "3": "111 001 111 001 111",
    "4": "101 101 111 001 001",
    "5": "111 100 111 001 111",
    "6": "111 100 111 101 111",
    "7": "111 001 001 001 001",
    "8": "111 101 111 101 111",
    "9": "111 101 111 001 111",
    "A": "010 101 111 101 101",
    "B": "110 101 110 101 110",
    "C": "011 100 100 100 011",
    "D": "110 101 101 101 110",
    "E": "111 100 110 100 111",
    "F": "111 100 110 100 100",
    "G": "011 100 101 101 011",
    "H": "101 101 111 101 101",
    "I": "111 010 010 010 111",
    "J": "001 001 001 101 010",
    "K": "101 101 110 101 101",
    "L": "100 100 100 100 111",
    "M": "101 111 111 101 101",
    "N": "110 101 101 101 101",
    "O": "010 101 101 101 010",
    "P": "110 101 110 100 100",
    "Q": "010 101 101 110 011",
    "R": "110 101 110 101 101",
    "S": "011 100 010 001 110",
    "T": "111 010 010 010 010",
    "U": "101 101 101 101 111",
    "V": "101 101 101 101 010",
    "W": "101 101 111 111 101",
    "X": "101 101 010 101 101",
    "Y": "101 101 010 010 010",
    "Z": "111 001 010 100 111",
    "-": "000 000 111 000 000",
    ".": "000 000 000 000 010",
    "(": "010 100 100 100 010",
    ")": "010 001 001 001 010",
    " ": "000 000 000 000 000",
}
FONT = {c: rows.replace(" ", "") for c, rows in _GLYPHS.items()}
GLYPH_W, GLYPH_H = 3, 5


def draw_text(
    pixels: list[list[RGB]], x: int, y: int, text: str, colour: RGB, scale: int = 1
) -> int:
    """Write ``text`` (upper case, digits, " -.()") at (x, y), each glyph pixel a
    ``scale``×``scale`` square, clipped to the image; returns the x after it."""
    height, width = len(pixels), len(pixels[0]) if pixels else 0
    for char in text.upper():
        glyph = FONT.get(char, FONT[" "])
        for i, lit in enumerate(glyph):
            if lit != "1":
                continue
            gx, gy = x + (i % GLYPH_W) * scale, y + (i // GLYPH_W) * scale
            for py in range(gy, min(gy + scale, height)):
                for px in range(gx, min(gx + scale, width)):
                    pixels[py][px] = colour
        x += (GLYPH_W + 1) * scale
    return x


def text_width(text: str, scale: int = 1) -> int:
    """The pixels draw_text() advances over ``text``."""
    return len(text) * (GLYPH_W + 1) * scale
