"""What reading and writing image files share: the supported formats and ImageError, whose
one-line message names the file, the problem and the fix."""

from __future__ import annotations

from singan_jax.core import errors

# Extension (lower case) -> Pillow format name used when writing.
FORMATS = {
  ".png": "PNG",
  ".jpg": "JPEG",
  ".jpeg": "JPEG",
  ".bmp": "BMP",
  ".tif": "TIFF",
  ".tiff": "TIFF",
  ".gif": "GIF",
  ".webp": "WEBP",
}
SUPPORTED_EXTENSIONS = tuple(FORMATS)


class ImageError(errors.InputError):
  """A bad image, mask or pixel array; the one-line message names the file, problem and fix."""


# ----------------------------------------------------------------------------- errors


def error(role: str, path: str, problem: str, fix: str) -> ImageError:
  """Build the one-line ImageError '<role> <path> <problem>: <fix>'."""
  return ImageError(f"{role} {path} {problem}: {fix}")


def first_line(exc: BaseException) -> str:
  """First line of an exception's text, so wrapped messages stay one line."""
  text = str(exc).strip().splitlines()
  return text[0] if text else type(exc).__name__
