"""Hole initialisers and blending (numpy reference; loops favour clarity over speed).

Arrays: image x (C, H, W) float, known/hole (H, W) with 1/True = known/hole.
"""

import numpy as np


def _shifted_sum(a, offsets):
  """sum over (dy, dx) of a shifted so out[y, x] += a[y + dy, x + dx]; zeros outside."""
  r = max(max(abs(dy), abs(dx)) for dy, dx in offsets)
  h, w = a.shape[-2:]
  ap = np.pad(a, [(0, 0)] * (a.ndim - 2) + [(r, r), (r, r)])
  out = np.zeros_like(a)
  for dy, dx in offsets:
    out += ap[..., r + dy : r + dy + h, r + dx : r + dx + w]
  return out


def mean_fill(x, known):
  """Every hole pixel takes the per-channel mean of the known pixels."""
  known = np.asarray(known).astype(bool)
  out = np.array(x, dtype=np.float64, copy=True)
  out[:, ~known] = out[:, known].mean(axis=1)[:, None]
  return out


def local_means(x, known, radius=4):
  """Onion peeling: each pass, every hole pixel with >= 1 known pixel in its
  (2r+1)^2 window (clipped to the image) takes their mean; all updates of a pass
  use the previous pass's state; updated pixels become known. Repeat until full."""
  known = np.asarray(known).astype(bool).copy()
  out = np.array(x, dtype=np.float64, copy=True)
  offsets = [(dy, dx) for dy in range(-radius, radius + 1) for dx in range(-radius, radius + 1)]
  while not known.all():
    k = known.astype(np.float64)
    count = _shifted_sum(k, offsets)
    total = _shifted_sum(out * k, offsets)
    update = (~known) & (count > 0)
    if not update.any():
      raise ValueError("local_means: no known pixel to start from")
    out[:, update] = total[:, update] / count[update]
    known |= update
  return out


def soft_mask(hole, radius=7, sigma=5.0, truncate=4.0):
  """Dilate the hole by a disk (dy^2 + dx^2 <= r^2), Gaussian blur (normalised 1-D
  kernel of half-width int(truncate*sigma + 0.5), ZERO padding outside the image),
  then rescale to [0, 1] by (s - min) / (max - min)."""
  hole = np.asarray(hole).astype(np.float64)
  disk = [
    (dy, dx)
    for dy in range(-radius, radius + 1)
    for dx in range(-radius, radius + 1)
    if dy * dy + dx * dx <= radius * radius
  ]
  s = (_shifted_sum(hole, disk) > 0).astype(np.float64)
  lw = int(truncate * sigma + 0.5)
  t = np.arange(-lw, lw + 1, dtype=np.float64)
  g = np.exp(-0.5 * (t / sigma) ** 2)
  g /= g.sum()
  s = sum(gi * v for gi, v in zip(g, _shifts_1d(s, lw, axis=0)))
  s = sum(gi * v for gi, v in zip(g, _shifts_1d(s, lw, axis=1)))
  lo, hi = s.min(), s.max()
  if hi > lo:
    return (s - lo) / (hi - lo)
  return (s > 0).astype(np.float64)


def _shifts_1d(a, r, axis):
  """[a shifted by d for d = -r..r] along axis (out[i] = a[i + d], zeros outside)."""
  n = a.shape[axis]
  widths = [(0, 0)] * a.ndim
  widths[axis] = (r, r)
  ap = np.pad(a, widths)
  return [np.take(ap, np.arange(r + d, r + d + n), axis=axis) for d in range(-r, r + 1)]


def blend(real, generated, soft):
  """(1 - soft) * real + soft * generated (soft broadcasts over channels)."""
  return (1 - soft) * real + soft * generated
