"""MATLAB-style imresize (bicubic, Keys a = -0.5, antialiased when shrinking).

The resize along one axis is a dense (out_len, in_len) matrix built in float64
numpy; `resize` applies it along H then W with einsum in the input's dtype.
By default there is no uint8 round trip: values stay float. compat='2019' follows the 2019
code step by step (REFERENCE.md, last section): levels = uint8(255 * clamp((x + 1) / 2)) by
truncation, the resize in float64 with the top/left border taps dropped in the 2019 code's
own sums (reference/legacy.py), / 255, then (y - 0.5) * 2 in float32, clamped to [-1, 1].
"""

import math

import numpy as np
import torch

from singan_jax.reference import legacy


def cubic(x):
  """Keys cubic convolution kernel with a = -0.5 (support [-2, 2])."""
  ax = np.abs(x)
  ax2, ax3 = ax**2, ax**3
  near = (1.5 * ax3 - 2.5 * ax2 + 1.0) * (ax <= 1)
  far = (-0.5 * ax3 + 2.5 * ax2 - 4.0 * ax + 2.0) * ((ax > 1) & (ax < 2))
  return near + far


def resize_matrix(in_len, scale, out_len, compat=""):
  """Dense (out_len, in_len) float64 matrix: row i holds output i's input weights.

  compat '2019': taps at 1-based positions < 1 wrap to huge unsigned indices in the 2019
  code, where the kernel is 0; so they are dropped before the weights are renormalised.
  """
  if scale < 1:  # antialiasing: widen the kernel by 1/scale
    kernel = lambda d: scale * cubic(scale * d)
    width = 4.0 / scale
  else:
    kernel = cubic
    width = 4.0
  out_idx = np.arange(1, out_len + 1, dtype=np.float64)  # 1-based
  u = out_idx / scale + 0.5 * (1.0 - 1.0 / scale)  # 1-based input coordinate
  left = np.floor(u - width / 2.0)
  taps = int(math.ceil(width)) + 2
  idx1 = left[:, None] + np.arange(taps)[None, :]  # 1-based tap indices
  weights = kernel(u[:, None] - idx1)
  if compat == "2019":
    weights = np.where(idx1 < 1, 0.0, weights)
  weights = weights / weights.sum(axis=1, keepdims=True)
  # Symmetric mirroring of out-of-range taps: 0..n-1, n-1..0, repeated.
  mirror = np.concatenate([np.arange(in_len), np.arange(in_len - 1, -1, -1)])
  idx0 = mirror[np.mod(idx1.astype(np.int64) - 1, 2 * in_len)]
  mat = np.zeros((out_len, in_len), dtype=np.float64)
  rows = np.repeat(np.arange(out_len), taps)
  np.add.at(mat, (rows, idx0.ravel()), weights.ravel())
  return mat


def _resize_2019(x, scale, out_hw):
  """The 2019 imresize image by image (legacy.imresize), its output cropped to out_hw; a
  larger out_hw (no 2019 counterpart) extends it with the same weights' matrix form."""
  full = (math.ceil(x.shape[-2] * scale), math.ceil(x.shape[-1] * scale))
  if out_hw[0] <= full[0] and out_hw[1] <= full[1]:
    out = [legacy.imresize(x[n : n + 1].detach().cpu(), scale) for n in range(x.shape[0])]
    return torch.cat(out)[..., : out_hw[0], : out_hw[1]].to(x.dtype)
  levels = (255 * ((x + 1) / 2).clamp(0, 1)).detach().cpu().numpy().astype(np.uint8)
  h, w = x.shape[-2:]
  mh = resize_matrix(h, scale, out_hw[0], "2019")
  mw = resize_matrix(w, scale, out_hw[1], "2019")
  y = np.einsum("oh,nchw->ncow", mh, levels.astype(np.float64))
  y = np.einsum("pw,ncow->ncop", mw, y) / 255
  y = torch.from_numpy(y).to(x.dtype)
  return ((y - 0.5) * 2).clamp(-1, 1)


def resize(x, scale, out_hw=None, compat=""):
  """Resize x (N, C, H, W) by `scale` on both axes.

  Output size is (ceil(H*scale), ceil(W*scale)) unless `out_hw` is given, in
  which case the same per-axis scale is used and only the number of output
  rows/cols changes (== resize then crop top-left, or extend). compat '2019': the
  2019 code's resize (module docstring).
  """
  if compat not in ("", "none", "2019"):
    raise ValueError(f"compat {compat!r}: use '', 'none' or '2019'")
  h, w = x.shape[-2:]
  if out_hw is None:
    out_hw = (math.ceil(h * scale), math.ceil(w * scale))
  if compat == "2019":
    return _resize_2019(x, scale, out_hw)
  mh = torch.as_tensor(resize_matrix(h, scale, out_hw[0]), dtype=x.dtype, device=x.device)
  mw = torch.as_tensor(resize_matrix(w, scale, out_hw[1]), dtype=x.dtype, device=x.device)
  x = torch.einsum("oh,nchw->ncow", mh, x)
  return torch.einsum("pw,ncow->ncop", mw, x)
