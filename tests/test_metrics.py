"""Quality scores: known values, directions, and that flat fills score worse than the truth."""

import numpy as np
import pytest

from singan_jax.evaluate import metrics


def _texture(h=48, w=48, seed=0):
  """A textured [-1, 1] image: stripes, a gradient and noise (structure at several scales)."""
  rng = np.random.default_rng(seed)
  yy, xx = np.mgrid[0:h, 0:w]
  x = np.stack([0.5 * np.sin(xx / 2.0 + yy / 5.0), 0.4 * np.cos(yy / 3.0), xx / w - 0.5], -1)
  return np.clip(x + rng.normal(0, 0.15, x.shape), -1, 1).astype(np.float32)


def _rect_hole(h=48, w=48):
  hole = np.zeros((h, w), bool)
  hole[16:32, 14:34] = True
  return hole


def _flat_fill(x, hole):
  out = x.copy()
  out[hole] = x[~hole].mean(axis=0)
  return out


def test_psnr_and_l1_known_values():
  truth = np.zeros((8, 8, 3), np.float32)
  hole = np.zeros((8, 8), bool)
  hole[2:4, 2:4] = True
  out = truth.copy()
  out[hole] = 0.2  # 0.1 on the [0, 1] scale
  out[0, 0] = 1.0  # outside the hole: ignored
  assert metrics.l1_hole(out, truth, hole) == pytest.approx(0.1)
  assert metrics.psnr_hole(out, truth, hole) == pytest.approx(20.0)
  assert metrics.psnr_hole(truth, truth, hole) == metrics.PSNR_CAP


def test_ssim_is_one_for_the_truth_and_lower_for_a_flat_fill():
  x, hole = _texture(), _rect_hole()
  assert metrics.ssim_around(x, x, hole) == pytest.approx(1.0)
  flat = metrics.ssim_around(_flat_fill(x, hole), x, hole)
  assert flat < 0.7


def test_ssim_matches_the_textbook_formula_on_constant_images():
  # Constant images: variances vanish, SSIM = (2 mu_a mu_b + c1) / (mu_a^2 + mu_b^2 + c1).
  a = np.full((16, 16, 3), -0.5, np.float32)  # 0.25 on [0, 1]
  b = np.full((16, 16, 3), 0.0, np.float32)  # 0.5
  c1 = 0.01**2
  want = (2 * 0.25 * 0.5 + c1) / (0.25**2 + 0.5**2 + c1)
  np.testing.assert_allclose(metrics.ssim_map(a, b), want, rtol=1e-9)


def test_flat_fill_scores_worse_than_the_truth_without_ground_truth():
  for seed in range(3):
    x, hole = _texture(seed=seed), _rect_hole()
    flat = _flat_fill(x, hole)
    assert metrics.patch_swd(flat, hole) > 2 * metrics.patch_swd(x, hole)
    assert metrics.seam(flat, hole) > metrics.seam(x, hole)


def test_patch_swd_is_deterministic_and_sees_the_hole_only():
  x, hole = _texture(), _rect_hole()
  assert metrics.patch_swd(x, hole) == metrics.patch_swd(x, hole)
  y = x.copy()
  y[hole] = -y[hole]  # a wrong fill changes the hole patches' distribution
  assert metrics.patch_swd(y, hole) > metrics.patch_swd(x, hole)


def test_seam_detects_an_offset_fill():
  x, hole = _texture(), _rect_hole()
  shifted = x.copy()
  shifted[hole] = np.clip(shifted[hole] + 0.6, -1, 1)  # right texture, wrong brightness
  assert metrics.seam(shifted, hole) > metrics.seam(x, hole) + 0.3


def test_dilate_square():
  m = np.zeros((7, 7), bool)
  m[3, 3] = True
  d = metrics.dilate(m, 2)
  assert d.sum() == 25 and d[1:6, 1:6].all()


def test_bad_inputs_name_the_problem():
  x = _texture()
  with pytest.raises(ValueError, match="empty"):
    metrics.psnr_hole(x, x, np.zeros(x.shape[:2], bool))
  with pytest.raises(ValueError, match="size"):
    metrics.seam(x, np.ones((4, 4), bool))
  with pytest.raises(ValueError, match="known"):
    metrics.seam(x, np.ones(x.shape[:2], bool))


def test_score_has_every_field_with_a_direction():
  x, hole = _texture(), _rect_hole()
  s = metrics.score(_flat_fill(x, hole), x, hole)
  assert set(s) == set(metrics.HIGHER_IS_BETTER)
  assert all(np.isfinite(v) for v in s.values())
