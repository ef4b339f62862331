"""What the application modes share: their reference inputs (read and checked before any
training), the injection scale, the trained image's slice of the pyramid, the injection itself
and the float image back at the training image's size."""

import dataclasses
import os

import jax
import numpy as np

from singan_jax import inputs
from singan_jax.core import applications
from singan_jax.core import pyramid
from singan_jax.core import resize as resize_lib
from singan_jax.inpainting import inpaint as inpaint_lib
from singan_jax.io import images as image_io


def output_path(workdir: str, mode: str) -> str:
  return os.path.join(workdir, applications.BY_NAME[mode].output)


def injection_scale(cfg, mode: str, plan: pyramid.ScalePlan) -> int:
  """The injection scale n in 1..N: cfg.ref_scale, or the mode's default when it is -1."""
  stop = plan.stop_scale
  if cfg.ref_scale < 0:
    return int(min(max(round(applications.BY_NAME[mode].default_fraction * stop), 1), stop))
  if not 1 <= cfg.ref_scale <= stop:
    raise inputs.UsageError(inputs.mode_scale(mode, "ref_scale", cfg.ref_scale, 1, plan))
  return int(cfg.ref_scale)


def read_reference(cfg, mode: str, plan: pyramid.ScalePlan, same_size: bool) -> np.ndarray:
  """--config.ref_image as (H, W, 3) uint pixels. same_size: it must have the training
  image's size (pixel-registered with it); else only its aspect ratio (within 2%)."""
  if not cfg.ref_image:
    raise inputs.UsageError(
      inputs.reference_missing(mode, "ref_image", applications.BY_NAME[mode].reference)
    )
  pixels = image_io.read_image(cfg.ref_image)
  got, want = pixels.shape[:2], tuple(plan.input_hw)
  if same_size and got != want:
    raise inputs.UsageError(inputs.reference_size(mode, cfg.ref_image, got, want))
  if abs(np.log((got[0] / got[1]) / (want[0] / want[1]))) > 0.02:
    raise inputs.UsageError(inputs.reference_aspect(cfg.ref_image, got, want))
  return pixels


def read_region(cfg, mode: str, ref_pixels: np.ndarray) -> np.ndarray:
  """--config.ref_mask as an (H, W) bool region (white = pasted / edited), the reference's
  size, with at least one pixel."""
  if not cfg.ref_mask:
    what = "a mask of the reference's size, white where the object was pasted / edited"
    raise inputs.UsageError(inputs.reference_missing(mode, "ref_mask", what))
  region = image_io.read_mask(
    cfg.ref_mask, ref_pixels.shape[:2], cfg.ref_image, max_grey_share=inputs.MAX_GREY_SHARE
  )
  if not region.any():
    raise inputs.UsageError(inputs.reference_mask_empty(mode, cfg.ref_mask))
  return region


def first_image(pyr) -> list:
  """The single image's FrozenScales (a batch of one's slot 0)."""
  return inpaint_lib.select_image(pyr.frozen, 0)


def one_image(pyr, slot: int, plan: pyramid.ScalePlan | None = None):
  """The pyramid of image `slot` of a bucket's batch, as a batch of one (what the modes take),
  with that image's own plan (its input size; the bucket's shapes), default the bucket's."""
  take = lambda x: x[slot : slot + 1]
  return dataclasses.replace(
    pyr,
    plan=pyr.plan if plan is None else plan,
    frozen=[jax.tree.map(take, fs) for fs in pyr.frozen],
    reals=[take(r) for r in pyr.reals],
    knowns=[take(k) for k in pyr.knowns],
  )


def inject(pyr, x_full, n: int, key):
  """x_full (H, W, 3) in [-1, 1] at the training image's size, taken to the finest scale,
  injected at scale n, scales n..N regenerated: the finest output (1, h_N, w_N, 3), in the
  pyramid's dtype (float64 pyramids in the parity tests)."""
  x = jax.numpy.asarray(x_full, pyr.frozen[0].z_opt.dtype)[None]
  finest = pyramid.finest(x, pyr.plan, pyr.net.compat)
  return inpaint_lib.generate(pyr, first_image(pyr), finest, n, key)


def to_input_size(pyr, finest) -> np.ndarray:
  """A finest-scale image (1, h_N, w_N, 3) at the training image's size (H, W, 3), bicubic."""
  plan = pyr.plan
  return np.asarray(resize_lib.resize(finest, 1.0 / plan.scale1, plan.input_hw)[0])
