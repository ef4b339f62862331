"""Inpainting with a trained pyramid: fill -> inject at scale n -> generate n..N -> blend.

The generated image lives at the finest scale's resolution; it is upsampled to the input's
resolution and blended there through a soft mask (the hole dilated and blurred), so pixels
outside the soft mask keep the input's exact values.
"""

import math

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from singan_jax.inpaint import candidates
from singan_jax.inpaint import fill as fill_lib
from singan_jax.io import images as image_io
from singan_jax.inpaint import progressive
from singan_jax.core import pyramid
from singan_jax.core import resize as resize_lib
from singan_jax.core import sampling


def resolve_inject_scale(cfg, plan: pyramid.ScalePlan) -> int:
  """The injection scale n in 1..N: cfg.inject_scale, or round(inject_fraction * N) if < 0."""
  stop = plan.stop_scale
  if cfg.inject_scale < 0:
    return int(min(max(round(cfg.inject_fraction * stop), 1), stop))
  if not 1 <= cfg.inject_scale <= stop:
    raise ValueError(
      f"injection scale {cfg.inject_scale} is out of range for this "
      f"{plan.num_scales}-scale pyramid: use --config.inject_scale in 1..{stop}"
      " (or -1 for round(inject_fraction * N))"
    )
  return int(cfg.inject_scale)


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
  """(H, W) float32 in [0, 1]: the hole dilated by a disk, Gaussian-blurred, min-max scaled.

  Exactly 0 far from the hole (the blur is truncated at 4 sigma), exactly 1 in its core.
  """
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


def select_image(frozen, i: int):
  """Image i's slice of batched FrozenScales."""
  return [jax.tree.map(lambda x: x[i], fs) for fs in frozen]


def generate(pyr, frozen_i, finest_filled, n: int, key):
  """Injects the filled finest image (1, h_N, w_N, 3) at scale n; returns the finest output."""
  plan = pyr.plan
  return sampling.inject(
    frozen_i,
    pyr.generators(),
    plan.shapes,
    plan.scale_factor,
    finest_filled,
    n,
    key,
    pyr.net.partial,
    compat=pyr.net.compat,
  )


def blend(pixels: np.ndarray, hole: np.ndarray, full, cfg, ratio: float):
  """(output, soft): the generated image full (H, W, 3) in [-1, 1] blended into pixels
  through the soft mask; ratio = input pixels per finest-scale pixel (scales the blend)."""
  soft = soft_mask(hole, cfg.blend_radius * ratio, cfg.blend_sigma * ratio)
  x = image_io.to_float(pixels)
  blended = (1.0 - soft[..., None]) * x + soft[..., None] * np.asarray(full)
  out = image_io.from_float(blended, pixels.dtype)
  return np.where(soft[..., None] > 0, out, pixels), soft


def inpaint(
  pyr, pixels: np.ndarray, hole: np.ndarray, cfg, image_index: int = 0, key_id: int | None = None
) -> dict:
  """Inpaints one input image with its trained pyramid (image_index: its slot in the batch;
  key_id: the id its random draws derive from, default image_index).

  pixels: (H, W, 3) uint8/uint16 as read; hole: (H, W) bool. Returns a dict with 'output'
  (pixels' dtype, same size), and float32 [-1, 1] 'filled', 'generated' (full resolution),
  'soft' (H, W) and the injection scale 'n'. A hole above cfg.progressive_share of the image
  is filled ring by ring (singan_jax/inpaint/progressive.py); otherwise one pass, inpaint_once.
  """
  key_id = image_index if key_id is None else key_id
  if progressive.applies(hole, cfg):
    return progressive.inpaint_rings(inpaint_once, pyr, pixels, hole, cfg, image_index, key_id)
  return inpaint_once(pyr, pixels, hole, cfg, image_index, key_id)


def inpaint_once(
  pyr, pixels: np.ndarray, hole: np.ndarray, cfg, image_index: int = 0, key_id: int | None = None
) -> dict:
  """One pass of fill -> inject -> generate -> blend (see inpaint). With
  cfg.num_candidates = K > 1, K draws run in one vmap and the best by the ground-truth-free
  scores is kept (singan_jax/inpaint/candidates.py; its index is returned as 'candidate')."""
  plan = pyr.plan
  n = resolve_inject_scale(cfg, plan)
  x = jnp.asarray(image_io.to_float(pixels))
  known = jnp.asarray(~hole)
  key_id = image_index if key_id is None else key_id
  key = jax.random.fold_in(jax.random.PRNGKey(cfg.seed), 20_000 + key_id)
  k_fill, k_gen = jax.random.split(key)
  filled = fill_lib.fill(
    x,
    known,
    cfg.fill,
    key=k_fill,
    radius=cfg.fill_radius,
    patch_size=cfg.patch_size,
    iters=cfg.patch_iters,
  )
  finest_filled = pyramid.finest(filled[None], plan, pyr.net.compat)
  frozen_i = select_image(pyr.frozen, image_index)
  k = int(cfg.get("num_candidates", 1))
  if k > 1:
    many = candidates.generate_many(pyr, frozen_i, finest_filled, n, k_gen, k)
    fulls = np.asarray(resize_lib.resize(many, 1.0 / plan.scale1, plan.input_hw))
    blends = [blend(pixels, hole, f, cfg, 1.0 / plan.scale1) for f in fulls]
    best, _ = candidates.choose([image_io.to_float(o) for o, _ in blends], hole)
    full, (out, soft) = fulls[best], blends[best]
  else:
    best = 0
    generated = generate(pyr, frozen_i, finest_filled, n, k_gen)
    full = resize_lib.resize(generated, 1.0 / plan.scale1, plan.input_hw)[0]
    out, soft = blend(pixels, hole, full, cfg, 1.0 / plan.scale1)
  return {
    "output": out,
    "filled": np.asarray(filled),
    "generated": np.asarray(full),
    "soft": soft,
    "n": n,
    "candidate": best,
  }
