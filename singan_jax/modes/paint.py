"""Paint-to-image (SinGAN 2019, section 4.2): a clip-art painting of the training image's
layout is injected at a coarse scale n and scales n..N render it in the image's textures.

With cfg.quantize the painting is first mapped to the training image's palette, as the 2019
code's quantization_flag does: k-means (scipy's kmeans2) of the known pixels of the real at
scale n gives cfg.quantize_colors centres, and every painting pixel takes its nearest centre.
Left out: the 2019 code also retrains scales n..N on the quantised real (train_paint).
"""

import jax.numpy as jnp
import numpy as np
from scipy.cluster import vq

from singan_jax import rng
from singan_jax.core import resize as resize_lib
from singan_jax.io import images as image_io
from singan_jax.modes import common

write = image_io.write_image


def check(cfg, mode: str, plan) -> None:
  """Every check before training: the painting and the injection scale."""
  common.read_reference(cfg, mode, plan, same_size=False)
  common.injection_scale(cfg, mode, plan)


def palette(pyr, n: int, colors: int = 5, seed: int = 0) -> np.ndarray:
  """(colors, 3) k-means centres of the known pixels of the training image at scale n."""
  real = np.asarray(pyr.reals[n], np.float64).reshape(-1, 3)
  known = np.asarray(pyr.knowns[n]).reshape(-1) > 0.5
  centres, _ = vq.kmeans2(real[known], colors, iter=20, minit="++", seed=seed)
  return centres.astype(np.float32)


def quantize(x: np.ndarray, centres: np.ndarray) -> np.ndarray:
  """x (H, W, 3) with every pixel replaced by its nearest centre (Euclidean in RGB)."""
  codes, _ = vq.vq(np.asarray(x, np.float64).reshape(-1, 3), centres.astype(np.float64))
  return centres[codes].reshape(x.shape)


def paint2image(pyr, paint_pixels, n: int, key, centres=None) -> np.ndarray:
  """The painting (any size of the training image's shape, uint) rendered from scale n:
  (H, W, 3) float in [-1, 1] at the training image's size. centres: a palette to quantise
  the painting to first (palette), or None."""
  x = image_io.to_float(paint_pixels)
  if x.shape[:2] != tuple(pyr.plan.input_hw):
    x = np.clip(np.asarray(resize_lib.resize_to(x, pyr.plan.input_hw)), -1.0, 1.0)
  if centres is not None:
    x = quantize(x, centres)
  return common.to_input_size(pyr, common.inject(pyr, jnp.asarray(x, jnp.float32), n, key))


def apply(cfg, mode: str, pyr, key_id: int = 0) -> np.ndarray:
  """The rendered painting as pixels of the painting's dtype."""
  paint = common.read_reference(cfg, mode, pyr.plan, same_size=False)
  n = common.injection_scale(cfg, mode, pyr.plan)
  centres = palette(pyr, n, cfg.quantize_colors, cfg.seed) if cfg.quantize else None
  out = paint2image(pyr, paint, n, rng.apply_key(cfg.seed, mode, key_id), centres)
  return image_io.from_float(out, paint.dtype)
