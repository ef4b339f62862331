"""One SinGAN iteration: finite losses, parameters move, deterministic given the key."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from singan_jax.core import pyramid
from singan_jax.core import sampling
from singan_jax.train import step as train_step
from singan_jax.train import loop as trainer

H, W = 22, 26


def _setup(partial: bool):
  plan = pyramid.make_plan(H, W, max_size=26, min_size=20, nfc=8, min_nfc=8)
  net = sampling.NetConfig(partial=partial)
  tc = train_step.TrainConfig(niter=10)
  n = 0
  h, w = plan.shapes[n]
  g_vars, d_vars = trainer.init_networks(plan, n, net, jax.random.PRNGKey(0)[None], h, w)
  state = jax.vmap(lambda g, d: train_step.init_state(g, d, tc))(g_vars, d_vars)
  real = jnp.tanh(jax.random.normal(jax.random.PRNGKey(1), (1, 1, h, w, 3)))
  known = jnp.ones((1, 1, h, w, 1)).at[:, :, 5:10, 6:12].set(0.0)
  z_opt = sampling.noise(jax.random.PRNGKey(2), 1, h, w, single_channel=True)[None]
  inputs = train_step.ScaleInputs(
    real, known, z_opt, jnp.zeros_like(z_opt), jnp.ones((1,)), jax.random.PRNGKey(3)[None], ()
  )
  step = jax.jit(jax.vmap(train_step.make_iteration(plan, n, net, tc)))
  return state, inputs, step


@pytest.mark.slow
@pytest.mark.parametrize("partial", [True, False])
def test_iterations_are_finite_move_params_and_count(partial):
  state, inputs, step = _setup(partial)
  before = jax.tree.map(np.asarray, (state.g_params, state.d_params))
  for _ in range(3):
    state, metrics = step(state, inputs)
  for k, v in metrics.items():
    assert np.isfinite(np.asarray(v)).all(), k
  assert int(state.step[0]) == 3
  after = jax.tree.map(np.asarray, (state.g_params, state.d_params))
  moved = jax.tree.map(lambda a, b: float(np.abs(a - b).max()), before, after)
  # The critic's tail bias cancels in mean D(fake) - mean D(real) and is absent from the
  # penalty's input gradient, so it has a zero gradient; every other tensor must move.
  assert moved[1]["net"]["tail"].pop("bias") == 0.0
  assert min(jax.tree.leaves(moved)) > 0
  assert float(np.asarray(metrics["gp"])[0]) >= 0


@pytest.mark.slow
def test_same_key_same_result_and_hole_pixels_do_not_matter_in_partial_mode():
  state_a, inputs, step = _setup(True)
  state_b, _, _ = _setup(True)
  state_a, m_a = step(state_a, inputs)
  # change the real image inside the hole only: PC-SinGAN never sees it
  hole = inputs.known == 0
  inputs_b = inputs.replace(real=jnp.where(hole, 5.0, inputs.real))
  state_b, m_b = step(state_b, inputs_b)
  for k in m_a:
    np.testing.assert_allclose(np.asarray(m_a[k]), np.asarray(m_b[k]), rtol=1e-5, atol=1e-6)
  for a, b in zip(jax.tree.leaves(state_a.g_params), jax.tree.leaves(state_b.g_params)):
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-5, atol=1e-6)


def test_learning_rate_drops_at_lr_drop_times_niter():
  tc = train_step.TrainConfig(niter=100, lr_drop=0.8)
  assert train_step.lr_milestone(tc) == 80
