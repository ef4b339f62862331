"""16-bit PNG files (grey, grey+alpha, RGB, RGBA; interlaced or not) by pypng.

Pillow 13 still reduces 16-bit RGB PNGs to 8 bits and cannot write them, so reader.py and
writer.py hand every 16-bit PNG to this codec (pypng: one pure-Python file, no dependencies).
"""

from __future__ import annotations

import io
import re
import struct
import zlib

import numpy as np
import png

from singan_jax.io import formats

SIGNATURE = b"\x89PNG\r\n\x1a\n"


def header(path: str) -> tuple[int, int, int, int, int] | None:
  """(height, width, bit_depth, colour_type, interlace) from a PNG's IHDR; None if not PNG."""
  with open(path, "rb") as f:
    head = f.read(33)
  if len(head) < 33 or head[:8] != SIGNATURE or head[12:16] != b"IHDR":
    return None
  width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", head[16:29])
  return height, width, depth, colour, interlace


def _problem(exc: Exception) -> str:
  """pypng's exception -> the project's wording ('is truncated (...)' / 'is corrupt (...)')."""
  text = formats.first_line(exc)
  chunk = re.search(r"b'(\w{4})'|in (\w{4}) chunk", text)
  name = next((g for g in chunk.groups() if g), "?") if chunk else "?"
  if isinstance(exc, zlib.error):
    return f"is corrupt ({text})"
  if "Checksum error" in text:
    return f"is corrupt (bad CRC in PNG chunk {name})"
  if "too short" in text and name != "?":
    return f"is truncated (PNG chunk {name} is cut short)"
  if "No more chunks" in text or "End of file" in text or "no IDAT" in text:
    return "is truncated (PNG ends before its IEND chunk)"
  if "Filter Type" in text:
    return "is corrupt (unknown PNG filter type)"
  return f"is truncated or corrupt ({text})"


def read(path: str, role: str, height: int, width: int) -> np.ndarray:
  """Decode a 16-bit PNG (grey, LA, RGB, RGBA; interlaced or not) to uint16 (H, W, C) by pypng.

  Raw sample values (read(), not asDirect(): an sBIT chunk must not rescale them).
  """
  with open(path, "rb") as f:
    blob = f.read()
  try:
    _, _, rows, info = png.Reader(bytes=blob).read()
    rows = [np.frombuffer(row, np.uint16) for row in rows]
  except (png.Error, zlib.error, ValueError, EOFError, struct.error) as exc:
    raise formats.error(role, path, _problem(exc), "re-export or copy the file again") from exc
  channels = info["planes"]
  if len(rows) < height or any(row.size != width * channels for row in rows):
    raise formats.error(
      role, path, "is truncated (PNG pixel data is short)", "re-export or copy the file again"
    )
  return np.stack(rows[:height]).reshape(height, width, channels)


def encode(pixels: np.ndarray) -> bytes:
  """Encode uint16 (H, W) or (H, W, 3) as a 16-bit grey or RGB PNG with pypng."""
  height, width = pixels.shape[:2]
  buffer = io.BytesIO()
  writer = png.Writer(width, height, greyscale=pixels.ndim == 2, bitdepth=16, compression=6)
  writer.write(buffer, pixels.reshape(height, -1))
  return buffer.getvalue()
