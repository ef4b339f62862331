"""Progressive filling of large holes: from the boundary inwards, one ring per pass.

A large hole leaves the injected image flat in its middle, and the pyramid regenerates it
blurry. Here the hole is cut into rings by depth (distance to the nearest known pixel). Pass r
inpaints the remaining hole (rings r..R-1) with everything outside it as known context, and
keeps the result outside rings r+1..R-1: each ring is filled next to real texture, and the
next pass's initialiser and injection start from it. Used when the hole covers more than
progressive_share of the image; otherwise the single pass is unchanged.
"""

import dataclasses

import numpy as np

from singan_jax.core import errors
from singan_jax.core import no_reference


def applies(hole: np.ndarray, opts) -> bool:
  """True when progressive filling is on (the Inpainting section's progressive_rings > 1) and
  the hole's share of the image exceeds its progressive_share."""
  return int(opts.progressive_rings) > 1 and float(np.mean(hole)) > float(opts.progressive_share)


def depth(hole: np.ndarray) -> np.ndarray:
  """(H, W) int: 0 on known pixels, d on hole pixels d steps (8-neighbour) from the known."""
  hole = np.asarray(hole, bool)
  if hole.all():
    raise errors.InputError(
      "the hole covers the whole image: progressive filling needs known pixels around it"
    )
  d = np.zeros(hole.shape, np.int64)
  known = ~hole
  step = 0
  while not known.all():
    step += 1
    grown = no_reference.dilate(known, 1)
    d[grown & ~known] = step
    known = grown
  return d


def rings(hole: np.ndarray, count: int) -> list[np.ndarray]:
  """The hole cut into `count` (or fewer, for a thin hole) nested rings by depth, outermost
  first; (H, W) bool each, disjoint, their union is the hole."""
  if count < 1:
    raise errors.SettingError(
      f"progressive_rings is {count}: use 1 (off) or more", "progressive_rings"
    )
  d = depth(hole)
  deepest = int(d.max())
  count = max(1, min(count, deepest))
  edges = np.round(np.linspace(0, deepest, count + 1)).astype(int)
  out = [(d > lo) & (d <= hi) for lo, hi in zip(edges[:-1], edges[1:])]
  return [r for r in out if r.any()]


def inpaint_rings(once, pyr, pixels, hole: np.ndarray, opts, image_index: int, key_id: int, seed):
  """Inpaints ring by ring with `once` (inpaint.inpaint_once's signature); returns its result
  for the last pass with the assembled output, the union of the passes' soft masks, the first
  pass's fill and the number of passes (rings)."""
  parts = rings(hole, int(opts.progressive_rings))
  current = np.array(pixels, copy=True)
  soft = np.zeros(hole.shape, np.float32)
  first_fill = None
  result = None
  for r in range(len(parts)):
    remaining = np.logical_or.reduce(parts[r:])
    later = np.logical_or.reduce(parts[r + 1 :]) if r + 1 < len(parts) else np.zeros_like(hole)
    result = once(pyr, current, remaining, opts, image_index, key_id, r, seed=seed)  # pass r's keys
    current = np.where(later[..., None], current, result.output)
    soft = np.maximum(soft, result.soft)
    if first_fill is None:
      first_fill = result.filled
  return dataclasses.replace(result, output=current, soft=soft, filled=first_fill, rings=len(parts))
