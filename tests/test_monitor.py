"""Finiteness watched on device (singan_jax/train/monitor.py): the first bad iteration and
its metrics are recorded without a host sync, and the error names them exactly."""

import flax
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from singan_jax.train import monitor

NAMES = ("errD", "errG", "rec", "gp")


@flax.struct.dataclass
class _State:
  step: jax.Array


def _fake_iteration(bad_at: int):
  """Counts steps; errG turns NaN from iteration bad_at on (1-based)."""

  def iteration(state, inputs):
    step = state.step + 1
    err_g = jnp.where(step >= bad_at, jnp.nan, 1.0)
    metrics = {"errD": jnp.float32(0.5), "errG": err_g, "rec": jnp.float32(0.1), "gp": inputs}
    return _State(step), metrics

  return iteration


def test_first_bad_iteration_and_metric_are_exact_and_kept():
  ids = np.array([4, 9])
  fn = jax.jit(jax.vmap(monitor.watched(_fake_iteration(3), NAMES)))
  state = _State(jnp.zeros((2,), jnp.int32))
  health = monitor.healthy(2, NAMES)
  gp = jnp.zeros((2,))
  for _ in range(2):
    state, _, health = fn(state, gp, health)
  monitor.raise_if_unhealthy(health, NAMES, 0, ids, "/w")  # all finite so far
  state, _, health = fn(state, gp, health)  # iteration 3: errG turns NaN
  for _ in range(4):  # later bad metrics do not move the record
    state, _, health = fn(state, gp.at[1].set(jnp.inf), health)
  with pytest.raises(
    monitor.NonFiniteError, match=r"^scale 2, iteration 3: errG stopped being finite \(image 4, 9\)"
  ):
    monitor.raise_if_unhealthy(health, NAMES, 2, ids, "/w")


def test_single_image_message_names_every_bad_metric():
  fn = jax.jit(jax.vmap(monitor.watched(_fake_iteration(1), NAMES)))
  state = _State(jnp.zeros((1,), jnp.int32))
  _, _, health = fn(state, jnp.full((1,), jnp.nan), monitor.healthy(1, NAMES))
  with pytest.raises(
    monitor.NonFiniteError, match=r"^scale 0, iteration 1: errG, gp stopped being finite; .*lower"
  ):
    monitor.raise_if_unhealthy(health, NAMES, 0, np.array([0]), "/w")


def test_noise_amplitudes_are_short():
  assert monitor.fmt_amps(np.array([0.018799999728798866, 1.0], np.float32)) == "[0.0188, 1]"
