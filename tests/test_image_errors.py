"""Tests for singan_jax.io's refusals: every unreadable image or mask is one ImageError that
names the file and what is wrong with it (missing, empty, truncated, corrupt, unsupported)."""

import numpy as np
import pytest
from PIL import Image

from image_files import RNG, header_only_png, png16_file, rgb, save
from singan_jax.io import reader
from singan_jax.io.images import ImageError, read_image, read_mask


def _assert_error(path, *words, reader=read_image):
  """Call reader(path); expect a one-line ImageError naming the path and the given words."""
  with pytest.raises(ImageError) as info:
    reader(path)
  message = str(info.value)
  assert str(path) in message, message
  assert "\n" not in message and ": " in message, message
  for word in words:
    assert word in message, message
  return message


def test_error_missing_file(tmp_path):
  _assert_error(str(tmp_path / "nope.png"), "does not exist")


def test_error_directory(tmp_path):
  (tmp_path / "d.png").mkdir()
  _assert_error(str(tmp_path / "d.png"), "directory")


def test_error_empty_file(tmp_path):
  (tmp_path / "e.png").write_bytes(b"")
  _assert_error(str(tmp_path / "e.png"), "empty")


def test_error_truncated_png(tmp_path):
  save(tmp_path / "full.png", rgb(40, 40))
  blob = (tmp_path / "full.png").read_bytes()
  (tmp_path / "t.png").write_bytes(blob[: len(blob) // 2])
  _assert_error(str(tmp_path / "t.png"), "truncated")


def test_error_truncated_16bit_png(tmp_path):
  png16_file(tmp_path / "full.png", rgb(20, 20, np.uint16), 2)
  blob = (tmp_path / "full.png").read_bytes()
  (tmp_path / "t16.png").write_bytes(blob[: len(blob) // 2])
  _assert_error(str(tmp_path / "t16.png"), "truncated")


def test_error_zero_size_16bit(tmp_path):
  _assert_error(header_only_png(tmp_path / "z16.png", 4, 0, 16, 2), "zero size")


def test_error_corrupt_16bit_png_crc(tmp_path):
  png16_file(tmp_path / "ok.png", rgb(5, 5, np.uint16), 0)
  blob = bytearray((tmp_path / "ok.png").read_bytes())
  blob[50] ^= 0xFF  # inside the IDAT data (IDAT's data starts at byte 41)
  (tmp_path / "bad.png").write_bytes(bytes(blob))
  _assert_error(str(tmp_path / "bad.png"), "corrupt", "CRC")


def test_error_corrupt_png(tmp_path):
  save(tmp_path / "ok.png", rgb(40, 40))
  blob = bytearray((tmp_path / "ok.png").read_bytes())
  blob[60:200] = bytes(140)  # zero out the start of the compressed data
  (tmp_path / "c.png").write_bytes(bytes(blob))
  _assert_error(str(tmp_path / "c.png"), "corrupt")


def test_error_not_an_image(tmp_path):
  (tmp_path / "notes.png").write_text("hello, this is text\n")
  _assert_error(str(tmp_path / "notes.png"), "not an image")


@pytest.mark.parametrize("name", ["a.txt", "a.exr", "noext"])
def test_error_unsupported_extension(tmp_path, name):
  path = tmp_path / name
  Image.fromarray(rgb()).save(path, format="PNG")
  _assert_error(str(path), "extension", ".png")


def test_error_zero_size(tmp_path):
  _assert_error(header_only_png(tmp_path / "z.png", 0, 5, 8, 0), "zero size")


def test_error_zero_size_array():
  with pytest.raises(ImageError, match="zero size"):
    reader.to_rgb(np.zeros((0, 5, 3), np.uint8), "/x/z.png", "image")


def test_error_too_many_channels():
  with pytest.raises(ImageError, match=r"/x/m\.tif has 5 channels"):
    reader.to_rgb(np.zeros((4, 5, 5), np.uint8), "/x/m.tif", "image")


def test_error_float_tiff(tmp_path):
  Image.fromarray(RNG.random((5, 6)).astype(np.float32), mode="F").save(tmp_path / "f.tif")
  _assert_error(str(tmp_path / "f.tif"), "float32")


def test_mask_errors_say_mask(tmp_path):
  message = _assert_error(str(tmp_path / "nope.png"), reader=read_mask)
  assert message.startswith("mask ")
