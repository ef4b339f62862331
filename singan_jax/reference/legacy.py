"""The 2019 code's image numerics, step by step in its own float order (REFERENCE.md, last
two sections): its image read, its uint8 round trips, its numpy imresize and the reals and
mask pyramids built from them. Written from those facts for the parity tests: the library's
compat='2019' pyramids (singan_jax/core/compat2019.py) must equal these bit for bit.

Tensors are torch (1, C, H, W) float32 as in the 2019 code; uint8 levels are numpy (H, W, C).
"""

import math

import numpy as np
import torch


def read(pixels: np.ndarray) -> torch.Tensor:
  """uint8 (H, W, C) -> (1, C, H, W) float32: / 255 in float64, cast, (x - 0.5) * 2, clamp."""
  unit = pixels.transpose(2, 0, 1)[None] / 255
  return from_unit(unit)


def from_unit(unit: np.ndarray) -> torch.Tensor:
  """float64 (1, C, H, W) in [0, 1] -> float32 [-1, 1], cast before the affine map."""
  x = torch.from_numpy(np.ascontiguousarray(unit)).type(torch.FloatTensor)
  return ((x - 0.5) * 2).clamp(-1, 1)


def to_uint8(x: torch.Tensor) -> np.ndarray:
  """(1, C, H, W) [-1, 1] -> uint8 (H, W, C): 255 * clamp((x + 1) / 2, 0, 1), truncated."""
  v = 255 * ((x[0].permute(1, 2, 0) + 1) / 2).clamp(0, 1)
  return v.numpy().astype(np.uint8)


def _cubic(x):
  absx = np.abs(x)
  absx2, absx3 = absx**2, absx**3
  return (1.5 * absx3 - 2.5 * absx2 + 1) * (absx <= 1) + (
    -0.5 * absx3 + 2.5 * absx2 - 4 * absx + 2
  ) * ((1 < absx) & (absx <= 2))


def _contributions(in_len: int, out_len: int, scale: float):
  """(weights, taps) of one axis, (out_len, k) each, as the 2019 code computes them: tap
  indices as np.uint (a negative one wraps to a huge value, where the kernel is 0), the
  kernel there, renormalised, mirrored, then the all-zero tap columns dropped."""
  antialias = scale < 1
  kernel = (lambda t: scale * _cubic(scale * t)) if antialias else _cubic
  width = 4.0
  width *= 1.0 / scale if antialias else 1.0
  match = 1.0 * np.arange(1, out_len + 1) / scale + 0.5 * (1 - 1.0 / scale)
  left = np.floor(match - width / 2)
  with np.errstate(invalid="ignore"):
    taps = np.uint(left[:, None] + np.arange(np.ceil(width) + 2) - 1)
  weights = kernel(1.0 * match[:, None] - taps - 1)
  sums = np.sum(weights, axis=1)
  sums[sums == 0] = 1.0
  weights = 1.0 * weights / sums[:, None]
  mirror = np.uint(np.concatenate((np.arange(in_len), np.arange(in_len - 1, -1, step=-1))))
  taps = mirror[np.mod(taps, mirror.shape[0])]
  keep = np.nonzero(np.any(weights, axis=0))[0]
  return weights[:, keep], taps[:, keep]


def imresize_levels(levels: np.ndarray, scale: float) -> np.ndarray:
  """uint8 (H, W, C) -> float64 (ceil(H s), ceil(W s), C), rows first, a factor-1 axis
  skipped (the levels come back unchanged): the 2019 imresize_in."""
  out = levels
  for axis in (0, 1):
    if scale == 1.0:
      continue
    n_out = int(math.ceil(out.shape[axis] * scale))
    weights, taps = _contributions(out.shape[axis], n_out, scale)
    moved = np.swapaxes(out, axis, 0)
    w = weights.T.reshape(weights.T.shape + (1,) * (moved.ndim - 1))
    out = np.swapaxes(np.sum(moved[taps.T] * w, axis=0), axis, 0)
  return out


def imresize(x: torch.Tensor, scale: float) -> torch.Tensor:
  """The 2019 imresize of a [-1, 1] tensor: uint8 levels in, float64 resize, float32 out."""
  y = imresize_levels(to_uint8(x), scale)
  return from_unit(y.transpose(2, 0, 1)[None] / 255)


def reals_pyramid(pixels: np.ndarray, plan: dict) -> list:
  """The 2019 reals, coarsest first: read, resize by scale1, then each level from that."""
  real = imresize(read(pixels), plan["scale1"])
  stop = plan["stop_scale"]
  return [imresize(real, math.pow(plan["scale_factor"], stop - i)) for i in range(stop + 1)]


def mask_pyramid(hole: np.ndarray, plan: dict, threshold: float = 0.01) -> list:
  """The 2019 unstructured mask pyramid: the (H, W) hole (True = hole) as a white-on-black
  RGB mask file, through the reals' chain, min-max normalised per scale; known (1) where
  the value is < threshold. A level without a hole (max == min) is all known."""
  mask_file = np.repeat((np.asarray(hole, bool) * 255).astype(np.uint8)[..., None], 3, axis=2)
  out = []
  for level in reals_pyramid(mask_file, plan):
    lo, hi = level.min(), level.max()
    if hi == lo:
      out.append(torch.ones_like(level[:, :1]))
      continue
    normalised = (level[:, :1] - lo) / (hi - lo)
    out.append((normalised < threshold).float())
  return out


def bbox_mask_pyramid(hole: np.ndarray, plan: dict) -> list:
  """The 2019 structured mask pyramid: the hole's bounding box (x, y, w, h) in the input's
  pixels, its size scaled per level by (h_s / H, w_s / W) but its corner only shifted by
  half the size change, clipped at 0 (not scaled: at coarse scales it sits off the hole)."""
  rows, cols = np.nonzero(np.asarray(hole, bool))
  H, W = hole.shape
  out = []
  for h_s, w_s in plan["shapes"]:
    known = torch.ones(1, 1, h_s, w_s)
    if rows.size:
      x, y = int(cols.min()), int(rows.min())
      w, h = int(cols.max()) - x + 1, int(rows.max()) - y + 1
      bw, bh = min(w_s, int(w * (w_s / W))), min(h_s, int(h * (h_s / H)))
      x0, y0 = max(0, x - (w - bw) // 2), max(0, y - (h - bh) // 2)
      known[..., y0 : y0 + bh, x0 : x0 + bw] = 0
    out.append(known)
  return out
