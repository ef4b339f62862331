"""Image and mask files: the only module that knows file conventions.

Conventions (everything else in the library relies on these):
  * read_image returns RGB pixels (H, W, 3), uint8, or uint16 for 16-bit files; alpha is
    dropped, greyscale and palette images are expanded to RGB.
  * mask FILES are white = hole, black = known; read_mask returns bool (H, W), True = hole.
  * inside the library a mask is `known`: float32 (H, W, 1), 1 = known pixel, 0 = hole.
  * float images are float32 (H, W, 3) in [-1, 1] (to_float / from_float convert).
  * write_image replaces its target atomically, so a crash never leaves a half-written file.

Pillow decodes and encodes everything except 16-bit PNG: Pillow 13 still reduces 16-bit RGB PNGs
to 8 bits and cannot write them, so every 16-bit PNG (grey, grey+alpha, RGB, RGBA, interlaced or
not) is read and written with pypng (one pure-Python file, no dependencies).
"""

from __future__ import annotations

import io
import os
import re
import struct
import uuid
import warnings
import zlib

import numpy as np
import png
from PIL import Image, ImageOps, UnidentifiedImageError

# Extension (lower case) -> Pillow format name used when writing.
_FORMATS = {
  ".png": "PNG",
  ".jpg": "JPEG",
  ".jpeg": "JPEG",
  ".bmp": "BMP",
  ".tif": "TIFF",
  ".tiff": "TIFF",
  ".gif": "GIF",
  ".webp": "WEBP",
}
SUPPORTED_EXTENSIONS = tuple(_FORMATS)

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# Pillow modes that are already 16-bit greyscale.
_PIL_UINT16_MODES = ("I;16", "I;16L", "I;16B", "I;16N")
# Pillow modes whose arrays _to_rgb understands directly.
_PIL_DIRECT_MODES = ("1", "L", "LA", "RGB", "RGBA", "I", "F")


class ImageError(ValueError):
  """A bad image, mask or pixel array; the one-line message names the file, problem and fix."""


# ----------------------------------------------------------------------------- errors


def _error(role: str, path: str, problem: str, fix: str) -> ImageError:
  """Build the one-line ImageError '<role> <path> <problem>: <fix>'."""
  return ImageError(f"{role} {path} {problem}: {fix}")


def _reason(exc: BaseException) -> str:
  """First line of an exception's text, so wrapped messages stay one line."""
  text = str(exc).strip().splitlines()
  return text[0] if text else type(exc).__name__


# ----------------------------------------------------------------------------- reading


def _check_file(path: str, role: str) -> None:
  """Reject a path that cannot be an image file before trying to decode it."""
  ext = os.path.splitext(path)[1].lower()
  if ext not in _FORMATS:
    problem = f"has unsupported extension {ext!r}" if ext else "has no extension"
    raise _error(
      role, path, problem, f"give a file ending in one of {' '.join(SUPPORTED_EXTENSIONS)}"
    )
  if os.path.isdir(path):
    raise _error(role, path, "is a directory, not a file", "give the path of an image file")
  if not os.path.exists(path):
    raise _error(role, path, "does not exist", "check the path and the working directory")
  try:
    size = os.path.getsize(path)
  except OSError as exc:
    raise _error(
      role, path, f"cannot be read ({_reason(exc)})", "check the file's permissions"
    ) from exc
  if size == 0:
    raise _error(role, path, "is empty (0 bytes)", "re-export or copy the file again")


def _png_header(path: str) -> tuple[int, int, int, int, int] | None:
  """(height, width, bit_depth, colour_type, interlace) from a PNG's IHDR; None if not PNG."""
  with open(path, "rb") as f:
    head = f.read(33)
  if len(head) < 33 or head[:8] != _PNG_SIGNATURE or head[12:16] != b"IHDR":
    return None
  width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", head[16:29])
  return height, width, depth, colour, interlace


def _png_problem(exc: Exception) -> str:
  """pypng's exception -> the project's wording ('is truncated (...)' / 'is corrupt (...)')."""
  text = _reason(exc)
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


def _read_png16(path: str, role: str, height: int, width: int) -> np.ndarray:
  """Decode a 16-bit PNG (grey, LA, RGB, RGBA; interlaced or not) to uint16 (H, W, C) by pypng.

  Raw sample values (read(), not asDirect(): an sBIT chunk must not rescale them).
  """
  with open(path, "rb") as f:
    blob = f.read()
  try:
    _, _, rows, info = png.Reader(bytes=blob).read()
    rows = [np.frombuffer(row, np.uint16) for row in rows]
  except (png.Error, zlib.error, ValueError, EOFError, struct.error) as exc:
    raise _error(role, path, _png_problem(exc), "re-export or copy the file again") from exc
  channels = info["planes"]
  if len(rows) < height or any(row.size != width * channels for row in rows):
    raise _error(
      role, path, "is truncated (PNG pixel data is short)", "re-export or copy the file again"
    )
  return np.stack(rows[:height]).reshape(height, width, channels)


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
    raise _error(
      role,
      path,
      "is not an image Pillow can identify",
      f"give a {'/'.join(e[1:] for e in SUPPORTED_EXTENSIONS)} image file",
    ) from exc
  except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
    raise _error(
      role, path, f"is too large to decode safely ({_reason(exc)})", "downscale the image first"
    ) from exc
  except (OSError, SyntaxError, ValueError, EOFError, struct.error, zlib.error) as exc:
    raise _error(
      role, path, f"is truncated or corrupt ({_reason(exc)})", "re-export or copy the file again"
    ) from exc


def _to_rgb(pixels: np.ndarray, path: str, role: str) -> np.ndarray:
  """Any decoded array -> (H, W, 3) uint8/uint16: drop alpha, expand grey, check size/dtype."""
  if pixels.ndim == 2:
    pixels = pixels[:, :, None]
  if pixels.ndim != 3:
    raise _error(
      role,
      path,
      f"decodes to a {pixels.ndim}-D array {pixels.shape}",
      "give a single 2-D image (not a volume or stack)",
    )
  height, width, channels = pixels.shape
  if height == 0 or width == 0:
    raise _error(
      role, path, f"has zero size ({height}x{width})", "give an image with at least one pixel"
    )
  if channels > 4 or channels == 0:
    raise _error(
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
    raise _error(
      role, path, f"has {pixels.dtype} pixels outside 0..65535", "save it as an 8- or 16-bit image"
    )
  raise _error(
    role,
    path,
    f"has {pixels.dtype} pixels (only 8- and 16-bit integers are used)",
    "save it as an 8- or 16-bit integer image (e.g. PNG)",
  )


def _read_rgb(path: str, role: str) -> np.ndarray:
  """Shared reader for images and masks: checks, decodes, and standardises to (H, W, 3)."""
  _check_file(path, role)
  try:
    header = _png_header(path)
  except OSError as exc:
    raise _error(
      role, path, f"cannot be read ({_reason(exc)})", "check the file's permissions"
    ) from exc
  if header is not None and (header[0] == 0 or header[1] == 0):
    raise _error(
      role,
      path,
      f"has zero size ({header[0]}x{header[1]})",
      "give an image with at least one pixel",
    )
  if header is not None and header[2] == 16:
    pixels = _read_png16(path, role, *header[:2])
  else:
    pixels = _read_with_pillow(path, role)
  return _to_rgb(pixels, path, role)


def read_image(path: str | os.PathLike) -> np.ndarray:
  """Read an image file as RGB (H, W, 3) uint8, or uint16 if the file stores 16 bits.

  Alpha is dropped; greyscale, greyscale+alpha and palette images become RGB; 1-bit becomes
  0/255. Raises
  ImageError for a missing, empty, corrupt, non-image or unsupported file.
  """
  return _read_rgb(os.fspath(path), "image")


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
  pixels = _read_rgb(path, "mask")
  top = float(np.iinfo(pixels.dtype).max)
  grey = pixels.astype(np.float64).mean(axis=2) / top
  hole = grey >= 0.5
  if max_grey_share is not None:
    share = float(((grey > 0.1) & (grey < 0.9)).mean())
    if share > max_grey_share:
      raise _error(
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


def _png16_bytes(pixels: np.ndarray) -> bytes:
  """Encode uint16 (H, W) or (H, W, 3) as a 16-bit grey or RGB PNG with pypng."""
  height, width = pixels.shape[:2]
  buffer = io.BytesIO()
  writer = png.Writer(width, height, greyscale=pixels.ndim == 2, bitdepth=16, compression=6)
  writer.write(buffer, pixels.reshape(height, -1))
  return buffer.getvalue()


def _check_pixels_to_write(pixels: np.ndarray, path: str) -> np.ndarray:
  """Validate an array for write_image: uint8/uint16, (H, W), (H, W, 1) or (H, W, 3)."""
  if pixels.dtype not in (np.uint8, np.uint16):
    raise _error(
      "cannot write",
      path,
      f"from {pixels.dtype} pixels",
      "convert with from_float(x, np.uint8) first",
    )
  if pixels.ndim == 3 and pixels.shape[2] == 1:
    pixels = pixels[:, :, 0]
  if not (pixels.ndim == 2 or (pixels.ndim == 3 and pixels.shape[2] == 3)) or pixels.size == 0:
    raise _error(
      "cannot write",
      path,
      f"from pixels of shape {pixels.shape}",
      "give a non-empty (H, W) or (H, W, 3) array",
    )
  return np.ascontiguousarray(pixels)


def _encode(pixels: np.ndarray, path: str) -> bytes:
  """Encode checked pixels in the format named by path's extension."""
  ext = os.path.splitext(path)[1].lower()
  if ext not in _FORMATS:
    problem = f"with unsupported extension {ext!r}" if ext else "without an extension"
    raise _error(
      "cannot write", path, problem, f"end the name in one of {' '.join(SUPPORTED_EXTENSIONS)}"
    )
  if pixels.dtype == np.uint16:
    if ext != ".png":
      raise _error(
        "cannot write", path, f"as 16-bit {ext}", "use a .png name or convert the pixels to uint8"
      )
    return _png16_bytes(pixels)
  options = {"JPEG": {"quality": 95}, "WEBP": {"lossless": True}}.get(_FORMATS[ext], {})
  buffer = io.BytesIO()
  Image.fromarray(pixels).save(buffer, format=_FORMATS[ext], **options)
  return buffer.getvalue()


def _write_atomically(path: str, data: bytes) -> None:
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


def write_image(path: str | os.PathLike, pixels: np.ndarray) -> None:
  """Write uint8/uint16 (H, W, 3) or (H, W) pixels, format by extension, atomically.

  Creates missing parent directories. 16-bit only as PNG. Raises ImageError for bad pixels or
  a path that cannot be written; never leaves a temporary file behind.
  """
  path = os.path.abspath(os.fspath(path))
  pixels = _check_pixels_to_write(np.asarray(pixels), path)
  data = _encode(pixels, path)
  if os.path.isdir(path):
    raise _error(
      "cannot write", path, "because it is a directory", "give a file name such as out.png"
    )
  folder = os.path.dirname(path)
  try:
    os.makedirs(folder, exist_ok=True)
  except OSError as exc:
    raise _error(
      "cannot write",
      path,
      f"(cannot create its directory: {_reason(exc)})",
      "choose an output path in a writable directory",
    ) from exc
  try:
    _write_atomically(path, data)
  except OSError as exc:
    raise _error(
      "cannot write",
      path,
      f"({_reason(exc)})",
      "choose an output path in a writable directory with free space",
    ) from exc


# ----------------------------------------------------------------------------- bundled data


def example_paths() -> tuple[str, str]:
  """Paths of the bundled example (image, mask): a town square, white mask = object to remove."""
  data = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "data")
  return os.path.join(data, "example.png"), os.path.join(data, "example_mask.png")
