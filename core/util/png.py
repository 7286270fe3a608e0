"""A small RGB PNG writer (zlib + struct, no imaging library) and heatmap pixels for it."""

from __future__ import annotations

import struct
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from core.util.atomic import replacing

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
RGB = tuple[int, int, int]
WHITE: RGB = (255, 255, 255)


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def png_bytes(pixels: Sequence[Sequence[RGB]]) -> bytes:
    """An 8-bit RGB PNG of ``pixels`` (rows of (r, g, b), all rows the same width)."""
    height, width = len(pixels), len(pixels[0]) if pixels else 0
    if not height or not width or any(len(row) != width for row in pixels):
        raise ValueError("a PNG needs a non-empty rectangle of pixels")
    raw = b"".join(b"\x00" + bytes(channel for pixel in row for channel in pixel) for row in pixels)
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return PNG_SIGNATURE + _chunk(b"IHDR", header) + _chunk(b"IDAT", zlib.compress(raw, 9)) + _chunk(b"IEND", b"")


def write_png(path: Path, pixels: Sequence[Sequence[RGB]]) -> Path:
    data, path = png_bytes(pixels), Path(path)
    with replacing(path) as temp:
        temp.write_bytes(data)
        temp.chmod(0o644)  # an image for the user, not a private temp file
    return path


@dataclass(frozen=True)
class HeatmapStyle:
    cell: int = 24  # pixels per matrix cell
    colour: RGB = (84, 39, 143)  # the colour of the largest value (white is the smallest)
    mark: RGB = (214, 39, 40)  # frame of the marked cell
    band: RGB = (150, 150, 150)  # bar under the highlighted columns


def _blend(value: float, colour: RGB) -> RGB:
    t = min(1.0, max(0.0, value))
    return tuple(round(255 + (c - 255) * t) for c in colour)  # type: ignore[return-value]


def heatmap_pixels(matrix: Sequence[Sequence[float]], style: HeatmapStyle = HeatmapStyle(),
                   mark: tuple[int, int] | None = None, band: tuple[int, int] | None = None) -> list[list[RGB]]:
    """Rows of pixels drawing ``matrix`` (values scaled to its min..max), a frame around
    cell ``mark`` = (row, column), and a bar under columns ``band`` = [start, end)."""
    values = [v for row in matrix for v in row]
    low, high = min(values), max(values)
    scale = (high - low) or 1.0
    size, width = style.cell, len(matrix[0]) * style.cell
    pixels = [[_blend((value - low) / scale, style.colour) for value in row for _ in range(size)]
              for row in matrix for _ in range(size)]
    if mark is not None:
        _frame(pixels, mark[0] * size, mark[1] * size, size, style.mark)
    bar = [[WHITE] * width for _ in range(max(2, size // 4))]
    if band is not None:
        for line in bar[1:]:
            line[band[0] * size:band[1] * size] = [style.band] * ((band[1] - band[0]) * size)
    return pixels + bar


def _frame(pixels: list[list[RGB]], top: int, left: int, size: int, colour: RGB) -> None:
    thick = max(1, size // 8)
    for y in range(top, top + size):
        for x in range(left, left + size):
            if min(y - top, x - left, top + size - 1 - y, left + size - 1 - x) < thick:
                pixels[y][x] = colour


def side_by_side(panels: Sequence[list[list[RGB]]], gap: int = 12) -> list[list[RGB]]:
    """Panels left to right, top-aligned, on white."""
    height = max(len(p) for p in panels)
    rows: list[list[RGB]] = []
    for y in range(height):
        line: list[RGB] = []
        for i, panel in enumerate(panels):
            if i:
                line += [WHITE] * gap
            line += panel[y] if y < len(panel) else [WHITE] * len(panel[0])
        rows.append(line)
    return rows
