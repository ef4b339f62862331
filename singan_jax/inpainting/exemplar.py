"""Exemplar-based inpainting with a structure-first fill order (Criminisi, Perez and Toyama
2004; the tensor data term of Le Meur, Gautier and Guillemot 2011).

The hole is filled one patch at a time from its edge inwards. Each step picks the front pixel
of highest priority, confidence x data: confidence is the share of already trusted pixels in
its patch (so corners of the hole wait), data is how strongly the image's isophotes (lines of
constant brightness) cross the front there, so lines and edges that run into the hole are
carried in before flat areas close over them. The patch's missing pixels are copied from the
wholly known patch nearest in SSD over its filled pixels. Written by hand: no maintained
library for JAX or numpy ships this fill (OpenCV's are diffusion fills).
All arrays are padded by half a patch, so every window below is a static-size slice.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp

from singan_jax.inpainting import local_means

DATA_FLOOR = 1e-3  # a flat front still gets filled (Criminisi's initial data term)


def _box(a: jax.Array, half: int) -> jax.Array:
  """(H, W) sum over the (2 half + 1)^2 window, zero outside."""
  return local_means.box_sum(a[..., None], half)[..., 0]


def _central(a: jax.Array, combine=jnp.subtract):
  """(d_y, d_x) of a (H, W): combine(a[y + 1], a[y - 1]) and combine(a[x + 1], a[x - 1]),
  zero (False) on the border rows and columns."""
  dy = jnp.zeros_like(a).at[1:-1].set(combine(a[2:], a[:-2]))
  dx = jnp.zeros_like(a).at[:, 1:-1].set(combine(a[:, 2:], a[:, :-2]))
  return dy, dx


def _gradients(grey: jax.Array, filled: jax.Array):
  """Central differences (gx, gy) of grey (H, W) where all four neighbours are filled, else 0,
  and that mask."""
  gy, gx = _central(grey)
  ok = jnp.logical_and(*_central(filled, jnp.logical_and))
  return jnp.where(ok, gx / 2, 0.0), jnp.where(ok, gy / 2, 0.0), ok


def priority(image, filled, confidence, inside, half: int) -> jax.Array:
  """(H, W) confidence x data on the fill front, -inf elsewhere. The data term is the rms
  flux of the window's isophotes across the front normal (the structure tensor of the
  rotated gradients, n^T J n)."""
  near = _box(filled.astype(image.dtype), 1)  # filled pixels among the 3x3 neighbours
  front = inside & ~filled & (near > 0)
  area = (2 * half + 1) ** 2
  conf = _box(jnp.where(filled, confidence, 0.0), half) / area
  gx, gy, ok = _gradients(jnp.mean(image, -1), filled)
  count = jnp.maximum(_box(ok.astype(image.dtype), half), 1.0)
  jxx, jyy, jxy = (_box(a, half) / count for a in (gy * gy, gx * gx, -gx * gy))
  ny, nx = _central(near)  # the front's normal: across the smoothed filled mask
  norm = jnp.sqrt(nx * nx + ny * ny) + 1e-12
  nx, ny = nx / norm, ny / norm
  data = jnp.sqrt(jnp.maximum(nx * nx * jxx + ny * ny * jyy + 2 * nx * ny * jxy, 0.0))
  return jnp.where(front, conf * (data + DATA_FLOOR), -jnp.inf)


def best_source(image, weights, target, source_ok, half: int) -> jax.Array:
  """(2,) the centre of the wholly known patch nearest target (p, p, C) in SSD weighted by
  weights (p, p) (1 on the target's filled pixels, the guide's weight on its missing ones):
  sum w x^2 - 2 sum w t x, two correlations over the image."""
  dn = ("NHWC", "HWIO", "NHWC")
  corr = functools.partial(jax.lax.conv_general_dilated, window_strides=(1, 1), padding="SAME")
  sq = jnp.sum(image * image, -1, keepdims=True)[None]
  energy = corr(sq, weights[..., None, None], dimension_numbers=dn)[0, ..., 0]
  cross = corr(image[None], (weights[..., None] * target)[..., None], dimension_numbers=dn)
  cost = jnp.where(source_ok, energy - 2 * cross[0, ..., 0], jnp.inf)
  flat = jnp.argmin(cost)
  return jnp.stack([flat // cost.shape[1], flat % cost.shape[1]])


@functools.partial(jax.jit, static_argnames=("patch_size",))
def complete(x, known, patch_size: int, guide=None, guide_weight=None):
  """x (H, W, C) with its hole (~known, (H, W) bool) filled patch by patch (module docstring),
  and each pixel's source (H, W, 2) int (known pixels: their own place). guide (H, W, C), at
  guide_weight > 0: the target's missing pixels are matched against it too (the generator's
  layout steers the choice of sources). Needs a wholly known patch (fill.fill_exemplar)."""
  half, p = patch_size // 2, patch_size
  pad2 = ((half, half), (half, half))
  image = jnp.pad(jnp.where(known[..., None], x, 0.0), pad2 + ((0, 0),))
  guide = image if guide is None else jnp.pad(guide, pad2 + ((0, 0),))
  weight = 0.0 if guide_weight is None else guide_weight
  inside = jnp.pad(jnp.ones(known.shape, bool), pad2)
  filled0 = jnp.pad(known, pad2)
  hole_free = _box((inside & ~filled0).astype(x.dtype), half) == 0
  source_ok = hole_free & (_box(inside.astype(x.dtype), half) == p**2)
  grid = jnp.stack(jnp.meshgrid(*(jnp.arange(n) for n in inside.shape), indexing="ij"), -1)
  win = lambda a, y, x: jax.lax.dynamic_slice(a, (y - half, x - half), (p, p))
  win3 = lambda a, y, x: jax.lax.dynamic_slice(a, (y - half, x - half, 0), (p, p, a.shape[-1]))

  def step(state):
    image, filled, confidence, source, n = state
    prio = priority(image, filled, confidence, inside, half)
    flat = jnp.argmax(prio)
    cy, cx = flat // prio.shape[1], flat % prio.shape[1]
    have, new = win(filled, cy, cx), ~win(filled, cy, cx) & win(inside, cy, cx)
    target = jnp.where(have[..., None], win3(image, cy, cx), win3(guide, cy, cx))
    weights = have.astype(x.dtype) + weight * new
    sy, sx = best_source(image, weights, target, source_ok, half)
    put = lambda a, b, m: jax.lax.dynamic_update_slice(
      a, jnp.where(m, b, win3(a, cy, cx)), (cy - half, cx - half, 0)
    )
    image = put(image, win3(image, sy, sx), new[..., None])
    source = put(source, win3(grid, sy, sx), new[..., None])
    conf = jnp.sum(jnp.where(have, win(confidence, cy, cx), 0.0)) / p**2  # the patch's C(p)
    confidence = put(confidence[..., None], jnp.full((p, p, 1), conf), new[..., None])[..., 0]
    filled = put(filled[..., None], new[..., None], new[..., None])[..., 0]
    return image, filled, confidence, source, n + 1

  def unfinished(state):
    return jnp.any(inside & ~state[1]) & (state[4] < known.size)

  state = (image, filled0, filled0.astype(x.dtype), grid, jnp.int32(0))
  image, _, _, source, _ = jax.lax.while_loop(unfinished, step, state)
  h, w = known.shape
  crop = lambda a: a[half : half + h, half : half + w]
  return jnp.where(known[..., None], x, crop(image)), crop(source) - half
