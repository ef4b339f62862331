"""Super-resolution (SinGAN 2019, section 4.1): the training image carried up by a factor
(cfg.sr_factor, default 4) in steps of at most 1/scale_factor, the finest generator applied
with fresh noise at every step. It is inpainting's full-resolution pass
(inpainting/coherence.super_resolve) with every pixel open to the generator.

The 2019 code trains a dedicated pyramid for it (scale factor 2^(-1/3)); here the pyramid's
own scale factor sets the steps.
"""

import jax.numpy as jnp
import numpy as np

from singan_jax import rng
from singan_jax.inpainting import coherence
from singan_jax.io import images as image_io
from singan_jax.modes import common

write = image_io.write_image


def check(cfg, mode: str, plan) -> None:
  """Nothing to read: the range of sr_factor is a config rule (inputs.validate_config)."""


def output_size(plan, factor: float) -> tuple[int, int]:
  """The training image's (H, W) times factor."""
  return tuple(max(int(round(s * factor)), 1) for s in plan.input_hw)


def super_resolve(pyr, factor: float = 4.0, key=None) -> np.ndarray:
  """The finest real upscaled to factor x the training image's size: (H', W', 3) in [-1, 1]."""
  plan, frozen, gens = pyr.plan, common.first_image(pyr), pyr.generators().modules
  finest = jnp.asarray(pyr.reals[-1][0])  # (1, h_N, w_N, 3)
  size = output_size(plan, factor)
  everywhere = np.ones(size, bool)  # no pixel is kept: the generator redraws each step whole
  canvas = np.zeros((*size, 3), np.float32)
  last = plan.stop_scale
  x = coherence.super_resolve(
    finest, canvas, everywhere, frozen[last], gens[last], plan.scale_factor, key, pyr.net.partial
  )
  return np.asarray(x[0])


def apply(cfg, mode: str, pyr, key_id: int = 0) -> np.ndarray:
  """The upscaled training image as uint8 pixels."""
  x = super_resolve(pyr, cfg.sr_factor, rng.apply_key(cfg.seed, mode, key_id))
  return image_io.from_float(x)
