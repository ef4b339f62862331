"""The bad inputs of tests/test_bad_input.py: pixels and files a user could hand the CLI, and
the table of refused cases (each a builder of CLI args and the fragment its one error line must
hold)."""

import numpy as np
from PIL import Image

from helpers import tiny_flags

H, W = 32, 40
# 2-scale pyramid (25x32, 29x36), 30 iterations per scale: the same as tests/test_resume.py,
# so both share the session's compilation cache.
TINY = tiny_flags(niter=30, checkpoint_every=10, log_every=10, inject_scale=None)


def grey_pixels():
  """A grey-valued (R = G = B) uint8 image, so that L, P, RGBA and RGB files hold the same
  pixels."""
  rng = np.random.default_rng(1)
  yy, xx = np.mgrid[0:H, 0:W]
  grey = 50 + 4 * xx + 2 * yy + rng.integers(0, 25, (H, W))
  return np.clip(grey, 0, 255).astype(np.uint8)


def hole_mask():
  hole = np.zeros((H, W), np.uint8)
  hole[11:19, 15:25] = 255
  return hole


def save(path, pixels, mode=None):
  img = Image.fromarray(pixels)
  (img.convert(mode) if mode else img).save(path)
  return str(path)


def save_rgb(path):
  return save(path, np.repeat(grey_pixels()[..., None], 3, axis=2))


def save_mask(path, hole=None):
  return save(path, hole_mask() if hole is None else hole)


# ----------------------------------------------------------------------------- refused cases
# Each builder gets a fresh folder d and returns (CLI args without --workdir, or with one to
# override the default d/work). The default workdir d/work does not exist beforehand.


def _truncated(path, source):
  with open(source, "rb") as f:
    data = f.read()
  with open(path, "wb") as f:
    f.write(data[: len(data) // 2])
  return str(path)


def _image_only(d, image):
  return [f"--config.image={image}", f"--config.mask={save_mask(d / 'm.png')}"]


def _empty(d, name):
  (d / name).write_bytes(b"")
  return str(d / name)


def _text(d, name):
  (d / name).write_text("this is not an image\n")
  return str(d / name)


def _directory(d, name):
  (d / name).mkdir()
  return str(d / name)


def _stripes():
  """A hole column every 2 pixels: half the image known, but every pixel of every smaller
  scale touches the hole."""
  hole = np.zeros((H, W), np.uint8)
  hole[:, ::2] = 255
  return hole


def good_args(d, *extra):
  """CLI args of a valid image and mask written into d, then extra."""
  return [
    f"--config.image={save_rgb(d / 'i.png')}",
    f"--config.mask={save_mask(d / 'm.png')}",
    *extra,
  ]


def _workdir_is_file(d):
  (d / "afile").write_text("x")
  return [*good_args(d), f"--workdir={d / 'afile'}"]


def _workdir_under_file(d):
  # Tests run as root here, so a chmod-ed directory would still be writable; a path below a
  # regular file cannot be created by anyone.
  (d / "afile").write_text("x")
  return [*good_args(d), f"--workdir={d / 'afile' / 'run'}"]


def _output_taken(d):
  (d / "work" / "inpainted.png").mkdir(parents=True)
  return good_args(d)


REFUSED = {
  # id: (builder(d) -> args, fragment expected in the one error line)
  "image_missing": (lambda d: _image_only(d, d / "nope.png"), "does not exist"),
  "image_empty": (lambda d: _image_only(d, _empty(d, "e.png")), "is empty (0 bytes)"),
  "image_truncated": (
    lambda d: _image_only(d, _truncated(d / "t.png", save_rgb(d / "s.png"))),
    "truncated",
  ),
  "image_not_an_image": (
    lambda d: _image_only(d, _text(d, "t.png")),
    "not an image Pillow can identify",
  ),
  "image_unsupported_extension": (
    lambda d: _image_only(d, _text(d, "i.txt")),
    "unsupported extension '.txt'",
  ),
  "image_is_directory": (lambda d: _image_only(d, _directory(d, "dir.png")), "is a directory"),
  "image_without_mask": (
    lambda d: [f"--config.image={save_rgb(d / 'i.png')}"],
    "needs a hole mask",
  ),
  "mask_missing": (
    lambda d: [f"--config.image={save_rgb(d / 'i.png')}", f"--config.mask={d / 'nope.png'}"],
    ("mask ", "nope.png does not exist"),
  ),
  "mask_truncated": (
    lambda d: [
      f"--config.image={save_rgb(d / 'i.png')}",
      f"--config.mask={_truncated(d / 't.png', save_mask(d / 's.png'))}",
    ],
    "truncated",
  ),
  "mask_size_mismatch": (
    lambda d: [
      f"--config.image={save_rgb(d / 'i.png')}",
      f"--config.mask={save(d / 'm.png', np.zeros((H, W + 1), np.uint8))}",
    ],
    "give a mask with the image's height and width",
  ),
  "mask_full": (
    lambda d: [
      f"--config.image={save_rgb(d / 'i.png')}",
      f"--config.mask={save(d / 'm.png', np.full((H, W), 255, np.uint8))}",
    ],
    "keep at least 5% of the image known",
  ),
  "mask_no_known_at_coarsest": (
    lambda d: [
      f"--config.image={save_rgb(d / 'i.png')}",
      f"--config.mask={save(d / 'm.png', _stripes())}",
      "--config.mask_threshold=0.01",
    ],
    "no known pixel at the coarsest scale",
  ),
  "mask_non_binary": (
    lambda d: [
      f"--config.image={save_rgb(d / 'i.png')}",
      f"--config.mask={save(d / 'm.png', np.tile(np.linspace(0, 255, W).astype(np.uint8), (H, 1)))}",  # noqa: E501
    ],
    "is not black and white",
  ),
  "image_below_min_size": (
    lambda d: [
      f"--config.image={save(d / 'i.png', grey_pixels()[:16, :20])}",
      f"--config.mask={save(d / 'm.png', hole_mask()[:16, :20])}",
    ],
    "smaller than min_size 25",
  ),
  "niter_negative": (lambda d: good_args(d, "--config.niter=-5"), "--config.niter=-5"),
  "scale_factor_one": (
    lambda d: good_args(d, "--config.scale_factor=1.0"),
    "--config.scale_factor=1.0 must lie in (0, 1)",
  ),
  "scale_factor_above_one": (
    lambda d: good_args(d, "--config.scale_factor=1.5"),
    "--config.scale_factor=1.5 must lie in (0, 1)",
  ),
  "min_size_absurd": (lambda d: good_args(d, "--config.min_size=3"), "--config.min_size=3"),
  "inject_scale_zero": (
    lambda d: good_args(d, "--config.inject_scale=0"),
    "--config.inject_scale=0 is out of range",
  ),
  "inject_scale_beyond_pyramid": (
    lambda d: good_args(d, "--config.inject_scale=7"),
    "use --config.inject_scale in 1..1",
  ),
  "unknown_fill": (lambda d: good_args(d, "--config.fill=magic"), "--config.fill='magic'"),
  "workdir_is_file": (_workdir_is_file, "is a file: give a directory path"),
  "workdir_unwritable": (_workdir_under_file, "cannot create --workdir"),
  "output_path_is_directory": (_output_taken, "is a directory, so the result cannot be"),
}


# Cases refused for the whole run, before any image is read: a batch fails them the same way.
RUN_LEVEL = {
  "niter_negative",
  "scale_factor_one",
  "scale_factor_above_one",
  "min_size_absurd",
  "inject_scale_zero",
  "unknown_fill",
  "workdir_is_file",
  "workdir_unwritable",
}
