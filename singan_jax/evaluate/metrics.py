"""Inpainting quality scores: with the truth (PSNR, L1, SSIM) and without it (seam, patch SWD).

Images are float (H, W, 3) in [-1, 1] (image_io.to_float); the hole is (H, W) bool, True =
hole. Scores are computed on the [0, 1] scale. The two ground-truth-free scores (`seam`,
`patch_swd`) are singan_jax/core/no_reference.py's, which the inpainter's candidate ranking
uses too. Plain numpy: the scores run once per image, on the host, after the inpainting.
"""

import numpy as np
from scipy import ndimage

from singan_jax.core import no_reference as _nr

# The ground-truth-free scores live below the inpainter (singan_jax/core/no_reference.py).
dilate, seam, patch_swd, no_reference = _nr.dilate, _nr.seam, _nr.patch_swd, _nr.no_reference

SSIM_SIGMA = 1.5  # Gaussian window of SSIM (Wang et al. 2004), truncated at 3.5 sigma
PSNR_CAP = 100.0  # dB: an exact hole would be +inf, which JSON cannot hold


def psnr_hole(out, truth, hole) -> float:
  """PSNR (dB, data range 1) over the hole's pixels, capped at PSNR_CAP."""
  a, b = _nr.unit(out), _nr.unit(truth)
  hole = _nr.check_hole(hole, a.shape)
  mse = float(np.mean((a[hole] - b[hole]) ** 2))
  return float(min(10.0 * np.log10(1.0 / max(mse, 1e-30)), PSNR_CAP))


def l1_hole(out, truth, hole) -> float:
  """Mean absolute error over the hole's pixels, on the [0, 1] scale."""
  a, b = _nr.unit(out), _nr.unit(truth)
  hole = _nr.check_hole(hole, a.shape)
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
  a, b = _nr.unit(out), _nr.unit(truth)
  c1, c2 = 0.01**2, 0.03**2
  mu_a, mu_b = _blur(a, SSIM_SIGMA), _blur(b, SSIM_SIGMA)
  var_a = _blur(a * a, SSIM_SIGMA) - mu_a**2
  var_b = _blur(b * b, SSIM_SIGMA) - mu_b**2
  cov = _blur(a * b, SSIM_SIGMA) - mu_a * mu_b
  s = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a**2 + mu_b**2 + c1) * (var_a + var_b + c2))
  return s.mean(axis=-1)


def ssim_around(out, truth, hole, margin: int = 4) -> float:
  """Mean SSIM over the hole dilated by `margin` px: the fill and its seam."""
  hole = _nr.check_hole(hole, np.shape(out))
  return float(ssim_map(out, truth)[dilate(hole, margin)].mean())


def detail_ratio(out, hole) -> float:
  """Mean absolute neighbour difference (right and down pairs) inside the hole over the same
  in the known region: about 1 when the hole is as detailed as its surroundings, below 1 when
  it is smoother (blurry), above when noisier."""
  a = _nr.unit(out)
  hole = _nr.check_hole(hole, a.shape)
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
  hole = _nr.check_hole(hole, a.shape)
  far = ndimage.distance_transform_edt(~hole) > feather
  return int((np.abs(a - b).max(axis=-1)[far] > 1e-6).sum())


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
