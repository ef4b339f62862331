"""Image and mask files: the API of the only package that knows file conventions.

Conventions (everything else in the library relies on these):
  * read_image returns RGB pixels (H, W, 3), uint8, or uint16 for 16-bit files; alpha is
    dropped, greyscale and palette images are expanded to RGB.
  * mask FILES are white = hole, black = known; read_mask returns bool (H, W), True = hole.
  * inside the library a mask is `known`: float32 (H, W, 1), 1 = known pixel, 0 = hole.
  * float images are float32 (H, W, 3) in [-1, 1] (to_float / from_float convert).
  * write_image replaces its target atomically, so a crash never leaves a half-written file.

Decoding lives in reader.py, encoding in writer.py, 16-bit PNG in png16.py (pypng: Pillow 13
still reduces 16-bit RGB PNGs to 8 bits and cannot write them), the formats and ImageError in
formats.py.
"""

from __future__ import annotations

import os

import numpy as np

from singan_jax.io import formats
from singan_jax.io import reader
from singan_jax.io import writer

# The error every function here raises: a bad file, mask or pixel array, in one line.
ImageError = formats.ImageError

# ----------------------------------------------------------------------------- reading


def read_image(path: str | os.PathLike) -> np.ndarray:
  """Read an image file as RGB (H, W, 3) uint8, or uint16 if the file stores 16 bits.

  Alpha is dropped; greyscale, greyscale+alpha and palette images become RGB; 1-bit becomes
  0/255. Raises
  ImageError for a missing, empty, corrupt, non-image or unsupported file.
  """
  return reader.read_pixels(os.fspath(path), "image")


def read_mask(
  path: str | os.PathLike,
  image_shape=None,
  image_path: str | os.PathLike | None = None,
  max_grey_share: float | None = None,
) -> np.ndarray:
  """Read a mask file (white = hole) as bool (H, W), True = hole.

  Grey level = mean of R, G, B (alpha ignored) divided by the dtype's max; hole where >= 0.5.
  image_shape: the image's (H, W, ...) to check against; image_path only names it in errors.
  max_grey_share: if set, refuse a mask whose share of mid-grey pixels (level in (0.1, 0.9))
  exceeds it: anti-aliased edges pass, a photo or a soft matte given as a mask does not.
  """
  path = os.fspath(path)
  pixels = reader.read_pixels(path, "mask")
  top = float(np.iinfo(pixels.dtype).max)
  grey = pixels.astype(np.float64).mean(axis=2) / top
  hole = grey >= 0.5
  if max_grey_share is not None:
    share = float(((grey > 0.1) & (grey < 0.9)).mean())
    if share > max_grey_share:
      raise formats.error(
        "mask",
        path,
        f"is not black and white ({100 * share:.0f}% of its pixels "
        f"are grey, at most {100 * max_grey_share:.0f}% allowed)",
        "save it as pure black (known) and white (hole), e.g. threshold at 50%",
      )
  if image_shape is not None:
    _check_mask_size(hole.shape, tuple(image_shape)[:2], path, image_path)
  return hole


def _check_mask_size(mask_hw, image_hw, path: str, image_path) -> None:
  """Raise ImageError if a mask's (H, W) differs from its image's (H, W)."""
  if tuple(int(n) for n in mask_hw) == tuple(int(n) for n in image_hw):
    return
  image = f"image {os.fspath(image_path)}" if image_path is not None else "the image"
  raise ImageError(
    f"mask {path} is {mask_hw[0]}x{mask_hw[1]} but {image} is {image_hw[0]}x{image_hw[1]}: "
    "give a mask with the image's height and width"
  )


# ----------------------------------------------------------------------------- conversions


def _dtype_max(dtype, what: str) -> int:
  """Largest value of a supported pixel dtype (uint8 -> 255, uint16 -> 65535)."""
  dtype = np.dtype(dtype)
  if dtype not in (np.uint8, np.uint16):
    raise ImageError(f"{what} got dtype {dtype}: use uint8 or uint16 pixels")
  return int(np.iinfo(dtype).max)


def to_float(pixels: np.ndarray) -> np.ndarray:
  """uint8/uint16 pixels (H, W, 3) -> float32 (H, W, 3) in [-1, 1], the generator's range."""
  pixels = np.asarray(pixels)
  top = _dtype_max(pixels.dtype, "to_float")
  unit = pixels.astype(np.float64) / top
  return np.clip((unit - 0.5) * 2.0, -1.0, 1.0).astype(np.float32)


def from_float(x, dtype=np.uint8) -> np.ndarray:
  """float (H, W, 3) in [-1, 1] -> uint8/uint16 (clip, round to nearest); inverts to_float."""
  top = _dtype_max(dtype, "from_float")
  x = np.asarray(x, dtype=np.float64)
  if np.isnan(x).any():
    raise ImageError(
      "from_float got NaN pixels: check the generator output for NaNs "
      "(e.g. a diverged training run)"
    )
  unit = np.clip((x + 1.0) / 2.0, 0.0, 1.0)
  return np.rint(unit * top).astype(dtype)


def known_from_hole(hole_bool: np.ndarray) -> np.ndarray:
  """bool hole (H, W), True = hole -> float32 known (H, W, 1): 1 = known, 0 = hole."""
  hole = np.asarray(hole_bool)
  if hole.dtype != np.bool_ or hole.ndim != 2:
    raise ImageError(
      f"known_from_hole got {hole.dtype} array of shape {hole.shape}: "
      "pass the bool (H, W) array returned by read_mask"
    )
  return (~hole).astype(np.float32)[:, :, None]


# ----------------------------------------------------------------------------- writing


def write_image(path: str | os.PathLike, pixels: np.ndarray) -> None:
  """Write uint8/uint16 (H, W, 3) or (H, W) pixels, format by extension, atomically.

  Creates missing parent directories. 16-bit only as PNG. Raises ImageError for bad pixels or
  a path that cannot be written; never leaves a temporary file behind.
  """
  path = os.path.abspath(os.fspath(path))
  pixels = writer.check_pixels(np.asarray(pixels), path)
  data = writer.encode(pixels, path)
  if os.path.isdir(path):
    raise formats.error(
      "cannot write", path, "because it is a directory", "give a file name such as out.png"
    )
  folder = os.path.dirname(path)
  try:
    os.makedirs(folder, exist_ok=True)
  except OSError as exc:
    raise formats.error(
      "cannot write",
      path,
      f"(cannot create its directory: {formats.first_line(exc)})",
      "choose an output path in a writable directory",
    ) from exc
  try:
    writer.write_atomically(path, data)
  except OSError as exc:
    raise formats.error(
      "cannot write",
      path,
      f"({formats.first_line(exc)})",
      "choose an output path in a writable directory with free space",
    ) from exc


# ----------------------------------------------------------------------------- bundled data


def example_paths() -> tuple[str, str]:
  """Paths of the bundled example (image, mask): a town square, white mask = object to remove."""
  data = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "data")
  return os.path.join(data, "example.png"), os.path.join(data, "example_mask.png")
