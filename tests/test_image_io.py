"""Tests for singan_jax.io.images: reading, masks, float conversion, atomic writes, example."""

import os

import numpy as np
import png
import pytest
from PIL import Image

from image_files import RNG, png16_file, png_chunk, rgb, save
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

# ----------------------------------------------------------------------------- read_image


def test_read_rgb_png(tmp_path):
  pixels = rgb()
  out = read_image(save(tmp_path / "a.png", pixels))
  assert out.dtype == np.uint8 and out.shape == (7, 9, 3)
  np.testing.assert_array_equal(out, pixels)


def test_read_accepts_pathlib(tmp_path):
  pixels = rgb()
  save(tmp_path / "a.png", pixels)
  np.testing.assert_array_equal(read_image(tmp_path / "a.png"), pixels)


def test_read_rgba_drops_alpha(tmp_path):
  rgba = RNG.integers(0, 256, (5, 6, 4), dtype=np.uint8)
  out = read_image(save(tmp_path / "a.png", rgba, mode="RGBA"))
  np.testing.assert_array_equal(out, rgba[:, :, :3])


def test_read_greyscale_expands(tmp_path):
  grey = RNG.integers(0, 256, (5, 6), dtype=np.uint8)
  out = read_image(save(tmp_path / "g.png", grey))
  assert out.shape == (5, 6, 3)
  for c in range(3):
    np.testing.assert_array_equal(out[:, :, c], grey)


def test_read_la_expands_and_drops_alpha(tmp_path):
  la = RNG.integers(0, 256, (5, 6, 2), dtype=np.uint8)
  out = read_image(save(tmp_path / "la.png", la, mode="LA"))
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
  out = read_image(png16_file(tmp_path / "c16.png", pixels, filter_type))
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
  sbit = png_chunk(b"sBIT", bytes([12, 12, 12]))
  (tmp_path / "s16.png").write_bytes(blob[:33] + sbit + blob[33:])  # right after IHDR
  np.testing.assert_array_equal(read_image(tmp_path / "s16.png"), pixels)


@pytest.mark.parametrize("ext", [".png", ".bmp", ".tif", ".tiff", ".webp", ".gif", ".PNG"])
def test_read_lossless_formats(tmp_path, ext):
  pixels = rgb()
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


# ----------------------------------------------------------------------------- read_mask


def test_mask_threshold_uint8(tmp_path):
  grey = np.array([[0, 127, 128, 255]], np.uint8)
  hole = read_mask(save(tmp_path / "m.png", grey))
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
  hole = read_mask(save(tmp_path / "m.png", rgba, mode="RGBA"))
  np.testing.assert_array_equal(hole, [[True, False, True, False]])


def test_mask_one_bit(tmp_path):
  bits = np.array([[True, False], [False, True]])
  Image.fromarray(bits).save(tmp_path / "b.png")
  np.testing.assert_array_equal(read_mask(tmp_path / "b.png"), bits)


def test_mask_size_matches(tmp_path):
  hole = read_mask(save(tmp_path / "m.png", np.zeros((4, 6), np.uint8)), (4, 6, 3))
  assert hole.shape == (4, 6) and not hole.any()


def test_mask_size_mismatch_names_both(tmp_path):
  mask = save(tmp_path / "m.png", np.zeros((4, 6), np.uint8))
  with pytest.raises(ImageError) as info:
    read_mask(mask, image_shape=(5, 6, 3), image_path="/x/i.png")
  message = str(info.value)
  assert mask in message and "/x/i.png" in message
  assert "4x6" in message and "5x6" in message and "\n" not in message


def test_mask_size_mismatch_without_image_path(tmp_path):
  mask = save(tmp_path / "m.png", np.zeros((4, 6), np.uint8))
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
  pixels = rgb(6, 8, dtype)
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
