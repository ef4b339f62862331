"""The patch texture pass: the hole rebuilt from the photo's own patches, seeded by the
generated image (singan_jax/inpainting/texture.py)."""

import jax
import numpy as np
import pytest

from singan_jax import config as config_lib
from singan_jax import inputs
from singan_jax.evaluate import metrics
from singan_jax.inpainting import texture


def _cobbles(h=64, w=80, seed=0):
  """A stationary texture with detail at every pixel: noise on a coarse colour pattern."""
  rng = np.random.default_rng(seed)
  yy, xx = np.mgrid[0:h, 0:w]
  base = np.stack([0.4 * np.sin(xx / 3.0), 0.4 * np.cos(yy / 2.5), 0.3 * np.sin((xx + yy) / 4)], -1)
  return np.clip(base + rng.normal(0, 0.25, base.shape), -1, 1).astype(np.float32)


def _hole(h=64, w=80):
  hole = np.zeros((h, w), bool)
  hole[20:44, 24:54] = True
  return hole


def _blurred_seed(x, hole):
  """What a generator's blurry hole looks like: the truth box-blurred 5x5 inside the hole."""
  pad = np.pad(x, ((2, 2), (2, 2), (0, 0)), mode="edge")
  blur = sum(pad[i : i + x.shape[0], j : j + x.shape[1]] for i in range(5) for j in range(5)) / 25
  return np.where(hole[..., None], blur, x).astype(np.float32)


def test_known_pixels_come_back_bit_identical_and_the_hole_is_finite():
  x, hole = _cobbles(), _hole()
  out = np.asarray(texture.retexture(x, hole, _blurred_seed(x, hole), jax.random.PRNGKey(0)))
  assert out.shape == x.shape and out.dtype == np.float32
  np.testing.assert_array_equal(out[~hole], x[~hole])
  assert np.isfinite(out).all() and np.abs(out).max() <= 1.0 + 1e-6


def test_a_blurry_seed_gets_the_detail_of_its_surroundings():
  x, hole = _cobbles(), _hole()
  seed = _blurred_seed(x, hole)
  out = np.asarray(texture.retexture(x, hole, seed, jax.random.PRNGKey(0)))
  assert metrics.detail_ratio(seed, hole) < 0.5
  assert 0.75 < metrics.detail_ratio(out, hole) < 1.3


def test_the_pass_follows_the_seed():
  """Two different seeds (left-bright vs right-bright hole) give different fills, each
  closer to its own seed: the generator's arrangement survives the pass."""
  x, hole = _cobbles(), _hole()
  a = np.where(hole[..., None], -0.6, x).astype(np.float32)
  b = np.where(hole[..., None], 0.6, x).astype(np.float32)
  key = jax.random.PRNGKey(0)  # seam "none": the correction would pull both to the edge
  out_a = np.asarray(texture.retexture(x, hole, a, key, levels=1, seam="none"))
  out_b = np.asarray(texture.retexture(x, hole, b, key, levels=1, seam="none"))
  assert out_a[hole].mean() < out_b[hole].mean() - 0.1


def test_deterministic_given_the_key_and_different_across_keys():
  x, hole = _cobbles(), _hole()
  seed = _blurred_seed(x, hole)
  one = np.asarray(texture.retexture(x, hole, seed, jax.random.PRNGKey(3)))
  again = np.asarray(texture.retexture(x, hole, seed, jax.random.PRNGKey(3)))
  other = np.asarray(texture.retexture(x, hole, seed, jax.random.PRNGKey(4)))
  np.testing.assert_array_equal(one, again)
  assert not np.array_equal(one[hole], other[hole])


def test_no_source_patch_leaves_the_generated_image_and_warns(caplog):
  x = _cobbles(24, 24)
  hole = np.ones((24, 24), bool)
  hole[:4, :4] = False  # known pixels, but no 7x7 patch of them
  seed = np.zeros_like(x)
  out = np.asarray(texture.retexture(x, hole, seed, jax.random.PRNGKey(0)))
  np.testing.assert_array_equal(out, seed)
  assert "texture pass skipped" in caplog.text


@pytest.mark.parametrize(
  "field,value",
  [
    ("texture", "gpnn"),
    ("texture_patch", 4),
    ("texture_levels", 0),
    ("texture_locality", -0.1),
    ("texture_guide", -1.0),
    ("texture_diversity", -0.5),
    ("texture_structure", 1.5),
    ("texture_structure_radius", 0),
  ],
)
def test_bad_texture_settings_are_refused_with_the_field_named(field, value):
  cfg = config_lib.get_config()
  cfg[field] = value
  with pytest.raises(inputs.UsageError, match=field):
    inputs.validate_config(cfg)


def _mean_source_distance(locality):
  """Mean |source - target| of the NNF over the hole of a texture repeating every 8 px (every
  source with the target's phase matches exactly, so only the prior tells them apart)."""
  from singan_jax.inpainting import patchmatch  # pylint: disable=g-import-not-at-top

  tile = _cobbles(8, 8, seed=1)
  x = np.tile(tile, (10, 12, 1))[:80, :96]
  hole = np.zeros(x.shape[:2], bool)
  hole[36:48, 40:56] = True
  known = jax.numpy.asarray(~hole)
  n_t = int(patchmatch.mask_counts(known, 3, 1)[0][0])
  seed = np.where(hole[..., None], 0.0, x).astype(np.float32)
  _, nnf = patchmatch.pm_level(
    jax.numpy.asarray(x), known, jax.random.PRNGKey(0), seed, None, 3, 4, 2, n_t, locality
  )
  ys, xs = np.nonzero(hole)
  src = np.asarray(nnf)[ys, xs]
  return float(np.mean(np.hypot(src[:, 0] - ys, src[:, 1] - xs)))


def test_the_locality_prior_takes_nearer_sources_among_equal_ones():
  far, near = _mean_source_distance(0.0), _mean_source_distance(0.5)
  assert near < 0.6 * far, (near, far)


def _two_textures(h=64, w=96):
  """Dark noise left of a slanted line, bright stripes right of it, and a hole across both."""
  rng = np.random.default_rng(0)
  yy, xx = np.mgrid[:h, :w]
  left = -0.5 + rng.normal(0, 0.2, (h, w, 3))
  right = 0.4 + 0.3 * np.sin(xx / 2.0)[..., None] + rng.normal(0, 0.05, (h, w, 3))
  x = np.where(((xx + 0.5 * yy) < 60)[..., None], left, right)
  hole = np.zeros((h, w), bool)
  hole[16:48, 28:68] = True
  return np.clip(x, -1, 1).astype(np.float32), hole


def _low_pass(a, k=7):
  pad = np.pad(a, ((k // 2,) * 2, (k // 2,) * 2, (0, 0)), mode="edge")
  return sum(pad[i : i + a.shape[0], j : j + a.shape[1]] for i in range(k) for j in range(k)) / k**2


def test_the_guide_keeps_the_generated_layout_and_the_known_pixels():
  """With the generated image as a guide the fill's low-pass stays nearer the layout it was
  seeded with (here the truth, blurred) at every key, and known pixels stay bit-identical
  (the structure transfer, which moves that low-pass to the harmonic fill's, left off)."""
  x, hole = _two_textures()
  seed = _blurred_seed(x, hole)
  errors = {}
  for guide in (0.0, 1.0):
    errors[guide] = []
    for k in range(2):
      out = np.asarray(
        texture.retexture(
          x, hole, seed, jax.random.PRNGKey(k), seam="none", guide=guide, structure=0.0
        )
      )
      np.testing.assert_array_equal(out[~hole], x[~hole])
      errors[guide].append(np.abs(_low_pass(out) - _low_pass(x))[hole].mean())
  assert max(errors[1.0]) < 0.9 * min(errors[0.0]), errors


def _distinct_sources(diversity, keys=4):
  """Mean number of distinct pixel values in the rebuilt hole of a noise texture, flat on the
  left and rough on the right, seeded flat: how many different source pixels fill it."""
  rng = np.random.default_rng(0)
  h, w = 64, 96
  amp = 0.05 + 0.4 * (np.mgrid[:h, :w][1] / w)[..., None]
  x = np.clip(0.1 + amp * rng.normal(0, 1, (h, w, 3)), -1, 1).astype(np.float32)
  hole = np.zeros((h, w), bool)
  hole[20:44, 36:60] = True
  seed = np.where(hole[..., None], 0.1, x).astype(np.float32)
  counts = []
  for k in range(keys):
    out = texture.retexture(
      x,
      hole,
      seed,
      jax.random.PRNGKey(k),
      levels=1,
      seam="none",
      diversity=diversity,
      structure=0.0,  # the coarse layer's shift would make every pixel value distinct
    )
    counts.append(len(np.unique(np.asarray(out)[hole], axis=0)))
  return float(np.mean(counts))


def test_the_reuse_cost_spreads_the_hole_over_more_sources():
  """A flat seed draws the same few flat sources again and again; the reuse cost
  (texture_diversity) makes the hole copy many more different source pixels."""
  alone, spread = _distinct_sources(0.0), _distinct_sources(0.1)
  assert spread > 1.2 * alone, (alone, spread)


def test_the_harmonic_fill_meets_the_edge_and_continues_a_ramp_exactly():
  """A linear ramp is harmonic, so the membrane fill of any hole in it is the ramp itself."""
  yy, xx = np.mgrid[0:40, 0:50]
  ramp = np.stack([xx / 50.0 - 0.5, yy / 40.0 - 0.5, (xx - yy) / 90.0], -1).astype(np.float32)
  hole = np.zeros((40, 50), bool)
  hole[8:30, 10:41] = True
  out = np.asarray(texture.harmonic_fill(jax.numpy.asarray(ramp), jax.numpy.asarray(hole)))
  np.testing.assert_array_equal(out[~hole], ramp[~hole])
  np.testing.assert_allclose(out[hole], ramp[hole], atol=2e-3)


def test_the_structure_transfer_moves_the_coarse_layer_and_keeps_the_texture():
  """A fill one shade too bright in the hole, with fine texture on it: at weight 1 its
  coarse layer follows the (harmonic) edge and the texture's amplitude stays."""
  h, w = 60, 70
  flat = np.zeros((h, w, 3), np.float32)
  hole = np.zeros((h, w), bool)
  hole[10:50, 12:58] = True
  checker = 0.2 * ((np.indices((h, w)).sum(0) % 2) * 2 - 1)[..., None].astype(np.float32)
  est = np.where(hole[..., None], 0.4 + checker, flat).astype(np.float32)
  target = np.asarray(texture.harmonic_fill(jax.numpy.asarray(flat), jax.numpy.asarray(hole)))
  args = (jax.numpy.asarray(est), jax.numpy.asarray(target), jax.numpy.asarray(hole))
  out = np.asarray(texture.structure_transfer(*args, 1.0, 2))
  half = np.asarray(texture.structure_transfer(*args, 0.5, 2))
  inner = np.zeros_like(hole)
  inner[20:40, 22:48] = True
  np.testing.assert_array_equal(out[~hole], flat[~hole])
  assert abs(out[inner].mean()) < 0.02 and abs(half[inner].mean() - 0.2) < 0.02
  step = np.abs(np.diff(out, axis=1))[inner[:, 1:]].mean()
  assert step > 0.75 * 0.4, step  # the checker's 0.4 steps survive


def test_the_exemplar_pass_keeps_the_known_pixels_and_corrects_its_seam():
  """texture="exemplar": the hole copied patch by patch, structure first, with the texture's
  detail; the seam correction (from each pixel's source) lowers the seam."""
  x, hole = _cobbles(), _hole()
  seed = _blurred_seed(x, hole)
  plain = np.asarray(texture.exemplar_pass(x, hole, seed, seam="none", structure=0.0))
  out = np.asarray(texture.exemplar_pass(x, hole, seed))
  for a in (plain, out):
    np.testing.assert_array_equal(a[~hole], x[~hole])
    assert np.isfinite(a).all() and np.abs(a).max() <= 1.0 + 1e-6
  assert 0.75 < metrics.detail_ratio(out, hole) < 1.3
  assert metrics.seam(out, hole) < metrics.seam(plain, hole)


def test_the_exemplar_guide_follows_the_generated_image():
  """With a guide weight, a bright generated hole draws brighter sources than a dark one."""
  x, hole = _cobbles(), _hole()
  a = np.where(hole[..., None], -0.6, x).astype(np.float32)
  b = np.where(hole[..., None], 0.6, x).astype(np.float32)
  kw = dict(seam="none", structure=0.0, guide=3.0)
  out_a = np.asarray(texture.exemplar_pass(x, hole, a, **kw))
  out_b = np.asarray(texture.exemplar_pass(x, hole, b, **kw))
  assert out_a[hole].mean() < out_b[hole].mean() - 0.1
  free = np.asarray(texture.exemplar_pass(x, hole, a, seam="none", structure=0.0))
  np.testing.assert_array_equal(free, texture.exemplar_pass(x, hole, b, seam="none", structure=0.0))


def test_texture_exemplar_is_the_inpainter_s_finish():
  """--config.texture=exemplar reaches exemplar_pass with the section's settings."""
  from singan_jax.core import schema
  from singan_jax.inpainting import inpaint

  x, hole = _cobbles(), _hole()
  seed = _blurred_seed(x, hole)
  opts = schema.Inpainting(texture="exemplar", texture_guide=0.5)
  out = inpaint.finish_hole(x, hole, seed, jax.random.PRNGKey(0), opts)
  np.testing.assert_array_equal(out, texture.exemplar_pass(x, hole, seed, guide=0.5))
