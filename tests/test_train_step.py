"""One SinGAN iteration: finite losses, parameters move, deterministic given the key."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from singan_jax.core import partial_conv
from singan_jax.core import pyramid
from singan_jax.core import sampling
from singan_jax.training import step as train_step
from singan_jax.training import loop as trainer

H, W = 22, 26


def _setup(partial: bool, step_loop: str = "auto"):
  plan = pyramid.make_plan(H, W, max_size=26, min_size=20, nfc=8, min_nfc=8)
  net = sampling.NetConfig(partial=partial)
  tc = train_step.TrainConfig(niter=10, step_loop=step_loop)
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


@pytest.mark.slow
def test_scanned_and_unrolled_steps_give_the_same_iteration():
  """step_loop only changes how the D/G steps are compiled, not what they compute."""
  results = {}
  for loop in ("scan", "unrolled"):
    state, inputs, step = _setup(True, loop)
    results[loop] = step(state, inputs)
  (scan_state, scan_metrics), (unrolled_state, unrolled_metrics) = results.values()
  # Every loss of the iteration agrees to float32 rounding.
  for k in train_step.METRICS:
    np.testing.assert_allclose(scan_metrics[k], unrolled_metrics[k], rtol=2e-4, err_msg=k)
  # The weights agree to a fraction of one Adam step: a step skipped, repeated or fed other
  # draws moves most weights by about the learning rate. Not to rounding: a gradient
  # component at rounding level (a body conv's bias that feeds a BatchNorm) becomes a
  # +-lr move in Adam's first steps, and that reaches the other weights by a few 1e-5
  # (measured: 3.3e-5 on an AVX-512 Xeon, a fifteenth of lr 5e-4). Those biases and the
  # BatchNorm means that follow them are left out.
  tc = train_step.TrainConfig()
  noise_driven = lambda path: "body" in path and ("'bias'" in path or "'mean'" in path)
  compared = 0
  for field, lr in (("g_params", tc.lr_g), ("d_params", tc.lr_d), ("g_stats", 0), ("d_stats", 0)):
    a_leaves = jax.tree_util.tree_leaves_with_path(getattr(scan_state, field))
    b_leaves = jax.tree.leaves(getattr(unrolled_state, field))
    for (path, a), b in zip(a_leaves, b_leaves):
      if not noise_driven(jax.tree_util.keystr(path)):
        np.testing.assert_allclose(a, b, rtol=2e-4, atol=max(0.2 * lr, 2e-6), err_msg=field)
        compared += 1
  assert compared > 20
  np.testing.assert_array_equal(scan_state.step, unrolled_state.step)


def test_step_loop_auto_follows_the_backend_and_the_convolutions(monkeypatch):
  assert train_step.resolve_step_loop("auto", "native", "cpu") == "unrolled"
  assert train_step.resolve_step_loop("scan", "native", "cpu") == "scan"
  for accelerator in ("gpu", "tpu"):  # half the device memory there (docs/gpu.md)
    assert train_step.resolve_step_loop("auto", "native", accelerator) == "scan"
    assert train_step.resolve_step_loop("unrolled", "native", accelerator) == "unrolled"
  if jax.default_backend() == "cpu":
    assert train_step.resolve_step_loop("auto", "native") == "unrolled"
  monkeypatch.setattr(partial_conv, "resolve_impl", lambda impl: "onednn")
  assert train_step.resolve_step_loop("auto", "platform") == "scan"
  with pytest.raises(ValueError, match="step_loop='fori' is unknown"):
    train_step.resolve_step_loop("fori", "native")


def test_learning_rate_drops_at_lr_drop_times_niter():
  tc = train_step.TrainConfig(niter=100, lr_drop=0.8)
  assert train_step.lr_milestone(tc) == 80
