"""The smooth hole fills: the known pixels' mean, and onion peeling with local means.

Jitted cores on x (H, W, C) float and known (H, W) bool (True = known pixel); fill.py
validates the inputs and picks the core. box_sum also serves PatchMatch's patch counts.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

# ----------------------------------------------------------------------------- windows


def round_up(n: int, m: int) -> int:
  """Smallest multiple of m that is >= max(n, 1)."""
  return max(m, -(-n // m) * m)


def box_sum(a: jax.Array, radius: int) -> jax.Array:
  """(H, W, K) -> (H, W, K) sum over the (2r+1)^2 window, zero outside the image.

  Separable reduce_window: exact for 0/1 counts, ~1 ulp error for values (no cumsum drift).
  """
  win = 2 * radius + 1
  s = lax.reduce_window(a, 0.0, lax.add, (win, 1, 1), (1, 1, 1), ((radius, radius), (0, 0), (0, 0)))
  return lax.reduce_window(
    s, 0.0, lax.add, (1, win, 1), (1, 1, 1), ((0, 0), (radius, radius), (0, 0))
  )


# ----------------------------------------------------------------------------- mean


@jax.jit
def mean_fill(x: jax.Array, known: jax.Array) -> jax.Array:
  """x (H,W,C), known bool (H,W) -> hole set to the per-channel mean of known pixels (0 if none)."""
  k = known[..., None]
  total = jnp.sum(jnp.where(k, x, 0).astype(jnp.float32), axis=(0, 1))
  count = jnp.sum(k, axis=(0, 1)).astype(jnp.float32)
  mean = (total / jnp.maximum(count, 1.0)).astype(x.dtype)
  return jnp.where(k, x, mean)


# ----------------------------------------------------------------------------- local means


@functools.partial(jax.jit, static_argnames="radius")
def onion_peel(x: jax.Array, known: jax.Array, radius: int) -> jax.Array:
  """Onion peeling on x (H,W,C): each pass fills every hole pixel with a known neighbour.

  A pass sets such a pixel to the mean of the known pixels in its (2r+1)^2 window and marks
  it known; passes are simultaneous (Jacobi) and repeat in a while_loop until no hole is
  left or a pass fills nothing (no known pixel at all -> mean fallback, i.e. 0).
  """
  c = x.shape[-1]
  vals0 = jnp.where(known[..., None], x, 0).astype(jnp.float32)
  kf0 = known[..., None].astype(jnp.float32)

  def cond(state):
    _, kf, changed = state
    return changed & jnp.any(kf == 0)

  def body(state):
    vals, kf, _ = state
    sums = box_sum(jnp.concatenate([vals * kf, kf], axis=-1), radius)
    num, cnt = sums[..., :c], sums[..., c:]
    new = (cnt > 0) & (kf == 0)
    vals = jnp.where(new, num / jnp.maximum(cnt, 1.0), vals)
    return vals, jnp.where(new, 1.0, kf), jnp.any(new)

  vals, kf, _ = lax.while_loop(cond, body, (vals0, kf0, jnp.array(True)))
  filled = jnp.where(kf > 0, vals.astype(x.dtype), mean_fill(x, known))
  return jnp.where(known[..., None], x, filled)


@functools.partial(jax.jit, static_argnames=("radius", "size"))
def onion_peel_window(x, known, radius, corner, size):
  """Onion-peel only the static-size window at corner (2,) and paste it back into x.

  Exact: the window holds the hole plus a radius margin, and every window sum of a
  hole pixel stays inside it (or is clipped by the image border, like the full image).
  """
  c = x.shape[-1]
  xw = lax.dynamic_slice(x, (corner[0], corner[1], 0), size + (c,))
  kw = lax.dynamic_slice(known, (corner[0], corner[1]), size)
  return lax.dynamic_update_slice(x, onion_peel(xw, kw, radius), (corner[0], corner[1], 0))


def hole_window(
  known: np.ndarray, margin: int, bucket: int = 32
) -> tuple[tuple[int, int], tuple[int, int]]:
  """Corner and size of the hole's bounding box grown by margin, size rounded up to bucket.

  Rounding the size to a bucket (then clamping into the image) limits recompiles.
  """
  h, w = known.shape
  hole_rows = np.flatnonzero((~known).any(axis=1))
  hole_cols = np.flatnonzero((~known).any(axis=0))
  corner, size = [], []
  for idx, n in ((hole_rows, h), (hole_cols, w)):
    lo, hi = max(int(idx[0]) - margin, 0), min(int(idx[-1]) + margin + 1, n)
    s = min(round_up(hi - lo, bucket), n)
    corner.append(min(lo, n - s))
    size.append(s)
  return tuple(corner), tuple(size)
