"""Inpainting quality scores: with the truth (PSNR, L1, SSIM) and without it (seam, patch SWD).

Images are float (H, W, 3) in [-1, 1] (image_io.to_float); the hole is (H, W) bool, True =
hole. Scores are computed on the [0, 1] scale. The two ground-truth-free scores (`seam`,
`patch_swd`) also rank inpainting candidates (singan_jax/inpaint/candidates.py). Plain numpy: the
scores run once per image, on the host, after the inpainting.
"""

import numpy as np
from scipy import ndimage

SSIM_SIGMA = 1.5  # Gaussian window of SSIM (Wang et al. 2004), truncated at 3.5 sigma
PSNR_CAP = 100.0  # dB: an exact hole would be +inf, which JSON cannot hold


def _unit(x) -> np.ndarray:
  """[-1, 1] -> [0, 1] float64, (H, W, C)."""
  x = np.asarray(x, np.float64)
  if x.ndim != 3:
    raise ValueError(f"image must be (H, W, C), got {x.shape}")
  return (x + 1.0) / 2.0


def _check_hole(hole, shape) -> np.ndarray:
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


def psnr_hole(out, truth, hole) -> float:
  """PSNR (dB, data range 1) over the hole's pixels, capped at PSNR_CAP."""
  a, b = _unit(out), _unit(truth)
  hole = _check_hole(hole, a.shape)
  mse = float(np.mean((a[hole] - b[hole]) ** 2))
  return float(min(10.0 * np.log10(1.0 / max(mse, 1e-30)), PSNR_CAP))


def l1_hole(out, truth, hole) -> float:
  """Mean absolute error over the hole's pixels, on the [0, 1] scale."""
  a, b = _unit(out), _unit(truth)
  hole = _check_hole(hole, a.shape)
  return float(np.mean(np.abs(a[hole] - b[hole])))


def _blur(x: np.ndarray, sigma: float) -> np.ndarray:
  """Separable Gaussian blur of (H, W, C) with reflected borders."""
  half = int(3.5 * sigma + 0.5)
  t = np.arange(-half, half + 1, dtype=np.float64)
  k = np.exp(-0.5 * (t / sigma) ** 2)
  k /= k.sum()
  for axis in (0, 1):
    pad = [(0, 0)] * x.ndim
    pad[axis] = (half, half)
    xp = np.pad(x, pad, mode="reflect")
    x = sum(k[i] * np.take(xp, np.arange(i, i + x.shape[axis]), axis=axis) for i in range(len(k)))
  return x


def ssim_map(out, truth) -> np.ndarray:
  """(H, W) SSIM (Gaussian window sigma 1.5, K1 0.01, K2 0.03), averaged over channels."""
  a, b = _unit(out), _unit(truth)
  c1, c2 = 0.01**2, 0.03**2
  mu_a, mu_b = _blur(a, SSIM_SIGMA), _blur(b, SSIM_SIGMA)
  var_a = _blur(a * a, SSIM_SIGMA) - mu_a**2
  var_b = _blur(b * b, SSIM_SIGMA) - mu_b**2
  cov = _blur(a * b, SSIM_SIGMA) - mu_a * mu_b
  s = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a**2 + mu_b**2 + c1) * (var_a + var_b + c2))
  return s.mean(axis=-1)


def ssim_around(out, truth, hole, margin: int = 4) -> float:
  """Mean SSIM over the hole dilated by `margin` px: the fill and its seam."""
  hole = _check_hole(hole, np.shape(out))
  return float(ssim_map(out, truth)[dilate(hole, margin)].mean())


def seam(out, hole, band: int = 6) -> float:
  """Ground-truth-free seam score, >= 0, lower is better (0: no visible seam).

  |log(g_cross / g_known)|: g_cross is the mean absolute step between 4-neighbours across the
  hole boundary, g_known the same over known-known neighbours within `band` px of the hole.
  A visible seam (g_cross > g_known) and an over-smooth boundary (g_cross < g_known) both
  score above 0.
  """
  a = _unit(out)
  hole = _check_hole(hole, a.shape)
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
  a = _unit(out)
  hole = _check_hole(hole, a.shape)
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


def detail_ratio(out, hole) -> float:
  """Mean absolute neighbour difference (right and down pairs) inside the hole over the same
  in the known region: about 1 when the hole is as detailed as its surroundings, below 1 when
  it is smoother (blurry), above when noisier."""
  a = _unit(out)
  hole = _check_hole(hole, a.shape)
  sums = {True: [0.0, 0], False: [0.0, 0]}
  for axis in (0, 1):
    n = a.shape[axis] - 1
    diff = np.abs(np.diff(a, axis=axis)).mean(axis=-1)
    first, second = np.take(hole, range(n), axis), np.take(hole, range(1, n + 1), axis)
    for inside in (True, False):
      both = (first & second) if inside else (~first & ~second)
      sums[inside][0] += float(diff[both].sum())
      sums[inside][1] += int(both.sum())
  if min(sums[True][1], sums[False][1]) == 0:
    raise ValueError("detail ratio needs neighbouring pixel pairs both in and both out of the hole")
  known = sums[False][0] / sums[False][1]
  return float((sums[True][0] / sums[True][1]) / max(known, 1e-12))


def known_changed(out, given, hole, feather: float = 0.0) -> int:
  """How many known pixels farther than `feather` px (Euclidean) from the hole differ from
  the given image: 0 when the photo outside the hole and its feather is left as it was."""
  a, b = np.asarray(out, np.float64), np.asarray(given, np.float64)
  hole = _check_hole(hole, a.shape)
  far = ndimage.distance_transform_edt(~hole) > feather
  return int((np.abs(a - b).max(axis=-1)[far] > 1e-6).sum())


def no_reference(out, hole) -> dict:
  """The ground-truth-free scores: {'seam', 'patch_swd'}."""
  return {"seam": seam(out, hole), "patch_swd": patch_swd(out, hole)}


def score(out, truth, hole, feather: float = 0.0) -> dict:
  """Every score of one inpainted image against its truth (whose known pixels are the
  input's; feather: the blend's allowance for known_changed)."""
  return {
    "psnr": psnr_hole(out, truth, hole),
    "l1": l1_hole(out, truth, hole),
    "ssim": ssim_around(out, truth, hole),
    "detail": detail_ratio(out, hole),
    "known_changed": known_changed(out, truth, hole, feather),
    **no_reference(out, hole),
  }


# Direction of each score: +1 higher is better, -1 lower is better.
HIGHER_IS_BETTER = {
  "psnr": True,
  "l1": False,
  "ssim": True,
  "seam": False,
  "patch_swd": False,
  "known_changed": False,
  "detail": None,  # neither: best near 1 (the known region's own detail)
}
