"""Image files for the io tests: random pixels, Pillow saves and hand-built 16-bit PNGs (one
PNG filter type on every row, so each of the decoder's filters is exercised)."""

import struct
import zlib

import numpy as np
from PIL import Image

from singan_jax.io import png16

RNG = np.random.default_rng(0)


def rgb(h=7, w=9, dtype=np.uint8):
  """Random (h, w, 3) pixels of the given dtype."""
  return RNG.integers(0, np.iinfo(dtype).max + 1, (h, w, 3), dtype=dtype)


def save(path, array, mode=None, **kwargs):
  """Save an array with Pillow and return the path as str."""
  image = Image.fromarray(array, mode=mode) if mode else Image.fromarray(array)
  image.save(path, **kwargs)
  return str(path)


def png_chunk(kind, data):
  """One PNG chunk with its CRC."""
  return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _paeth(a, b, c):
  """Vectorised Paeth predictor (int arrays)."""
  p = a + b - c
  pa, pb, pc = np.abs(p - a), np.abs(p - b), np.abs(p - c)
  return np.where((pa <= pb) & (pa <= pc), a, np.where(pb <= pc, b, c))


def png16_file(path, pixels, filter_type):
  """Write uint16 (H, W, C) as a 16-bit PNG using one PNG filter type on every row."""
  h, w, c = pixels.shape
  colour = {1: 0, 2: 4, 3: 2, 4: 6}[c]
  bpp = 2 * c
  x = pixels.astype(">u2").reshape(h, -1).view(np.uint8).astype(np.int64)  # raw bytes
  up = np.vstack([np.zeros((1, x.shape[1]), np.int64), x[:-1]])
  left = np.hstack([np.zeros((h, bpp), np.int64), x[:, :-bpp]])
  up_left = np.hstack([np.zeros((h, bpp), np.int64), up[:, :-bpp]])
  predict = {0: 0 * x, 1: left, 2: up, 3: (left + up) // 2, 4: _paeth(left, up, up_left)}
  rows = ((x - predict[filter_type]) % 256).astype(np.uint8)
  raw = np.hstack([np.full((h, 1), filter_type, np.uint8), rows]).tobytes()
  header = struct.pack(">IIBBBBB", w, h, 16, colour, 0, 0, 0)
  blob = (
    png16.SIGNATURE
    + png_chunk(b"IHDR", header)
    + png_chunk(b"IDAT", zlib.compress(raw))
    + png_chunk(b"IEND", b"")
  )
  path.write_bytes(blob)
  return str(path)


def header_only_png(path, width, height, bitdepth, colour):
  """A PNG of IHDR (width x height, bitdepth, colour type) and an empty IDAT: what a broken
  writer leaves; returns the path as str."""
  header = struct.pack(">IIBBBBB", width, height, bitdepth, colour, 0, 0, 0)
  blob = (
    png16.SIGNATURE
    + png_chunk(b"IHDR", header)
    + png_chunk(b"IDAT", zlib.compress(b""))
    + png_chunk(b"IEND", b"")
  )
  path.write_bytes(blob)
  return str(path)
