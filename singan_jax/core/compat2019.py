"""The 2019 code's pyramids bit for bit (compat='2019'; REFERENCE.md, its last two sections).

Its image read and every uint8 round trip run in float32 in its order (/ 255 in float64,
cast, then (x - 0.5) * 2; back as 255 * clamp((x + 1) / 2) truncated), its imresize in
float64 on uint8 levels with its tap arithmetic (taps left of / above the image dropped) and
its sums' order (products gathered per tap, summed over the taps). Float rounding in another
order moves single values by one level, so this is numpy, outside any jit: the reals and mask
pyramids are built once per run. Hand-written (no library reproduces those roundings).
"""

import math

import numpy as np

from singan_jax.core import errors

LEVELS = 255


def levels_of(x: np.ndarray) -> np.ndarray:
  """Our float image in [-1, 1] (io.images.to_float of 8-bit pixels) -> its uint8 levels."""
  return np.rint((np.asarray(x, np.float64) + 1) * (LEVELS / 2)).clip(0, LEVELS).astype(np.uint8)


def read(levels: np.ndarray) -> np.ndarray:
  """uint8 levels (or a resize's float64 output on their scale) -> float32 in [-1, 1] as
  the 2019 read: / 255 in float64, cast to float32, then (x - 0.5) * 2 and clamp."""
  unit = (np.asarray(levels) / LEVELS).astype(np.float32)
  return np.clip((unit - 0.5) * 2, -1, 1)


def to_levels(x: np.ndarray) -> np.ndarray:
  """float32 [-1, 1] -> uint8 as the 2019 round trip: 255 * clamp((x + 1) / 2), truncated."""
  x = np.asarray(x, np.float32)
  return (LEVELS * np.clip((x + 1) / 2, 0, 1)).astype(np.uint8)


def _kernel(t: np.ndarray) -> np.ndarray:
  """Keys cubic (a = -0.5), its polynomial written as the 2019 code evaluates it."""
  a = np.abs(t)
  a2, a3 = a**2, a**3
  inner = (1.5 * a3 - 2.5 * a2 + 1) * (a <= 1)
  return inner + (-0.5 * a3 + 2.5 * a2 - 4 * a + 2) * ((1 < a) & (a <= 2))


def axis_taps(in_len: int, out_len: int, scale: float) -> tuple[np.ndarray, np.ndarray]:
  """(weights float64, source index int) of one axis, (out_len, taps) each.

  A tap before the first pixel gets weight 0 before the renormalisation (the 2019 index
  wraps to a huge unsigned value there); taps past the end mirror. Tap columns with no
  weight anywhere are dropped, as 2019 does (so every sum has the same addends)."""
  shrink = scale < 1
  width = 4.0 * (1.0 / scale if shrink else 1.0)
  match = 1.0 * np.arange(1, out_len + 1) / scale + 0.5 * (1 - 1.0 / scale)
  first = np.floor(match - width / 2) - 1
  taps = first[:, None] + np.arange(np.ceil(width) + 2)
  arg = 1.0 * match[:, None] - np.where(taps < 0, 0.0, taps) - 1
  weights = scale * _kernel(scale * arg) if shrink else _kernel(arg)  # widened when shrinking
  weights = np.where(taps < 0, 0.0, weights)
  sums = np.sum(weights, axis=1)
  sums[sums == 0] = 1.0
  weights = 1.0 * weights / sums[:, None]
  mirror = np.concatenate([np.arange(in_len), np.arange(in_len - 1, -1, -1)])
  index = mirror[np.mod(taps.astype(np.int64), 2 * in_len)]
  used = np.any(weights, axis=0)
  return weights[:, used], index[:, used]


def resize_levels(levels: np.ndarray, scale: float) -> np.ndarray:
  """uint8 (H, W, C) -> float64 (ceil(H s), ceil(W s), C): rows, then columns; a resize by
  1 returns the levels themselves (2019 skips that axis)."""
  out = levels
  if scale == 1.0:
    return out.astype(np.float64)
  for axis in (0, 1):
    weights, index = axis_taps(out.shape[axis], math.ceil(out.shape[axis] * scale), scale)
    front = np.moveaxis(out, axis, 0)  # (in, ...)
    gathered = front[index.T]  # (taps, out, ...)
    summed = np.sum(gathered * weights.T.reshape(weights.T.shape + (1,) * (front.ndim - 1)), 0)
    out = np.moveaxis(summed, 0, axis)
  return out


def imresize(x: np.ndarray, scale: float) -> np.ndarray:
  """The 2019 imresize of a float32 (H, W, C) image in [-1, 1]: levels in, float32 out."""
  return read(resize_levels(to_levels(x), scale))


def reals_pyramid(levels: np.ndarray, plan) -> list[np.ndarray]:
  """uint8 (H, W, 3) -> the 2019 reals (h_i, w_i, 3) float32, coarsest first: the read,
  the resize by scale1, then every level (the finest too, by 1) from that."""
  finest = imresize(read(levels), plan.scale1)
  stop = plan.stop_scale
  out = [imresize(finest, math.pow(plan.scale_factor, stop - i)) for i in range(stop + 1)]
  for got, want in zip(out, plan.shapes):
    if got.shape[:2] != tuple(want):
      raise errors.SettingError(
        f"the 2019 resize gives a {got.shape[:2]} level where the scale plan says {want}: "
        "compat '2019' needs the 2019 scale plan (drop compat, or report this)",
        "compat",
      )
  return out


def mask_pyramid(hole: np.ndarray, plan, threshold: float) -> list[np.ndarray]:
  """The 2019 unstructured mask pyramid, known maps (h_i, w_i, 1) float32 (1 = known).

  The (H, W) hole (True = hole) as a white-on-black mask file through the reals' chain,
  min-max normalised per level, known where below `threshold` (2019: 0.01). A level with
  one value only (no hole left) is all known (the 2019 code divides by zero there)."""
  white = np.where(np.asarray(hole, bool), LEVELS, 0).astype(np.uint8)
  mask_file = np.repeat(white[..., None], 3, axis=2)
  out = []
  for level in reals_pyramid(mask_file, plan):
    lo, hi = level.min(), level.max()
    if hi == lo:
      out.append(np.ones(level.shape[:2] + (1,), np.float32))
      continue
    normalised = (level[..., :1] - lo) / (hi - lo)
    out.append((normalised < threshold).astype(np.float32))
  return out


def bbox_mask_pyramid(hole: np.ndarray, plan) -> list[np.ndarray]:
  """The 2019 structured mask pyramid (h_i, w_i, 1): the hole's bounding box (x, y, w, h)
  in the input's pixels, its size scaled by (h_i / H, w_i / W), its corner moved by half the
  size change only, clipped at 0: at coarse scales the box sits off the hole, as in 2019."""
  rows, cols = np.nonzero(np.asarray(hole, bool))
  H, W = hole.shape
  out = []
  for h_s, w_s in plan.shapes:
    known = np.ones((h_s, w_s, 1), np.float32)
    if rows.size:
      x, y = int(cols.min()), int(rows.min())
      w, h = int(cols.max()) - x + 1, int(rows.max()) - y + 1
      box_w, box_h = min(w_s, int(w * (w_s / W))), min(h_s, int(h * (h_s / H)))
      left, top = max(0, x - (w - box_w) // 2), max(0, y - (h - box_h) // 2)
      known[top : top + box_h, left : left + box_w] = 0
    out.append(known)
  return out
