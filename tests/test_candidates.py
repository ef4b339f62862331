"""Best-of-K inpainting: the vmapped draws, the ground-truth-free choice, the K = 1 default."""

import jax
import numpy as np
import pytest

from singan_jax.inpainting import blend as blend_lib
from singan_jax.inpainting import candidates
from singan_jax.inpainting import coherence
from singan_jax import rng
from singan_jax.inpainting import fill as fill_lib
from singan_jax.io import images as image_io
from singan_jax.inpainting import inpaint as inpaint_lib
from singan_jax.core import pyramid
from singan_jax.training import loop as trainer
from singan_jax import config as config_lib
from singan_jax.core import schema
from helpers import NARROW_BLEND, tiny_config


def tiny_inputs():
  """A textured 32x40 uint8 image and a rectangular hole."""
  rng = np.random.default_rng(0)
  yy, xx = np.mgrid[0:32, 0:40]
  img = np.stack(
    [128 + 90 * np.sin(xx / 2.0), 128 + 90 * np.cos(yy / 3.0), 60 + 3 * xx], -1
  ) + rng.normal(0, 8, (32, 40, 3))
  hole = np.zeros((32, 40), bool)
  hole[10:20, 12:26] = True
  return np.clip(img, 0, 255).astype(np.uint8), hole


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
  cfg = tiny_config(**NARROW_BLEND)
  pixels, hole = tiny_inputs()
  pyr = trainer.train(
    config_lib.settings(cfg),
    str(tmp_path_factory.mktemp("pyr")),
    image_io.to_float(pixels)[None],
    hole[None],
  )
  return cfg, pyr, pixels, hole


def _texture(seed):
  rng = np.random.default_rng(seed)
  yy, xx = np.mgrid[0:40, 0:40]
  x = np.stack([0.5 * np.sin(xx / 2.0), 0.5 * np.cos(yy / 3.0), xx / 40 - 0.5], -1)
  return np.clip(x + rng.normal(0, 0.1, x.shape), -1, 1)


def test_choose_prefers_the_candidate_that_matches_the_known_region():
  truth = _texture(0)
  hole = np.zeros((40, 40), bool)
  hole[12:28, 10:30] = True
  flat = truth.copy()
  flat[hole] = truth[~hole].mean(axis=0)
  dark = truth.copy()
  dark[hole] = np.clip(dark[hole] - 0.7, -1, 1)
  for order in ([flat, truth, dark], [truth, dark, flat], [dark, flat, truth]):
    best, scores = candidates.choose(order, hole)
    assert order[best] is truth
    assert len(scores) == 3 and set(scores[0]) == {"seam", "patch_swd"}


@pytest.mark.slow
def test_generate_many_matches_one_draw_per_key(trained):
  cfg, pyr, pixels, hole = trained
  finest = pyramid.finest(jax.numpy.asarray(image_io.to_float(pixels))[None], pyr.plan)
  frozen = inpaint_lib.select_image(pyr.frozen, 0)
  key = jax.random.PRNGKey(3)
  many = candidates.generate_many(pyr, frozen, finest, 1, key, 3)
  assert many.shape == (3,) + pyr.plan.shapes[-1] + (3,)
  for i, k in enumerate(jax.random.split(key, 3)):
    one = inpaint_lib.generate(pyr, frozen, finest, 1, k)[0]
    np.testing.assert_allclose(many[i], one, atol=1e-5)


@pytest.mark.slow
def test_k_candidates_returns_the_chosen_draw_and_keeps_known_pixels(trained):
  cfg, pyr, pixels, hole = trained
  cfg = cfg.copy_and_resolve_references()
  cfg.num_candidates = 4
  r = inpaint_lib.inpaint(pyr, pixels, hole, schema.Inpainting.from_config(cfg), seed=cfg.seed)
  assert r.output.shape == pixels.shape and r.output.dtype == np.uint8
  assert 0 <= r.candidate < 4
  outside = r.soft == 0
  np.testing.assert_array_equal(r.output[outside], pixels[outside])
  # The kept output is the blend of the kept draw, and the choice is reproducible.
  alpha = blend_lib.blend_alpha(hole, schema.Inpainting.from_config(cfg), 1.0 / pyr.plan.scale1)
  want = blend_lib.composite(pixels, r.generated, alpha)
  np.testing.assert_array_equal(r.output, want)
  np.testing.assert_array_equal(
    inpaint_lib.inpaint(
      pyr, pixels, hole, schema.Inpainting.from_config(cfg), seed=cfg.seed
    ).output,
    r.output,
  )


@pytest.mark.slow
def test_one_candidate_is_the_plain_pipeline(trained):
  cfg, pyr, pixels, hole = trained
  assert cfg.num_candidates == 1
  r = inpaint_lib.inpaint(pyr, pixels, hole, schema.Inpainting.from_config(cfg), seed=cfg.seed)
  # fill -> inject (known pixels re-imposed) -> upscale -> texture -> blend, with inpaint's keys.
  k_fill, k_gen = rng.inpaint_keys(cfg.seed, 0)
  x = jax.numpy.asarray(image_io.to_float(pixels))
  filled = fill_lib.fill(x, jax.numpy.asarray(~hole), cfg.fill, key=k_fill)
  frozen = inpaint_lib.select_image(pyr.frozen, 0)
  anchors = coherence.anchors(filled, hole, pyr.plan)
  finest = pyramid.finest(filled[None], pyr.plan)
  gen = inpaint_lib.generate(pyr, frozen, finest, 1, k_gen, anchors)
  full = inpaint_lib.to_input_size(
    pyr, frozen, gen, filled, hole, k_gen, schema.Inpainting.from_config(cfg)
  )
  if cfg.texture == "patchmatch":
    full = inpaint_lib.retexture(
      x, hole, np.asarray(full), rng.texture_key(cfg.seed, 0), schema.Inpainting.from_config(cfg)
    )
  alpha = blend_lib.blend_alpha(hole, schema.Inpainting.from_config(cfg), 1.0 / pyr.plan.scale1)
  np.testing.assert_array_equal(r.output, blend_lib.composite(pixels, np.asarray(full), alpha))
  assert r.candidate == 0


@pytest.mark.slow
def test_zero_candidates_is_refused(trained):
  cfg, pyr, pixels, hole = trained
  with pytest.raises(ValueError, match="num_candidates"):
    candidates.generate_many(
      pyr,
      inpaint_lib.select_image(pyr.frozen, 0),
      np.zeros((1,) + pyr.plan.shapes[-1] + (3,), np.float32),
      1,
      jax.random.PRNGKey(0),
      0,
    )
