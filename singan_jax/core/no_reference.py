"""The ground-truth-free scores of a filled hole: the seam score and the patch SWD.

The inpainter ranks its candidates by them (singan_jax/inpainting/candidates.py) and the
evaluation reports them (singan_jax/evaluate/metrics.py), so they live below both. Images are
float (H, W, C) in [-1, 1]; the hole is (H, W) bool, True = hole; scores on the [0, 1] scale.
Plain numpy: they run once per image, on the host, after the inpainting.
"""

import numpy as np


def unit(x) -> np.ndarray:
  """[-1, 1] -> [0, 1] float64, (H, W, C)."""
  x = np.asarray(x, np.float64)
  if x.ndim != 3:
    raise ValueError(f"image must be (H, W, C), got {x.shape}")
  return (x + 1.0) / 2.0


def check_hole(hole, shape) -> np.ndarray:
  hole = np.asarray(hole, bool)
  if hole.shape != tuple(shape[:2]):
    raise ValueError(
      f"hole mask is {hole.shape} but the image is {shape[:2]}: give an (H, W) "
      "mask of the image's size"
    )
  if not hole.any():
    raise ValueError("hole mask is empty: there is nothing to score")
  return hole


def dilate(mask: np.ndarray, radius: int) -> np.ndarray:
  """Square (2r+1)^2 binary dilation of an (H, W) bool mask (separable running max)."""
  m = np.asarray(mask, bool)
  for axis in (0, 1):
    out = m.copy()
    for d in range(1, radius + 1):
      lo = [slice(None)] * 2
      hi = [slice(None)] * 2
      lo[axis], hi[axis] = slice(d, None), slice(None, -d)
      out[tuple(lo)] |= m[tuple(hi)]
      out[tuple(hi)] |= m[tuple(lo)]
    m = out
  return m


def seam(out, hole, band: int = 6) -> float:
  """Ground-truth-free seam score, >= 0, lower is better (0: no visible seam).

  |log(g_cross / g_known)|: g_cross is the mean absolute step between 4-neighbours across the
  hole boundary, g_known the same over known-known neighbours within `band` px of the hole.
  A visible seam (g_cross > g_known) and an over-smooth boundary (g_cross < g_known) both
  score above 0.
  """
  a = unit(out)
  hole = check_hole(hole, a.shape)
  near = dilate(hole, band)
  cross, local = [], []
  for axis in (0, 1):
    d = np.abs(np.diff(a, axis=axis)).mean(axis=-1)
    h0 = hole[:-1] if axis == 0 else hole[:, :-1]
    h1 = hole[1:] if axis == 0 else hole[:, 1:]
    n0 = near[:-1] if axis == 0 else near[:, :-1]
    n1 = near[1:] if axis == 0 else near[:, 1:]
    cross.append(d[h0 != h1])
    local.append(d[~h0 & ~h1 & (n0 | n1)])
  cross, local = np.concatenate(cross), np.concatenate(local)
  if cross.size == 0 or local.size == 0:
    raise ValueError(
      "the hole has no known neighbours (it covers the whole image): the seam "
      "score needs known pixels around the hole"
    )
  eps = 1e-4
  return float(abs(np.log((cross.mean() + eps) / (local.mean() + eps))))


def _gather_patches(a: np.ndarray, corners: np.ndarray, size: int) -> np.ndarray:
  """(N, size*size*C) patches of (H, W, C) whose top-left corners are (N, 2) (y, x)."""
  d = np.arange(size)
  ys = corners[:, 0, None, None] + d[None, :, None]
  xs = corners[:, 1, None, None] + d[None, None, :]
  return a[ys, xs].reshape(len(corners), -1)


def patch_swd(
  out, hole, patch: int = 7, projections: int = 64, max_patches: int = 4096, seed: int = 0
) -> float:
  """Ground-truth-free sliced Wasserstein-2 distance between the hole's patches (windows that
  touch the hole) and the known region's (windows wholly outside it); lower is better.

  A flat or blurry fill has too little patch variety, so it scores above the truth. The
  projections and the subsampling are drawn from `seed`: equal inputs give equal scores.
  """
  a = unit(out)
  hole = check_hole(hole, a.shape)
  half = patch // 2
  if min(a.shape[:2]) < patch:
    raise ValueError(
      f"image {a.shape[:2]} is smaller than the {patch}px patch: use a smaller patch"
    )
  # Window with top-left corner (y, x) touches the hole iff its centre is within half px.
  touches = dilate(hole, half)[half : a.shape[0] - half, half : a.shape[1] - half]
  hole_c, known_c = np.argwhere(touches), np.argwhere(~touches)
  if len(hole_c) == 0 or len(known_c) == 0:
    raise ValueError(
      f"no {patch}px window {'touches' if len(hole_c) == 0 else 'avoids'} the "
      "hole: the patch score needs both (use a smaller patch)"
    )
  rng = np.random.default_rng(seed)
  if len(hole_c) > max_patches:
    hole_c = hole_c[np.sort(rng.choice(len(hole_c), max_patches, replace=False))]
  if len(known_c) > max_patches:
    known_c = known_c[np.sort(rng.choice(len(known_c), max_patches, replace=False))]
  hole_p, known_p = _gather_patches(a, hole_c, patch), _gather_patches(a, known_c, patch)
  dirs = rng.normal(size=(hole_p.shape[-1], projections))
  dirs /= np.linalg.norm(dirs, axis=0, keepdims=True)
  ph, pk = np.sort(hole_p @ dirs, axis=0), np.sort(known_p @ dirs, axis=0)
  q = (np.arange(256) + 0.5) / 256  # compare the two sets at common quantiles
  qh = np.quantile(ph, q, axis=0)
  qk = np.quantile(pk, q, axis=0)
  return float(np.sqrt(np.mean((qh - qk) ** 2, axis=0)).mean())


def no_reference(out, hole) -> dict:
  """The ground-truth-free scores: {'seam', 'patch_swd'}."""
  return {"seam": seam(out, hole), "patch_swd": patch_swd(out, hole)}
