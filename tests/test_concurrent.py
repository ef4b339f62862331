"""The concurrent schedule (training/concurrent.py): a finer scale's training also trains the
coarser generators of its chain, at the learning rate scaled per scale; the pyramid it leaves
(checkpoints, resume, inpainting) holds the retrained generators."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from singan_jax.core import errors
from singan_jax.core import pyramid
from singan_jax.core import sampling
from singan_jax.inpainting import inpaint as inpaint_lib
from singan_jax.io import images as image_io
from singan_jax.training import checkpoint as ckpt_lib
from singan_jax.training import concurrent
from singan_jax.training import loop as trainer
from singan_jax.training import step as train_step
from singan_jax import config as config_lib
from singan_jax.core import schema

from helpers import NARROW_BLEND, tiny_config


def _scale_1_chain(depth: int):
  """(state, inputs, iteration) of scale 1 of a 2-scale plan, the chain of train_depth depth."""
  plan = pyramid.make_plan(30, 36, max_size=36, min_size=25, nfc=8, min_nfc=8)
  net = sampling.NetConfig()
  tc = train_step.TrainConfig(
    niter=10, Gsteps=1, Dsteps=1, schedule="concurrent", train_depth=depth
  )
  keys = jax.random.split(jax.random.PRNGKey(0), 2)
  (g0, d0), (g1, d1) = (
    trainer.init_networks(plan, n, net, keys[n][None], *plan.shapes[n]) for n in (0, 1)
  )
  frozen0 = sampling.FrozenScale(
    g0, sampling.noise(keys[0], 1, *plan.shapes[0], True)[None], jnp.ones((1,))
  )
  j = concurrent.first_stage(1, tc)
  stages = ((g0,) if j == 0 else ()) + (g1,)
  state = jax.vmap(lambda s, d: concurrent.init_state(s, d, tc, 1))(stages, d1)
  h, w = plan.shapes[1]
  real = jnp.tanh(jax.random.normal(jax.random.PRNGKey(1), (1, 1, h, w, 3)))
  known = jnp.ones((1, 1, h, w, 1)).at[:, :, 8:14, 10:18].set(0.0)
  known0 = jnp.ones((1, 1, *plan.shapes[0], 1))
  z_prev = jnp.zeros((1, 1, *plan.shapes[j], 3))
  inputs = train_step.ScaleInputs(
    real,
    known,
    jnp.zeros_like(real),
    z_prev,
    jnp.full((1,), 0.1),
    jax.random.PRNGKey(3)[None],
    (frozen0,),
    (),
    (known0,) if j == 0 else (),
  )
  return state, inputs, jax.jit(jax.vmap(concurrent.make_iteration(plan, 1, net, tc)))


def test_the_chain_trains_every_stage_the_older_at_the_scaled_learning_rate():
  state, inputs, iteration = _scale_1_chain(depth=2)
  before = jax.tree.map(np.asarray, state.g_params)
  state, metrics = iteration(state, inputs)
  assert all(np.isfinite(np.asarray(v)).all() for v in metrics.values())
  # Adam's first update moves every weight with a gradient by its learning rate: 5e-4 for
  # scale 1's generator, 5e-4 x lr_scale 0.1 for scale 0's, which SinGAN would keep frozen.
  steps = [
    max(float(np.abs(np.asarray(a) - b).max()) for a, b in zip(*map(jax.tree.leaves, pair)))
    for pair in zip(state.g_params, before)
  ]
  assert steps[1] == pytest.approx(5e-4, rel=1e-3)
  assert steps[0] == pytest.approx(5e-5, rel=1e-3)


def test_a_chain_of_one_leaves_the_coarser_generator_alone():
  state, inputs, iteration = _scale_1_chain(depth=1)
  assert len(state.g_params) == 1  # scale 1 only: SinGAN's schedule, as a chain of one
  state, metrics = iteration(state, inputs)
  assert np.isfinite(np.asarray(metrics["errG"])).all()


def test_bad_schedule_settings_name_the_field():
  with pytest.raises(errors.SettingError, match="schedule='consingan' is unknown"):
    train_step.TrainConfig(schedule="consingan")
  with pytest.raises(errors.SettingError, match="train_depth=0 must be at least 1"):
    train_step.TrainConfig(schedule="concurrent", train_depth=0)
  with pytest.raises(errors.SettingError, match=r"lr_scale=0.0 must lie in \(0, 1\]"):
    train_step.TrainConfig(lr_scale=0.0)


def _inputs():
  """(uint8 (32, 40, 3) pixels, (32, 40) hole)."""
  rng = np.random.default_rng(0)
  yy, xx = np.mgrid[0:32, 0:40]
  img = np.stack([120 + 60 * np.sin(xx / 3), 100 + 50 * np.cos(yy / 4), 80 + 2 * xx], -1)
  hole = np.zeros((32, 40), bool)
  hole[10:20, 12:26] = True
  return np.clip(img + rng.normal(0, 8, img.shape), 0, 255).astype(np.uint8), hole


@pytest.mark.slow
def test_the_pyramid_keeps_the_retrained_generators_through_a_restore(tmp_path):
  cfg = tiny_config(schedule="concurrent", train_depth=2, **NARROW_BLEND)
  pixels, hole = _inputs()
  images, holes = image_io.to_float(pixels)[None], hole[None]
  pyr = trainer.train(config_lib.settings(cfg), str(tmp_path), images, holes)
  ckpts = ckpt_lib.PyramidCheckpoints(str(tmp_path))
  (own0, _, _, none), (_, _, _, retrained) = (ckpts.restore_scale(n) for n in (0, 1))
  ckpts.close()
  assert none == {} and set(retrained) == {0}
  same = lambda a, b: all(
    np.array_equal(x, y) for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b))
  )
  assert same(pyr.frozen[0].g_vars, retrained[0])  # scale 1's training moved scale 0's G
  assert not same(pyr.frozen[0].g_vars, own0.g_vars)
  again = trainer.train(
    config_lib.settings(cfg), str(tmp_path), images, holes
  )  # every scale restored
  assert all(same(a.g_vars, b.g_vars) for a, b in zip(pyr.frozen, again.frozen))
  out = inpaint_lib.inpaint(
    again, pixels, hole, schema.Inpainting.from_config(cfg), seed=cfg.seed
  ).output
  assert out.shape == pixels.shape
  np.testing.assert_array_equal(out[:8], pixels[:8])  # rows far from the hole: the photo
