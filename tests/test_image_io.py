"""Tests for singan_jax.io.images: reading, masks, float conversion, atomic writes, example."""

import os
import struct
import zlib

import numpy as np
import png
import pytest
from PIL import Image

from singan_jax.io import png16
from singan_jax.io import reader
from singan_jax.io import writer as writer_lib
from singan_jax.io.images import (
  ImageError,
  example_paths,
  from_float,
  known_from_hole,
  read_image,
  read_mask,
  to_float,
  write_image,
)

RNG = np.random.default_rng(0)


def _rgb(h=7, w=9, dtype=np.uint8):
  """Random (h, w, 3) pixels of the given dtype."""
  return RNG.integers(0, np.iinfo(dtype).max + 1, (h, w, 3), dtype=dtype)


def _save(path, array, mode=None, **kwargs):
  """Save an array with Pillow and return the path as str."""
  image = Image.fromarray(array, mode=mode) if mode else Image.fromarray(array)
  image.save(path, **kwargs)
  return str(path)


def _png_chunk(kind, data):
  """One PNG chunk with its CRC."""
  return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _paeth(a, b, c):
  """Vectorised Paeth predictor (int arrays)."""
  p = a + b - c
  pa, pb, pc = np.abs(p - a), np.abs(p - b), np.abs(p - c)
  return np.where((pa <= pb) & (pa <= pc), a, np.where(pb <= pc, b, c))


def _png16_file(path, pixels, filter_type):
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
    + _png_chunk(b"IHDR", header)
    + _png_chunk(b"IDAT", zlib.compress(raw))
    + _png_chunk(b"IEND", b"")
  )
  path.write_bytes(blob)
  return str(path)


# ----------------------------------------------------------------------------- read_image


def test_read_rgb_png(tmp_path):
  pixels = _rgb()
  out = read_image(_save(tmp_path / "a.png", pixels))
  assert out.dtype == np.uint8 and out.shape == (7, 9, 3)
  np.testing.assert_array_equal(out, pixels)


def test_read_accepts_pathlib(tmp_path):
  pixels = _rgb()
  _save(tmp_path / "a.png", pixels)
  np.testing.assert_array_equal(read_image(tmp_path / "a.png"), pixels)


def test_read_rgba_drops_alpha(tmp_path):
  rgba = RNG.integers(0, 256, (5, 6, 4), dtype=np.uint8)
  out = read_image(_save(tmp_path / "a.png", rgba, mode="RGBA"))
  np.testing.assert_array_equal(out, rgba[:, :, :3])


def test_read_greyscale_expands(tmp_path):
  grey = RNG.integers(0, 256, (5, 6), dtype=np.uint8)
  out = read_image(_save(tmp_path / "g.png", grey))
  assert out.shape == (5, 6, 3)
  for c in range(3):
    np.testing.assert_array_equal(out[:, :, c], grey)


def test_read_la_expands_and_drops_alpha(tmp_path):
  la = RNG.integers(0, 256, (5, 6, 2), dtype=np.uint8)
  out = read_image(_save(tmp_path / "la.png", la, mode="LA"))
  np.testing.assert_array_equal(out, np.repeat(la[:, :, :1], 3, axis=2))


def test_read_one_bit_is_0_or_255(tmp_path):
  bits = RNG.random((5, 6)) > 0.5
  Image.fromarray(bits).save(tmp_path / "b.png")
  out = read_image(tmp_path / "b.png")
  assert out.dtype == np.uint8
  np.testing.assert_array_equal(out[:, :, 0], bits.astype(np.uint8) * 255)


@pytest.mark.parametrize("transparent", [False, True])
def test_read_palette_becomes_rgb(tmp_path, transparent):
  palette = RNG.integers(0, 256, (16, 3), dtype=np.uint8)
  index = RNG.integers(0, 16, (5, 6), dtype=np.uint8)
  img = Image.fromarray(index, mode="P")
  img.putpalette(palette.reshape(-1).tolist())
  extra = {"transparency": 3} if transparent else {}
  img.save(tmp_path / "p.png", **extra)
  with Image.open(tmp_path / "p.png") as check:
    assert check.mode == "P"
  out = read_image(tmp_path / "p.png")
  assert out.shape == (5, 6, 3) and out.dtype == np.uint8
  np.testing.assert_array_equal(out, palette[index])


def test_read_16bit_grey_stays_uint16(tmp_path):
  grey = RNG.integers(0, 65536, (5, 6), dtype=np.uint16)
  Image.fromarray(grey).save(tmp_path / "g16.png")
  out = read_image(tmp_path / "g16.png")
  assert out.dtype == np.uint16
  np.testing.assert_array_equal(out, np.repeat(grey[:, :, None], 3, axis=2))


@pytest.mark.parametrize("filter_type", [0, 1, 2, 3, 4])
@pytest.mark.parametrize("channels", [2, 3, 4])
def test_read_16bit_colour_png_stays_uint16(tmp_path, filter_type, channels):
  pixels = RNG.integers(0, 65536, (6, 5, channels), dtype=np.uint16)
  pixels[2] = 65535 - pixels[1]  # some structure, so predictors wrap both ways
  out = read_image(_png16_file(tmp_path / "c16.png", pixels, filter_type))
  assert out.dtype == np.uint16 and out.shape == (6, 5, 3)
  expected = pixels[:, :, :3] if channels >= 3 else np.repeat(pixels[:, :, :1], 3, axis=2)
  np.testing.assert_array_equal(out, expected)


@pytest.mark.parametrize("channels", [1, 3])
def test_read_16bit_interlaced_png_stays_uint16(tmp_path, channels):
  """Adam7-interlaced 16-bit PNGs keep their 16 bits too (pypng de-interlaces them)."""
  pixels = RNG.integers(0, 65536, (11, 13, channels), dtype=np.uint16)
  writer = png.Writer(13, 11, greyscale=channels == 1, bitdepth=16, interlace=True)
  with open(tmp_path / "i16.png", "wb") as f:
    writer.write(f, pixels.reshape(11, -1))
  out = read_image(tmp_path / "i16.png")
  assert out.dtype == np.uint16
  np.testing.assert_array_equal(out, np.broadcast_to(pixels, (11, 13, 3)))


def test_read_16bit_png_ignores_sbit(tmp_path):
  """An sBIT chunk (significant bits) must not rescale the stored 16-bit samples."""
  pixels = (RNG.integers(0, 4096, (4, 5, 3), dtype=np.uint16) << 4).astype(np.uint16)
  writer = png.Writer(5, 4, greyscale=False, bitdepth=16)
  with open(tmp_path / "s16.png", "wb") as f:
    writer.write(f, pixels.reshape(4, -1))
  blob = (tmp_path / "s16.png").read_bytes()
  sbit = _png_chunk(b"sBIT", bytes([12, 12, 12]))
  (tmp_path / "s16.png").write_bytes(blob[:33] + sbit + blob[33:])  # right after IHDR
  np.testing.assert_array_equal(read_image(tmp_path / "s16.png"), pixels)


@pytest.mark.parametrize("ext", [".png", ".bmp", ".tif", ".tiff", ".webp", ".gif", ".PNG"])
def test_read_lossless_formats(tmp_path, ext):
  pixels = _rgb()
  if ext == ".gif":  # GIF is palette based: use few colours so it stays exact
    pixels = np.array([[0, 0, 0], [255, 0, 0], [0, 0, 255]], np.uint8)[RNG.integers(0, 3, (7, 9))]
  path = tmp_path / f"a{ext}"
  Image.fromarray(pixels).save(path, **({"lossless": True} if ext == ".webp" else {}))
  out = read_image(path)
  assert out.dtype == np.uint8
  np.testing.assert_array_equal(out, pixels)


@pytest.mark.parametrize("ext", [".jpg", ".jpeg", ".JPG"])
def test_read_jpeg(tmp_path, ext):
  pixels = np.full((16, 16, 3), (200, 100, 50), np.uint8)
  path = tmp_path / f"a{ext}"
  Image.fromarray(pixels).save(path, format="JPEG", quality=95)
  out = read_image(path)
  assert out.shape == (16, 16, 3) and out.dtype == np.uint8
  assert np.abs(out.astype(int) - pixels).max() <= 3


def test_read_jpeg_applies_exif_orientation(tmp_path):
  pixels = np.zeros((8, 16, 3), np.uint8)
  exif = Image.Exif()
  exif[0x0112] = 6  # orientation: rotate 90 degrees to display
  Image.fromarray(pixels).save(tmp_path / "r.jpg", exif=exif)
  assert read_image(tmp_path / "r.jpg").shape == (16, 8, 3)


# ----------------------------------------------------------------------------- read errors


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
  _save(tmp_path / "full.png", _rgb(40, 40))
  blob = (tmp_path / "full.png").read_bytes()
  (tmp_path / "t.png").write_bytes(blob[: len(blob) // 2])
  _assert_error(str(tmp_path / "t.png"), "truncated")


def test_error_truncated_16bit_png(tmp_path):
  _png16_file(tmp_path / "full.png", _rgb(20, 20, np.uint16), 2)
  blob = (tmp_path / "full.png").read_bytes()
  (tmp_path / "t16.png").write_bytes(blob[: len(blob) // 2])
  _assert_error(str(tmp_path / "t16.png"), "truncated")


def test_error_zero_size_16bit(tmp_path):
  header = struct.pack(">IIBBBBB", 4, 0, 16, 2, 0, 0, 0)
  blob = (
    png16.SIGNATURE
    + _png_chunk(b"IHDR", header)
    + _png_chunk(b"IDAT", zlib.compress(b""))
    + _png_chunk(b"IEND", b"")
  )
  (tmp_path / "z16.png").write_bytes(blob)
  _assert_error(str(tmp_path / "z16.png"), "zero size")


def test_error_corrupt_16bit_png_crc(tmp_path):
  _png16_file(tmp_path / "ok.png", _rgb(5, 5, np.uint16), 0)
  blob = bytearray((tmp_path / "ok.png").read_bytes())
  blob[50] ^= 0xFF  # inside the IDAT data (IDAT's data starts at byte 41)
  (tmp_path / "bad.png").write_bytes(bytes(blob))
  _assert_error(str(tmp_path / "bad.png"), "corrupt", "CRC")


def test_error_corrupt_png(tmp_path):
  _save(tmp_path / "ok.png", _rgb(40, 40))
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
  Image.fromarray(_rgb()).save(path, format="PNG")
  _assert_error(str(path), "extension", ".png")


def test_error_zero_size(tmp_path):
  header = struct.pack(">IIBBBBB", 0, 5, 8, 0, 0, 0, 0)
  blob = (
    png16.SIGNATURE
    + _png_chunk(b"IHDR", header)
    + _png_chunk(b"IDAT", zlib.compress(b""))
    + _png_chunk(b"IEND", b"")
  )
  (tmp_path / "z.png").write_bytes(blob)
  _assert_error(str(tmp_path / "z.png"), "zero size")


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


# ----------------------------------------------------------------------------- read_mask


def test_mask_threshold_uint8(tmp_path):
  grey = np.array([[0, 127, 128, 255]], np.uint8)
  hole = read_mask(_save(tmp_path / "m.png", grey))
  assert hole.dtype == np.bool_ and hole.shape == (1, 4)
  np.testing.assert_array_equal(hole, [[False, False, True, True]])


def test_mask_threshold_uint16(tmp_path):
  grey = np.array([[0, 32767, 32768, 65535]], np.uint16)
  Image.fromarray(grey).save(tmp_path / "m16.png")
  np.testing.assert_array_equal(read_mask(tmp_path / "m16.png"), [[0, 0, 1, 1]])


def test_mask_rgb_uses_mean_and_ignores_alpha(tmp_path):
  rgba = np.array(
    [
      [
        [255, 255, 0, 0],  # mean 170 -> hole, alpha 0 ignored
        [255, 0, 0, 255],  # mean 85  -> known
        [255, 255, 255, 0],  # white    -> hole
        [0, 0, 0, 255],
      ]
    ],
    np.uint8,
  )
  hole = read_mask(_save(tmp_path / "m.png", rgba, mode="RGBA"))
  np.testing.assert_array_equal(hole, [[True, False, True, False]])


def test_mask_one_bit(tmp_path):
  bits = np.array([[True, False], [False, True]])
  Image.fromarray(bits).save(tmp_path / "b.png")
  np.testing.assert_array_equal(read_mask(tmp_path / "b.png"), bits)


def test_mask_size_matches(tmp_path):
  hole = read_mask(_save(tmp_path / "m.png", np.zeros((4, 6), np.uint8)), (4, 6, 3))
  assert hole.shape == (4, 6) and not hole.any()


def test_mask_size_mismatch_names_both(tmp_path):
  mask = _save(tmp_path / "m.png", np.zeros((4, 6), np.uint8))
  with pytest.raises(ImageError) as info:
    read_mask(mask, image_shape=(5, 6, 3), image_path="/x/i.png")
  message = str(info.value)
  assert mask in message and "/x/i.png" in message
  assert "4x6" in message and "5x6" in message and "\n" not in message


def test_mask_size_mismatch_without_image_path(tmp_path):
  mask = _save(tmp_path / "m.png", np.zeros((4, 6), np.uint8))
  with pytest.raises(ImageError, match="4x6 but the image is 4x7"):
    read_mask(mask, image_shape=(4, 7))


# ----------------------------------------------------------------------------- conversions


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_float_round_trip_is_exact(dtype):
  every = np.arange(np.iinfo(dtype).max + 1, dtype=dtype)
  pixels = np.stack([every, every[::-1], every], axis=-1)[None]  # (1, N, 3)
  x = to_float(pixels)
  assert x.dtype == np.float32 and x.shape == pixels.shape
  assert x.min() == -1.0 and x.max() == 1.0
  np.testing.assert_array_equal(from_float(x, dtype), pixels)


def test_to_float_values():
  np.testing.assert_allclose(
    to_float(np.array([[[0, 255, 51]]], np.uint8)), [[[-1.0, 1.0, -0.6]]], atol=1e-6
  )


def test_from_float_clips_and_rounds():
  x = np.array([[[-3.0, 3.0, 0.0]]], np.float32)
  np.testing.assert_array_equal(from_float(x), [[[0, 255, 128]]])
  assert from_float(x, np.uint16).dtype == np.uint16


def test_from_float_rejects_nan_and_bad_dtype():
  with pytest.raises(ImageError, match="NaN"):
    from_float(np.full((1, 1, 3), np.nan))
  with pytest.raises(ImageError, match="uint8 or uint16"):
    from_float(np.zeros((1, 1, 3)), np.float32)
  with pytest.raises(ImageError, match="uint8 or uint16"):
    to_float(np.zeros((1, 1, 3), np.float32))


def test_known_from_hole():
  hole = np.array([[True, False], [False, False]])
  known = known_from_hole(hole)
  assert known.dtype == np.float32 and known.shape == (2, 2, 1)
  np.testing.assert_array_equal(known[:, :, 0], [[0, 1], [1, 1]])
  with pytest.raises(ImageError):
    known_from_hole(hole.astype(np.float32))


# ----------------------------------------------------------------------------- write_image


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
@pytest.mark.parametrize("grey", [False, True])
def test_write_png_round_trip(tmp_path, dtype, grey):
  pixels = _rgb(6, 8, dtype)
  if grey:
    pixels = pixels[:, :, 0]
  write_image(tmp_path / "o.png", pixels)
  expected = np.repeat(pixels[:, :, None], 3, axis=2) if grey else pixels
  out = read_image(tmp_path / "o.png")
  assert out.dtype == dtype
  np.testing.assert_array_equal(out, expected)
  assert os.listdir(tmp_path) == ["o.png"]  # no temp file left


@pytest.mark.parametrize("ext", [".bmp", ".tif", ".webp", ".jpg"])
def test_write_by_extension(tmp_path, ext):
  pixels = np.full((8, 8, 3), 120, np.uint8)
  write_image(tmp_path / f"o{ext}", pixels)
  assert np.abs(read_image(tmp_path / f"o{ext}").astype(int) - 120).max() <= 2


def test_write_creates_parent_and_replaces(tmp_path):
  path = tmp_path / "new" / "deeper" / "o.png"
  write_image(path, np.zeros((3, 4, 3), np.uint8))
  write_image(path, np.full((3, 4, 3), 7, np.uint8))
  assert read_image(path)[0, 0, 0] == 7
  assert os.listdir(path.parent) == ["o.png"]


def test_write_unwritable_parent(tmp_path):
  (tmp_path / "file").write_text("x")
  path = str(tmp_path / "file" / "o.png")
  with pytest.raises(ImageError) as info:
    write_image(path, np.zeros((3, 4, 3), np.uint8))
  assert path in str(info.value) and "\n" not in str(info.value)


def test_write_onto_directory(tmp_path):
  (tmp_path / "d.png").mkdir()
  with pytest.raises(ImageError, match="directory"):
    write_image(tmp_path / "d.png", np.zeros((3, 4, 3), np.uint8))
  assert os.listdir(tmp_path) == ["d.png"]


def test_write_failure_leaves_no_temp(tmp_path, monkeypatch):
  def broken_replace(src, dst):
    raise OSError(28, "No space left on device")

  monkeypatch.setattr(writer_lib.os, "replace", broken_replace)
  path = str(tmp_path / "o.png")
  with pytest.raises(ImageError, match="No space left"):
    write_image(path, np.zeros((3, 4, 3), np.uint8))
  assert os.listdir(tmp_path) == []


def test_write_rejects_bad_pixels(tmp_path):
  with pytest.raises(ImageError, match="from_float"):
    write_image(tmp_path / "o.png", np.zeros((3, 4, 3), np.float32))
  with pytest.raises(ImageError, match="shape"):
    write_image(tmp_path / "o.png", np.zeros((3, 4, 4), np.uint8))
  with pytest.raises(ImageError, match=r"\.png"):
    write_image(tmp_path / "o.jpg", np.zeros((3, 4, 3), np.uint16))
  with pytest.raises(ImageError, match="extension"):
    write_image(tmp_path / "o.txt", np.zeros((3, 4, 3), np.uint8))
  assert os.listdir(tmp_path) == []


# ----------------------------------------------------------------------------- example


def test_example_paths():
  image_path, mask_path = example_paths()
  assert os.path.isfile(image_path) and os.path.isfile(mask_path)
  assert os.path.getsize(image_path) + os.path.getsize(mask_path) < 150_000
  image = read_image(image_path)
  hole = read_mask(mask_path, image.shape, image_path)
  assert image.dtype == np.uint8 and max(image.shape[:2]) == 250
  assert 0 < hole.sum() < hole.size // 4
  assert known_from_hole(hole).sum() == hole.size - hole.sum()
