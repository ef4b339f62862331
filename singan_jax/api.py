"""The Python entry point, for notebooks and scripts: train, inpaint, sample and the
application modes on numpy arrays.

  pyramid = singan_jax.train(image, mask, config=singan_jax.configs.demo())
  filled = singan_jax.inpaint(pyramid)

Each call runs the command line's own path (pipeline.run) on a workdir (a temporary one unless
given): the arrays are written there as lossless PNG files (WORKDIR/inputs/) and read back
through the same checks, so a refusal is the command line's exception and message
(cli.refusals(): inputs.UsageError, io.images.ImageError, ...), and a workdir trained here is one
the command line resumes, inpaints and samples, and the other way round (`load`).

Arrays: images (H, W, 3) (or (H, W) grey, (H, W, 4) RGBA: alpha dropped) as uint8, uint16 or
floats in [0, 1]; masks (H, W) bool, or levels / floats where white (>= half) is hole. An
output comes back as the input came: uint8 / uint16 pixels, or float32 in [0, 1].
"""

from collections.abc import Mapping
import dataclasses
import os
import tempfile

import imageio.v3 as iio
import ml_collections
import numpy as np

from singan_jax import config as config_lib
from singan_jax import configs
from singan_jax import inputs
from singan_jax import modes as modes_lib
from singan_jax import pipeline
from singan_jax import workdir as workdir_lib
from singan_jax.io import images as image_io
from singan_jax.modes import common as modes_common

INPUTS = "inputs"  # WORKDIR/inputs/: the arrays a call was given, as PNG files
FLOAT_LEVELS = 65535  # floats in [0, 1] are written as 16-bit levels (the reader's finest)


@dataclasses.dataclass(frozen=True)
class Pyramid:
  """A trained pyramid: its workdir (checkpoints, run.json, sheets, outputs) and the config
  it trained with (image and mask: the files it learnt from)."""

  workdir: str
  config: ml_collections.ConfigDict
  float_pixels: bool = False  # the training image came as floats: outputs come back so

  @property
  def plan(self):
    """Its scale plan (plan.shapes[-1]: the finest scale's (h, w), the samples' size)."""
    h, w = image_io.read_image(self.config.image).shape[:2]
    return config_lib.scale_plan(self.config, h, w)


def train(image, mask=None, config=None, workdir: str | None = None) -> Pyramid:
  """Trains (or resumes, in a workdir that holds its pyramid) a pyramid on image with its
  hole mask (None: no hole, SinGAN on the whole image). config: a ConfigDict (e.g.
  singan_jax.configs.demo()), a shipped config's name, or a dict of fields over the paper's
  defaults (configs.default()). workdir: where it lives, default a new temporary folder."""
  cfg, explicit = _config(config, configs.default())
  workdir = workdir or tempfile.mkdtemp(prefix="singan_jax_")
  float_pixels = _use_image(cfg, workdir, image, "image", "image")
  _use_mask(cfg, workdir, mask, image, "mask", "mask")
  given = explicit | set(workdir_lib.INPUT_FIELDS)
  pipeline.run(cfg, workdir, "train", given)
  # A resumed workdir keeps its recorded pyramid settings: report those, not the call's.
  cfg = workdir_lib.adopt_record(cfg, workdir, given)
  return Pyramid(os.path.abspath(workdir), cfg, float_pixels)


def load(workdir: str, float_pixels: bool = False) -> Pyramid:
  """The pyramid a workdir holds (trained here or by the command line), with its recorded
  settings and input files; float_pixels: return outputs as floats in [0, 1]."""
  if workdir_lib.read_record(workdir) is None:
    raise inputs.UsageError(
      f"workdir {workdir} holds no pyramid record (run.json): train one first, "
      "singan_jax.train(image, mask, workdir=...) or --mode=train"
    )
  cfg = workdir_lib.adopt_record(configs.default(), workdir)
  return Pyramid(os.path.abspath(workdir), cfg, float_pixels)


def inpaint(pyramid: Pyramid, image=None, mask=None, config=None) -> np.ndarray:
  """The inpainted image (H, W, 3): the hole filled, every known pixel the input's. image,
  mask: default the pyramid's own (a pyramid learns one image; others are refused, as on the
  command line). config: a dict of fields over the pyramid's config (fill, texture, ...)."""
  cfg, explicit = _config(config, pyramid.config)
  float_pixels = pyramid.float_pixels
  if image is not None:
    float_pixels = _use_image(cfg, pyramid.workdir, image, "image", "inpaint_image")
    explicit.add("image")
  if mask is not None:
    _use_mask(cfg, pyramid.workdir, mask, image, "mask", "inpaint_mask")
    explicit.add("mask")
  pipeline.run(cfg, pyramid.workdir, "inpaint", explicit)
  return _read_output(os.path.join(pyramid.workdir, "inpainted.png"), float_pixels)


def sample(pyramid: Pyramid, n: int = 1, config=None) -> np.ndarray:
  """n random images (n, h, w, 3) from the pyramid, at its finest scale's size (times
  sample_scale_h / sample_scale_w, fields of config)."""
  cfg, explicit = _config(config, pyramid.config)
  cfg.num_samples = n
  pipeline.run(cfg, pyramid.workdir, "sample", explicit)
  folder = os.path.join(pyramid.workdir, "samples")
  paths = [os.path.join(folder, f"sample_{i}.png") for i in range(n)]
  return np.stack([_read_output(p, pyramid.float_pixels) for p in paths])


def apply(pyramid: Pyramid, mode: str, ref_image=None, ref_mask=None, config=None) -> np.ndarray:
  """One of SinGAN's applications (harmonize, edit, paint2image, animate, super_resolve;
  docs/applications.md) on the pyramid's image: its output image, or animate's frames
  (T, H, W, 3). ref_image / ref_mask: the mode's reference and region, arrays or files."""
  if mode not in modes_lib.NAMES:
    raise inputs.UsageError(
      f"mode {mode!r} is not an application: use one of {', '.join(modes_lib.NAMES)} "
      "(inpaint and sample have their own functions)"
    )
  cfg, explicit = _config(config, pyramid.config)
  if ref_image is not None:
    _use_image(cfg, pyramid.workdir, ref_image, "ref_image", "ref_image")
    explicit.add("ref_image")
  if ref_mask is not None:
    _use_mask(cfg, pyramid.workdir, ref_mask, ref_image, "ref_mask", "ref_mask")
    explicit.add("ref_mask")
  pipeline.run(cfg, pyramid.workdir, mode, explicit)
  path = modes_common.output_path(pyramid.workdir, mode)
  if mode == "animate":
    return np.asarray(iio.imread(path, index=None))[..., :3]
  return _read_output(path, pyramid.float_pixels)


# -- configs and arrays ---------------------------------------------------------------------


def _config(config, base) -> tuple[ml_collections.ConfigDict, set]:
  """(a config of its own, the fields given): config None (base as is), a shipped config's
  name, a ConfigDict (given: the fields that differ from the paper's defaults) or a dict of
  fields over base (given: its keys)."""
  if config is None:
    return base.copy_and_resolve_references(), set()
  if isinstance(config, str):
    return configs.named(config), set()
  if isinstance(config, ml_collections.ConfigDict):
    paper = config_lib.get_config()
    given = {f for f in config.keys() if f in paper and config[f] != paper[f]}
    return config.copy_and_resolve_references(), given
  if not isinstance(config, Mapping):
    raise TypeError(f"config is a {type(config).__name__}: give a ConfigDict, a name or a dict")
  cfg = base.copy_and_resolve_references()
  for field, value in config.items():
    if field not in cfg:
      raise inputs.UsageError(
        f"config has no field {field!r}: the fields and their meaning are in singan_jax/config.py"
      )
    cfg[field] = value
  return cfg, set(config)


def _use_image(cfg, workdir: str, image, field: str, name: str) -> bool:
  """Points cfg.<field> at image: a file path as is, an array written as a PNG in
  WORKDIR/inputs/; True when it came as floats in [0, 1]."""
  if isinstance(image, (str, os.PathLike)):
    cfg[field] = os.fspath(image)
    return False
  pixels, float_pixels = image_pixels(image, field)
  cfg[field] = _write(workdir, name, pixels)
  return float_pixels


def _use_mask(cfg, workdir: str, mask, image, field: str, name: str) -> None:
  """Points cfg.<field> at the mask (a path, or an array as a PNG; None: no hole, the shape of
  image)."""
  if isinstance(mask, (str, os.PathLike)):
    cfg[field] = os.fspath(mask)
    return
  if mask is None:
    if image is None or isinstance(image, (str, os.PathLike)):
      raise inputs.UsageError(f"{field}: give the hole mask as an (H, W) array or a file")
    mask = np.zeros(np.shape(image)[:2], bool)
  cfg[field] = _write(workdir, name, mask_levels(mask, field))


def image_pixels(image, what: str = "image") -> tuple[np.ndarray, bool]:
  """(pixels (H, W, 3) uint8 / uint16, came as floats) of an image array."""
  a = np.asarray(image)
  if a.ndim == 2:
    a = np.repeat(a[..., None], 3, axis=2)
  if a.ndim != 3 or a.shape[2] not in (3, 4):
    raise inputs.UsageError(
      f"{what} has shape {a.shape}: give an (H, W, 3) array ((H, W) grey and (H, W, 4) RGBA "
      "are taken too)"
    )
  a = a[..., :3]
  if a.dtype in (np.uint8, np.uint16):
    return a, False
  if a.dtype.kind != "f":
    raise inputs.UsageError(f"{what} has dtype {a.dtype}: give uint8, uint16 or floats in [0, 1]")
  if not np.isfinite(a).all():
    raise inputs.UsageError(f"{what} has NaN or infinite values: give floats in [0, 1]")
  if a.min() < 0 or a.max() > 1:
    raise inputs.UsageError(
      f"{what} has values from {a.min():.3g} to {a.max():.3g}: give floats in [0, 1] (e.g. "
      "uint8 pixels divided by 255) or the uint8 pixels themselves"
    )
  return np.round(a * FLOAT_LEVELS).astype(np.uint16), True


def mask_levels(mask, what: str = "mask") -> np.ndarray:
  """A mask array as the grey levels of a mask file (white = hole), for the file reader's
  checks: bool -> 0 / 255, floats in [0, 1] -> 8-bit levels, levels as they are."""
  m = np.asarray(mask)
  if m.ndim == 3:
    m = m[..., :3].mean(axis=2).astype(m.dtype) if m.dtype.kind == "f" else m[..., 0]
  if m.ndim != 2:
    raise inputs.UsageError(f"{what} has shape {np.shape(mask)}: give an (H, W) array")
  if m.dtype == bool:
    return np.where(m, 255, 0).astype(np.uint8)
  if m.dtype in (np.uint8, np.uint16):
    return m
  if m.dtype.kind == "f" and np.isfinite(m).all() and m.min() >= 0 and m.max() <= 1:
    return np.round(m * 255).astype(np.uint8)
  raise inputs.UsageError(
    f"{what} has dtype {m.dtype}: give an (H, W) bool array (True = hole), uint8 levels or "
    "floats in [0, 1] (white = hole)"
  )


def _write(workdir: str, name: str, pixels: np.ndarray) -> str:
  path = os.path.join(os.path.abspath(workdir), INPUTS, f"{name}.png")
  image_io.write_image(path, pixels)
  return path


def _read_output(path: str, float_pixels: bool) -> np.ndarray:
  pixels = image_io.read_image(path)
  if not float_pixels:
    return pixels
  return (pixels.astype(np.float64) / np.iinfo(pixels.dtype).max).astype(np.float32)
