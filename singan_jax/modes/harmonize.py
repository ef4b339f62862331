"""Harmonisation and editing (SinGAN 2019, sections 4.3 and 4.4): the training image with an
object pasted in (harmonize) or coarsely edited (edit) is injected at scale n, scales n..N are
regenerated, and the result is blended into the reference through the region's mask, dilated
by a disk and Gaussian-blurred as the 2019 code's dilate_mask: radius 7 (harmonize) or 20
(edit) finest-scale pixels, sigma 5, scaled to the training image's resolution.

The 2019 code blends into the training image; here into the reference, which equals it outside
the region for the inputs these modes are for, and keeps an edit outside the region's blur.
"""

import numpy as np

from singan_jax import rng
from singan_jax.inpainting import blend as blend_lib
from singan_jax.io import images as image_io
from singan_jax.modes import common
from singan_jax.inpainting import inpaint as inpaint_lib

BLEND_RADIUS = {"harmonize": 7.0, "edit": 20.0}  # 2019 dilate_mask, finest-scale pixels
BLEND_SIGMA = 5.0


def check(cfg, mode: str, plan) -> None:
  """Every check before training: the reference, its region and the injection scale."""
  ref = common.read_reference(cfg, mode, plan, same_size=True)
  common.read_region(cfg, mode, ref)
  common.injection_scale(cfg, mode, plan)


def harmonize(pyr, ref_pixels, region, n: int, key, radius: float, sigma: float = BLEND_SIGMA):
  """The reference (H, W, 3) uint with its region (H, W) bool regenerated from scale n.

  Returns an inpaint.Inpainted: output (H, W, 3) of ref's dtype, generated (H, W, 3) float in
  [-1, 1], soft (H, W) the blend weight of the generated image, n."""
  generated = common.to_input_size(pyr, common.inject(pyr, image_io.to_float(ref_pixels), n, key))
  ratio = 1.0 / pyr.plan.scale1
  soft = blend_lib.soft_mask(region, radius * ratio, sigma * ratio)
  return inpaint_lib.Inpainted(blend_lib.composite(ref_pixels, generated, soft), generated, soft, n)


write = image_io.write_image


def apply(cfg, mode: str, pyr, key_id: int = 0) -> np.ndarray:
  """The mode's output image for the config's reference and region."""
  ref = common.read_reference(cfg, mode, pyr.plan, same_size=True)
  region = common.read_region(cfg, mode, ref)
  n = common.injection_scale(cfg, mode, pyr.plan)
  key = rng.apply_key(cfg.seed, mode, key_id)
  return harmonize(pyr, ref, region, n, key, BLEND_RADIUS[mode]).output
