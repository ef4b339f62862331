"""Putting the generated hole back into the user's photo.

Known pixels are the user's: the default `feather` blend keeps every known pixel farther than
`blend_feather` px (Euclidean, at the input's resolution) from the hole bit-identical, and ramps
linearly over the pixels within it, so the seam is made good by the fill, not by repainting the
photo. The report's `soft` blend (the hole dilated by a disk, Gaussian-blurred) is kept for
comparison: it rewrites known pixels up to radius + 4 sigma away.
"""

import math

import jax.numpy as jnp
import numpy as np
from jax import lax
from scipy import ndimage

from singan_jax.core import schema
from singan_jax.io import images as image_io


def feather_alpha(hole: np.ndarray, feather: float) -> np.ndarray:
  """(H, W) float32 in [0, 1]: 1 in the hole, 1 - d / (feather + 1) on known pixels at
  distance d <= feather from it, 0 beyond (feather 0: the hole alone)."""
  hole = np.asarray(hole, bool)
  if feather <= 0 or not hole.any():
    return hole.astype(np.float32)
  dist = ndimage.distance_transform_edt(~hole)  # 0 in the hole, >= 1 on known pixels
  alpha = np.clip(1.0 - dist / (feather + 1.0), 0.0, 1.0)
  alpha[dist > feather] = 0.0
  return alpha.astype(np.float32)


def disk(radius: float) -> np.ndarray:
  """Binary disk structuring element, pixels with dy^2 + dx^2 <= radius^2."""
  r = int(math.floor(radius))
  yy, xx = np.mgrid[-r : r + 1, -r : r + 1]
  return (yy * yy + xx * xx <= radius * radius).astype(np.float32)


def gaussian_kernel(sigma: float, truncate: float = 4.0) -> np.ndarray:
  """Normalised 1-D Gaussian, half-width int(truncate * sigma + 0.5)."""
  half = int(truncate * sigma + 0.5)
  t = np.arange(-half, half + 1, dtype=np.float64)
  k = np.exp(-0.5 * (t / sigma) ** 2)
  return (k / k.sum()).astype(np.float32)


def _conv_same(x, kernel):
  """Zero-padded 'same' 2-D correlation of a (H, W) map with a (kh, kw) kernel."""
  y = lax.conv_general_dilated(
    x[None, :, :, None],
    jnp.asarray(kernel)[:, :, None, None],
    (1, 1),
    "SAME",
    dimension_numbers=("NHWC", "HWIO", "NHWC"),
  )
  return y[0, :, :, 0]


def soft_mask(hole: np.ndarray, radius: float, sigma: float) -> np.ndarray:
  """(H, W) float32 in [0, 1]: the hole dilated by a disk, Gaussian-blurred, min-max scaled
  (the report's blend). Exactly 0 far from the hole (the blur is truncated at 4 sigma), 1 in
  the hole."""
  h = jnp.asarray(hole, jnp.float32)
  dilated = (_conv_same(h, disk(radius)) > 0.5).astype(jnp.float32) if radius >= 1 else h
  if sigma > 0:
    g = gaussian_kernel(sigma)
    blurred = _conv_same(_conv_same(dilated, g[:, None]), g[None, :])
  else:
    blurred = dilated
  s = np.asarray(blurred, np.float64)
  s[s < 1e-7] = 0.0
  lo, hi = s.min(), s.max()
  if hi - lo <= 0:
    return (s > 0).astype(np.float32)
  s = (s - lo) / (hi - lo)
  s[np.asarray(hole, bool)] = 1.0
  return s.astype(np.float32)


def blend_alpha(hole: np.ndarray, opts, ratio: float) -> np.ndarray:
  """The Inpainting section's blend: its (H, W) weight of the generated image. ratio = input
  pixels per finest-scale pixel: it scales the soft blend (given in finest-scale pixels), not
  the feather (given in input pixels)."""
  schema.check(schema.Inpainting, "blend", opts.blend)
  if opts.blend == "feather":
    return feather_alpha(hole, opts.blend_feather)
  return soft_mask(hole, opts.blend_radius * ratio, opts.blend_sigma * ratio)


def composite(pixels: np.ndarray, full, alpha: np.ndarray) -> np.ndarray:
  """pixels (H, W, 3) uint with the generated full (H, W, 3) in [-1, 1] blended in through
  alpha (H, W); pixels where alpha is 0 are returned exactly as given."""
  x = image_io.to_float(pixels)
  blended = (1.0 - alpha[..., None]) * x + alpha[..., None] * np.asarray(full)
  out = image_io.from_float(blended, pixels.dtype)
  return np.where(alpha[..., None] > 0, out, pixels)
