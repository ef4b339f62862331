"""Inpainting quality mechanisms: the feather blend, per-scale coherence, super-resolution
to the input's size, and the detail / known-pixels scores."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from singan_jax import config as config_lib
from singan_jax.core import sampling
from singan_jax.evaluate import metrics
from singan_jax.inpainting import blend as blend_lib
from singan_jax.inpainting import coherence
from singan_jax.inpainting import inpaint as inpaint_lib
from singan_jax.io import images as image_io
from singan_jax.training import loop as trainer
from helpers import tiny_config
from singan_jax.core import schema


def _texture(h=40, w=48, seed=0):
  rng = np.random.default_rng(seed)
  yy, xx = np.mgrid[0:h, 0:w]
  x = np.stack([0.6 * np.sin(xx / 1.5), 0.6 * np.cos(yy / 2.0), xx / w - 0.5], -1)
  return np.clip(x + rng.normal(0, 0.15, x.shape), -1, 1)


def _hole(h=40, w=48):
  hole = np.zeros((h, w), bool)
  hole[12:26, 15:33] = True
  return hole


def test_feather_alpha_is_one_in_the_hole_and_zero_beyond_the_feather():
  hole = _hole()
  for feather in (0.0, 1.0, 2.0, 3.5):
    alpha = blend_lib.feather_alpha(hole, feather)
    assert (alpha[hole] == 1).all()
    ring = metrics.dilate(hole, int(np.ceil(feather))) & ~hole
    assert (alpha[~metrics.dilate(hole, int(np.ceil(feather)))] == 0).all()
    if feather >= 1:
      assert 0 < alpha[ring].max() < 1 and alpha[ring].min() >= 0
    else:
      assert (alpha[~hole] == 0).all()


def test_composite_keeps_known_pixels_beyond_the_feather_bit_identical():
  hole = _hole()
  pixels = image_io.from_float(_texture())
  full = -_texture(seed=1)
  alpha = blend_lib.feather_alpha(hole, 2.0)
  out = blend_lib.composite(pixels, full, alpha)
  assert metrics.known_changed(out, pixels, hole, feather=2.0) == 0
  assert metrics.known_changed(out, pixels, hole, feather=0.0) > 0
  assert not np.array_equal(out[hole], pixels[hole])


def test_upscale_sizes_reach_the_input_in_steps_of_at_most_one_over_the_scale_factor():
  assert coherence.upscale_sizes((85, 128), (85, 128), 0.75) == []
  for finest, full in (((85, 128), (166, 250)), ((250, 166), (887, 590)), ((30, 40), (31, 40))):
    sizes = coherence.upscale_sizes(finest, full, 0.75)
    assert sizes[-1] == full
    prev = finest
    for s in sizes:
      assert 1.0 <= max(s[0] / prev[0], s[1] / prev[1]) <= 1 / 0.75 + 0.02
      prev = s


def test_detail_ratio_sees_a_flat_fill_and_accepts_the_truth():
  x, hole = _texture(), _hole()
  flat = x.copy()
  flat[hole] = x[~hole].mean(axis=0)
  assert 0.85 < metrics.detail_ratio(x, hole) < 1.15
  assert metrics.detail_ratio(flat, hole) < 0.05


@pytest.fixture(scope="module")
def pyramid_3x(tmp_path_factory):
  """A tiny 2-scale pyramid trained on a 36x45 texture 3x upsampled (input 108x135)."""
  cfg = tiny_config(max_size=45, min_size=28, niter=3, log_every=3)
  small = image_io.from_float(_texture(36, 45))
  big = np.repeat(np.repeat(small, 3, axis=0), 3, axis=1)
  hole = np.zeros((108, 135), bool)
  hole[40:70, 50:90] = True
  pyr = trainer.train(
    config_lib.settings(cfg),
    str(tmp_path_factory.mktemp("pyr")),
    image_io.to_float(big)[None],
    hole[None],
  )
  return cfg, pyr, big, hole


@pytest.mark.parametrize("feather, upscale", [(0.0, "resize"), (2.0, "resize"), (2.0, "sr")])
def test_inpaint_changes_only_the_hole_and_its_feather_at_3x(pyramid_3x, feather, upscale):
  cfg, pyr, big, hole = pyramid_3x
  cfg = cfg.copy_and_resolve_references()
  cfg.blend_feather, cfg.upscale = feather, upscale
  res = inpaint_lib.inpaint(pyr, big, hole, schema.Inpainting.from_config(cfg), seed=cfg.seed)
  assert res.output.shape == big.shape and res.output.dtype == big.dtype
  assert metrics.known_changed(res.output, big, hole, feather=feather) == 0
  assert not np.array_equal(res.output[hole], big[hole])


def test_super_resolution_reaches_the_input_size_with_known_pixels_reimposed(pyramid_3x):
  cfg, pyr, big, hole = pyramid_3x
  cfg = cfg.copy_and_resolve_references()
  cfg.upscale = "sr"
  assert tuple(pyr.plan.input_hw) == big.shape[:2] != tuple(pyr.plan.shapes[-1])
  frozen = inpaint_lib.select_image(pyr.frozen, 0)
  filled = image_io.to_float(big)
  finest = jnp.zeros((1, *pyr.plan.shapes[-1], 3))
  full = inpaint_lib.to_input_size(
    pyr, frozen, finest, filled, hole, jax.random.PRNGKey(0), schema.Inpainting.from_config(cfg)
  )
  assert full.shape == big.shape
  far = ~metrics.dilate(hole, 2)
  np.testing.assert_allclose(np.asarray(full)[far], filled[far], atol=1e-5)
  assert np.isfinite(np.asarray(full)).all()


def test_anchors_of_weight_one_pin_every_scale_and_none_is_free_generation(pyramid_3x):
  _, pyr, big, hole = pyramid_3x
  plan, frozen = pyr.plan, inpaint_lib.select_image(pyr.frozen, 0)
  gens, key = sampling.Generators.of(plan, pyr.net), jax.random.PRNGKey(3)
  x0 = jnp.zeros((1, *plan.shapes[0], 3))
  args = (gens, frozen, x0, 0, "rand", key)
  target = jnp.full((1, *plan.shapes[-1], 3), 0.25)
  pinned = [(jnp.zeros((1, *s, 3)), jnp.ones((1, *s, 1))) for s in plan.shapes[:-1]]
  pinned.append((target, jnp.ones((1, *plan.shapes[-1], 1))))
  np.testing.assert_allclose(sampling.chain(*args, anchors=pinned), target, atol=1e-6)
  free = [(a, jnp.zeros_like(w)) for a, w in pinned]
  np.testing.assert_allclose(
    sampling.chain(*args, anchors=free), sampling.chain(*args), rtol=1e-5, atol=1e-6
  )
  anchors = coherence.anchors(image_io.to_float(big), hole, plan)
  assert [a[0].shape[1:3] for a in anchors] == list(plan.shapes)
  w = np.asarray(anchors[-1][1])
  assert w.min() == 0.0 and w.max() == 1.0
