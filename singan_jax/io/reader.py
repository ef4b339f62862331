"""Decoding image files to standard pixels: RGB (H, W, 3) uint8, or uint16 for 16-bit files.

Checks the path first (extension, existence, size), decodes with Pillow (first frame, EXIF
orientation applied) or, for 16-bit PNG, png16.py, then drops alpha and expands grey and
palette images to RGB. Every failure is a one-line formats.ImageError.
"""

from __future__ import annotations

import os
import struct
import warnings
import zlib

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from singan_jax.io import formats
from singan_jax.io import png16

# Pillow modes that are already 16-bit greyscale.
_PIL_UINT16_MODES = ("I;16", "I;16L", "I;16B", "I;16N")
# Pillow modes whose arrays to_rgb understands directly.
_PIL_DIRECT_MODES = ("1", "L", "LA", "RGB", "RGBA", "I", "F")


def _check_file(path: str, role: str) -> None:
  """Reject a path that cannot be an image file before trying to decode it."""
  ext = os.path.splitext(path)[1].lower()
  if ext not in formats.FORMATS:
    problem = f"has unsupported extension {ext!r}" if ext else "has no extension"
    raise formats.error(
      role, path, problem, f"give a file ending in one of {' '.join(formats.SUPPORTED_EXTENSIONS)}"
    )
  if os.path.isdir(path):
    raise formats.error(role, path, "is a directory, not a file", "give the path of an image file")
  if not os.path.exists(path):
    raise formats.error(role, path, "does not exist", "check the path and the working directory")
  try:
    size = os.path.getsize(path)
  except OSError as exc:
    raise formats.error(
      role, path, f"cannot be read ({formats.first_line(exc)})", "check the file's permissions"
    ) from exc
  if size == 0:
    raise formats.error(role, path, "is empty (0 bytes)", "re-export or copy the file again")


def _pillow_to_array(img: Image.Image) -> np.ndarray:
  """Pillow image -> numpy array, converting exotic modes (P, CMYK, YCbCr, ...) to RGB."""
  mode = img.mode
  if mode in _PIL_UINT16_MODES:
    return np.asarray(img).astype(np.uint16)
  if mode in _PIL_DIRECT_MODES:
    return np.asarray(img)
  if mode in ("P", "PA") and ("transparency" in img.info or mode == "PA"):
    return np.asarray(img.convert("RGBA"))  # avoids Pillow's palette-transparency warning
  return np.asarray(img.convert("RGB"))


def _read_with_pillow(path: str, role: str) -> np.ndarray:
  """Decode any Pillow-supported file to an array (first frame; EXIF orientation applied)."""
  try:
    with warnings.catch_warnings():
      warnings.simplefilter("error", Image.DecompressionBombWarning)
      with Image.open(path) as img:
        img.load()
        img = ImageOps.exif_transpose(img)
        return _pillow_to_array(img)
  except UnidentifiedImageError as exc:
    raise formats.error(
      role,
      path,
      "is not an image Pillow can identify",
      f"give a {'/'.join(e[1:] for e in formats.SUPPORTED_EXTENSIONS)} image file",
    ) from exc
  except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
    raise formats.error(
      role,
      path,
      f"is too large to decode safely ({formats.first_line(exc)})",
      "downscale the image first",
    ) from exc
  except (OSError, SyntaxError, ValueError, EOFError, struct.error, zlib.error) as exc:
    raise formats.error(
      role,
      path,
      f"is truncated or corrupt ({formats.first_line(exc)})",
      "re-export or copy the file again",
    ) from exc


def to_rgb(pixels: np.ndarray, path: str, role: str) -> np.ndarray:
  """Any decoded array -> (H, W, 3) uint8/uint16: drop alpha, expand grey, check size/dtype."""
  if pixels.ndim == 2:
    pixels = pixels[:, :, None]
  if pixels.ndim != 3:
    raise formats.error(
      role,
      path,
      f"decodes to a {pixels.ndim}-D array {pixels.shape}",
      "give a single 2-D image (not a volume or stack)",
    )
  height, width, channels = pixels.shape
  if height == 0 or width == 0:
    raise formats.error(
      role, path, f"has zero size ({height}x{width})", "give an image with at least one pixel"
    )
  if channels > 4 or channels == 0:
    raise formats.error(
      role,
      path,
      f"has {channels} channels",
      "give an RGB, RGBA, greyscale or greyscale+alpha image",
    )
  pixels = _integer_pixels(pixels, path, role)
  colour = pixels[:, :, :3] if channels >= 3 else np.repeat(pixels[:, :, :1], 3, axis=2)
  return np.ascontiguousarray(colour)


def _integer_pixels(pixels: np.ndarray, path: str, role: str) -> np.ndarray:
  """Return uint8/uint16 pixels: bool -> 0/255 uint8, in-range ints -> uint16, else reject."""
  if pixels.dtype == np.bool_:
    return pixels.astype(np.uint8) * np.uint8(255)
  if pixels.dtype in (np.uint8, np.uint16):
    return pixels
  if np.issubdtype(pixels.dtype, np.integer):
    if pixels.min() >= 0 and pixels.max() <= 65535:
      return pixels.astype(np.uint16)  # e.g. Pillow mode "I" holding 16-bit data
    raise formats.error(
      role, path, f"has {pixels.dtype} pixels outside 0..65535", "save it as an 8- or 16-bit image"
    )
  raise formats.error(
    role,
    path,
    f"has {pixels.dtype} pixels (only 8- and 16-bit integers are used)",
    "save it as an 8- or 16-bit integer image (e.g. PNG)",
  )


def read_pixels(path: str, role: str) -> np.ndarray:
  """Shared reader for images and masks: checks, decodes, and standardises to (H, W, 3)."""
  _check_file(path, role)
  try:
    header = png16.header(path)
  except OSError as exc:
    raise formats.error(
      role, path, f"cannot be read ({formats.first_line(exc)})", "check the file's permissions"
    ) from exc
  if header is not None and (header[0] == 0 or header[1] == 0):
    raise formats.error(
      role,
      path,
      f"has zero size ({header[0]}x{header[1]})",
      "give an image with at least one pixel",
    )
  if header is not None and header[2] == 16:
    pixels = png16.read(path, role, *header[:2])
  else:
    pixels = _read_with_pillow(path, role)
  return to_rgb(pixels, path, role)
