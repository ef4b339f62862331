"""Encoding pixels to an image file, format by extension, replaced atomically.

16-bit pixels go to png16.py, everything else to Pillow; the bytes land in a temp file
beside the target that is fsynced and renamed over it, so a crash never leaves a
half-written file.
"""

from __future__ import annotations

import io
import os
import uuid

import numpy as np
from PIL import Image

from singan_jax.io import formats
from singan_jax.io import png16


def check_pixels(pixels: np.ndarray, path: str) -> np.ndarray:
  """Validate an array for write_image: uint8/uint16, (H, W), (H, W, 1) or (H, W, 3)."""
  if pixels.dtype not in (np.uint8, np.uint16):
    raise formats.error(
      "cannot write",
      path,
      f"from {pixels.dtype} pixels",
      "convert with from_float(x, np.uint8) first",
    )
  if pixels.ndim == 3 and pixels.shape[2] == 1:
    pixels = pixels[:, :, 0]
  if not (pixels.ndim == 2 or (pixels.ndim == 3 and pixels.shape[2] == 3)) or pixels.size == 0:
    raise formats.error(
      "cannot write",
      path,
      f"from pixels of shape {pixels.shape}",
      "give a non-empty (H, W) or (H, W, 3) array",
    )
  return np.ascontiguousarray(pixels)


def encode(pixels: np.ndarray, path: str) -> bytes:
  """Encode checked pixels in the format named by path's extension."""
  ext = os.path.splitext(path)[1].lower()
  if ext not in formats.FORMATS:
    problem = f"with unsupported extension {ext!r}" if ext else "without an extension"
    raise formats.error(
      "cannot write",
      path,
      problem,
      f"end the name in one of {' '.join(formats.SUPPORTED_EXTENSIONS)}",
    )
  if pixels.dtype == np.uint16:
    if ext != ".png":
      raise formats.error(
        "cannot write", path, f"as 16-bit {ext}", "use a .png name or convert the pixels to uint8"
      )
    return png16.encode(pixels)
  options = {"JPEG": {"quality": 95}, "WEBP": {"lossless": True}}.get(formats.FORMATS[ext], {})
  buffer = io.BytesIO()
  Image.fromarray(pixels).save(buffer, format=formats.FORMATS[ext], **options)
  return buffer.getvalue()


def write_atomically(path: str, data: bytes) -> None:
  """Write data to a temp file beside path, fsync, then os.replace; remove the temp on failure."""
  folder, name = os.path.split(path)
  temp = os.path.join(folder, f".{name}.{uuid.uuid4().hex[:12]}.tmp")
  try:
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)  # honours umask
    with os.fdopen(fd, "wb") as f:
      f.write(data)
      f.flush()
      os.fsync(f.fileno())
    os.replace(temp, path)
  except BaseException:
    if os.path.lexists(temp):
      os.remove(temp)
    raise
