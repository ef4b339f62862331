"""The gradient-domain seam correction (singan_jax/inpainting/seam.py): the exact solution of its
normal equations, offsets removed, known pixels untouched, and the seam it leaves."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import ndimage
from scipy import sparse
from scipy.sparse import linalg as sparse_linalg

from singan_jax import config as config_lib
from singan_jax import inputs
from singan_jax.core import schema
from singan_jax.evaluate import metrics
from singan_jax.inpainting import inpaint
from singan_jax.inpainting import seam
from singan_jax.inpainting import texture


def _stripes(h=40, w=48, seed=0):
  """A [-1, 1] texture of period 6 along x, with noise of the same period (so a copy from 6k
  columns away is exact)."""
  rng = np.random.default_rng(seed)
  xx = np.arange(w)[None, :, None]
  base = 0.4 * np.sin(2 * np.pi * xx / 6.0) * np.ones((h, 1, 3))
  noise = np.tile(rng.normal(0, 0.05, (h, 6, 3)), (1, w // 6 + 1, 1))[:, :w]
  return (base + noise).astype(np.float32)


def _hole(h=40, w=48):
  hole = np.zeros((h, w), bool)
  hole[12:28, 8:22] = True
  return hole


def _membrane_by_scipy(hole, rhs):
  """The normal equations solved directly: (degree - adjacency over the hole) c = rhs."""
  h, w = hole.shape
  idx = -np.ones((h, w), int)
  ys, xs = np.nonzero(hole)
  idx[ys, xs] = np.arange(len(ys))
  rows, cols, vals = [], [], []
  for k, (y, x) in enumerate(zip(ys, xs)):
    deg = 0
    for dy, dx in seam.DIRECTIONS:
      ny, nx = y + dy, x + dx
      if 0 <= ny < h and 0 <= nx < w:
        deg += 1
        if hole[ny, nx]:
          rows.append(k), cols.append(idx[ny, nx]), vals.append(-1.0)
    rows.append(k), cols.append(k), vals.append(float(deg))
  a = sparse.csr_matrix((vals, (rows, cols)), shape=(len(ys), len(ys)))
  return np.stack([sparse_linalg.spsolve(a, rhs[ys, xs, c]) for c in range(rhs.shape[-1])], -1)


def _edge_mismatches(x, hole, preds, limit):
  """Per direction, the mismatch x_q - pred_q (H, W, C) and the hole's edge (H, W, 1) that way,
  limited in numpy as seam.limited does (a box of +-LIMIT_RADIUS px, zero past the image)."""
  edges, errs = [], []
  for i, (dy, dx) in enumerate(seam.DIRECTIONS):
    known_nb = np.asarray(seam.shift(jnp.asarray(~hole), dy, dx, fill=False))
    edges.append((hole & known_nb)[..., None].astype(np.float32))
    errs.append(np.asarray(seam.shift(jnp.asarray(x), dy, dx)) - preds[i])
  if limit is not None:
    box = np.ones((2 * seam.LIMIT_RADIUS + 1,) * 2 + (1,))
    total = ndimage.correlate(sum(e * g for e, g in zip(errs, edges)), box, mode="constant")
    count = ndimage.correlate(sum(edges), box, mode="constant")
    mean = total / np.maximum(count, 1.0)
    for i, e in enumerate(errs):
      d = e - mean
      errs[i] = mean + d * np.minimum(1.0, limit / np.linalg.norm(d, axis=-1, keepdims=True))
  return errs, edges


def _copied_fill(x, hole, jump):
  """The hole of x filled by copying, column offset jump (an int or (H, W) ints) to the right,
  and the copy's source predictions: a nearest-neighbour field of pure column shifts."""
  h, w = hole.shape
  yy, xx = np.mgrid[0:h, 0:w]
  nnf = np.stack([yy, np.where(hole, xx + jump, xx)], -1)
  fill = np.where(hole[..., None], x[nnf[..., 0], nnf[..., 1]], x)
  preds = seam.source_predictions(jnp.asarray(fill), jnp.asarray(x), jnp.asarray(nnf))
  return fill, preds


@pytest.mark.parametrize("limit", [None, 0.2])
def test_the_correction_solves_the_membrane_equations(limit):
  """Random mismatches at the edge (with a limit: each one's departure from the mean mismatch
  of the edge within 6 px clipped to the limit's length over RGB): the hole's correction
  equals scipy's direct solve."""
  rng = np.random.default_rng(1)
  hole = _hole()
  hole[0:3, 30:40] = True  # a second hole on the image's border (no neighbour past it)
  x = rng.uniform(-0.3, 0.3, (40, 48, 3)).astype(np.float32)
  fill = np.zeros_like(x)
  preds = rng.uniform(-0.3, 0.3, (4, 40, 48, 3)).astype(np.float32)
  out = np.asarray(seam.correct(fill, x, hole, preds, tol=1e-7, limit=limit))
  rhs = np.zeros_like(x)
  for e, edge in zip(*_edge_mismatches(x, hole, preds, limit)):
    rhs += edge * e
  np.testing.assert_allclose(out[hole], _membrane_by_scipy(hole, rhs), atol=1e-4)
  np.testing.assert_array_equal(out[~hole], fill[~hole])


def test_a_brightness_offset_in_a_generated_hole_is_removed():
  """A rendering 0.3 too bright everywhere: its hole, corrected, is the truth again."""
  x, hole = _stripes(), _hole()
  generated = x + 0.3
  out = np.asarray(seam.correct(generated, x, hole, seam.neighbour_predictions(generated)))
  np.testing.assert_allclose(out[hole], x[hole], atol=1e-4)
  assert np.abs(generated[hole] - x[hole]).mean() > 0.29


def test_patches_copied_from_a_brighter_region_are_brought_to_the_hole_s_level():
  """Sources of the right phase in a region 0.3 brighter: the correction takes the offset
  out and keeps the copied texture's own steps (the truth's, here)."""
  x, hole = _stripes(), _hole()
  x[:, 24:] += 0.3
  fill, preds = _copied_fill(x, hole, 24)  # +24 = 4 periods, same phase
  out = np.asarray(seam.correct(fill, x, hole, preds))
  np.testing.assert_allclose(out[hole], fill[hole] - 0.3, atol=1e-4)
  np.testing.assert_array_equal(out[~hole], x[~hole])
  assert metrics.seam(out, hole) < 0.5 * metrics.seam(fill, hole)


def _person_at_the_edge():
  """The stripes with a bright upright object (+0.7) in columns 18-19 that ends at the hole's
  top edge (hole: rows 12-27, columns 8-21), and a rendering of the stripes alone, 0.05 too
  bright everywhere: a fill that does not continue the object."""
  x, hole = _stripes(), _hole()
  x[4:12, 18:20] += 0.7
  return x, hole, _stripes() + 0.05


def test_a_limited_correction_keeps_an_object_cut_by_the_hole_as_a_step_not_a_haze():
  """Unlimited, the object's mismatch spreads its colour into the hole; limited to 0.2 the
  correction never exceeds the limit and the haze is a fraction of it, while the small
  offset (0.05 in each channel: a mismatch of length 0.087) is still taken out."""
  x, hole, generated = _person_at_the_edge()
  preds = seam.neighbour_predictions(jnp.asarray(generated))
  truth = _stripes()
  free = np.asarray(seam.correct(generated, x, hole, preds, tol=1e-6))
  limited = np.asarray(seam.correct(generated, x, hole, preds, tol=1e-6, limit=0.2))
  haze_free, haze_limited = (np.abs(o - truth)[hole].max() for o in (free, limited))
  assert haze_free > 0.3 and haze_limited < 0.2
  assert np.abs(limited - truth)[hole].mean() < 0.5 * np.abs(free - truth)[hole].mean()
  far = hole.copy()
  far[:, 14:] = False  # columns 8-13: away from the object
  assert np.abs(limited - truth)[far].mean() < 0.3 * np.abs(generated - truth)[far].mean()
  np.testing.assert_array_equal(limited[~hole], generated[~hole])


def test_inpaint_s_two_finishes_pass_the_limit_on():
  """seam_limit reaches the correction from both finishes of inpaint: a generated hole's (the
  object's colour, a bias under it, is mostly gone) and the texture pass's (which copies the
  object's own patches in, so only its output changes)."""
  x, hole, generated = _person_at_the_edge()
  key = jax.random.PRNGKey(0)

  def finish(texture, limit):
    opts = schema.Inpainting(texture=texture, seam_limit=limit)
    return np.asarray(inpaint.finish_hole(jnp.asarray(x), hole, generated, key, opts))

  free, limited = (finish("none", v)[12:18, 14:22] - _stripes()[12:18, 14:22] for v in (0, 0.1))
  assert free.mean() > 0.05 and limited.mean() < 0.5 * free.mean()
  assert not np.allclose(finish("patchmatch", 0), finish("patchmatch", 0.05), atol=1e-4)


def test_a_limit_above_every_mismatch_changes_nothing():
  x, hole = _stripes(), _hole()
  generated = x + 0.05
  preds = seam.neighbour_predictions(generated)
  free = np.asarray(seam.correct(generated, x, hole, preds))
  np.testing.assert_allclose(np.asarray(seam.correct(generated, x, hole, preds, limit=0.2)), free)


def _blocks_from_two_regions():
  """A hole filled from two source regions of the right phase, 0.3 and 0.1 brighter than the
  truth: an inner seam at column 15, where the nearest-neighbour field jumps between them."""
  x, hole = _stripes(40, 72), _hole(40, 72)
  x[:, 24:42] += 0.3
  x[:, 48:] += 0.1
  jump = np.where(np.arange(72)[None, :] < 15, 24, 36)  # 4 and 6 periods: both in phase
  return (x, hole, *_copied_fill(x, hole, jump))


def test_fusion_removes_the_steps_between_pasted_blocks_as_well():
  """Two blocks, each from its own brighter region: "poisson" evens out the hole's edge only
  and leaves a step at the inner seam; the fusion (inside_hole) takes out both offsets and
  gives back the truth (the hole's columns were never brightened)."""
  x, hole, fill, preds = _blocks_from_two_regions()
  edge = np.asarray(seam.correct(fill, x, hole, preds, tol=1e-6))
  fused = np.asarray(seam.correct(fill, x, hole, preds, tol=1e-6, inside_hole=True))
  np.testing.assert_allclose(fused[hole], x[hole], atol=1e-3)
  assert np.abs(edge[hole] - x[hole]).max() > 0.05
  np.testing.assert_array_equal(fused[~hole], x[~hole])


def test_fusion_leaves_a_coherent_copy_as_the_edge_correction_does():
  """One source region for the whole hole (no inner seam): both corrections agree."""
  x, hole = _stripes(), _hole()
  x[:, 24:] += 0.3
  fill, preds = _copied_fill(x, hole, 24)
  edge = np.asarray(seam.correct(fill, x, hole, preds, tol=1e-6))
  fused = np.asarray(seam.correct(fill, x, hole, preds, tol=1e-6, inside_hole=True))
  np.testing.assert_allclose(fused, edge, atol=1e-4)


def test_the_texture_pass_with_the_correction_has_a_lower_seam_and_keeps_its_detail():
  x, hole = _stripes(64, 80, seed=2), np.zeros((64, 80), bool)
  hole[20:44, 24:54] = True
  x[:, 40:] = np.clip(x[:, 40:] + 0.25, -1, 1)  # two brightness regions: sources can mismatch
  seed_img = np.where(hole[..., None], 0.0, x).astype(np.float32)
  key = jax.random.PRNGKey(0)
  plain = np.asarray(texture.retexture(x, hole, seed_img, key, seam="none"))
  fixed = np.asarray(texture.retexture(x, hole, seed_img, key, seam="poisson"))
  np.testing.assert_array_equal(fixed[~hole], x[~hole])
  assert metrics.seam(fixed, hole) < metrics.seam(plain, hole)
  ratio = metrics.detail_ratio(fixed, hole) / metrics.detail_ratio(plain, hole)
  assert 0.9 < ratio < 1.1


def test_vmapped_correction_equals_one_by_one():
  x, hole = _stripes(), _hole()
  gens = np.stack([x + 0.2, x - 0.1]).astype(np.float32)
  preds = jax.vmap(seam.neighbour_predictions)(gens)
  batched = jax.vmap(seam.correct, in_axes=(0, None, None, 0))(gens, x, hole, preds)
  for i in range(2):
    one = seam.correct(gens[i], x, hole, preds[i])
    np.testing.assert_allclose(np.asarray(batched[i]), np.asarray(one), atol=1e-5)


@pytest.mark.parametrize("value", ["Poisson", "blur", ""])
def test_an_unknown_seam_is_refused_with_the_choices_named(value):
  cfg = config_lib.get_config()
  cfg.seam = value
  with pytest.raises(inputs.UsageError, match="seam") as err:
    inputs.validate_config(cfg)
  assert "poisson" in str(err.value)
