"""Finiteness watched on device (singan_jax/training/monitor.py): the first bad iteration and
its metrics are recorded without a host sync, and the error names them exactly."""

import flax
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from singan_jax.training import monitor
from singan_jax import config as config_lib

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


# -- out of device memory: one error that says what is kept and what to change


def _oom():
  return jax.errors.JaxRuntimeError(
    "RESOURCE_EXHAUSTED: Out of memory while trying to allocate 26.04GiB.\nmore lines"
  )


def test_out_of_memory_names_the_scale_what_is_kept_and_the_fixes():
  from singan_jax.core import pyramid

  plan = pyramid.make_plan(680, 1024, max_size=1024, min_size=25, scale_factor=0.75)
  n = plan.num_scales - 1
  assert monitor.is_out_of_memory(_oom())
  assert not monitor.is_out_of_memory(jax.errors.JaxRuntimeError("INTERNAL: cuDNN failed"))
  assert not monitor.is_out_of_memory(RuntimeError("RESOURCE_EXHAUSTED"))  # not XLA's
  error = monitor.out_of_memory(_oom(), n, plan, 4, "unrolled", "/w")
  text = str(error)
  assert text.startswith(f"scale {n} (680x1024, nfc {plan.nfc[n]}, 4 image(s)) ran out of ")
  assert f"scales 0..{n - 1} are saved in /w" in text and "--config.step_loop=scan" in text
  assert "--config.compute_dtype=bfloat16" in text and "allocate 26.04GiB." in text
  assert "more lines" not in text
  assert "step_loop" not in str(monitor.out_of_memory(_oom(), n, plan, 1, "scan", "/w"))


def test_a_scale_out_of_memory_stops_the_run_with_the_finished_scales_saved(tmp_path, monkeypatch):
  from helpers import tiny_config
  from singan_jax.training import loop as trainer

  cfg = tiny_config()
  images = np.random.default_rng(0).uniform(-1, 1, (1, 32, 40, 3)).astype(np.float32)
  holes = np.zeros((1, 32, 40), bool)
  fit = trainer.fit_scale

  def fit_or_run_out(run, scale):
    if scale.n == 1:
      raise _oom()
    return fit(run, scale)

  monkeypatch.setattr(trainer, "fit_scale", fit_or_run_out)
  with pytest.raises(monitor.OutOfMemoryError, match=r"^scale 1 \(29x36, nfc 8, 1 image"):
    trainer.train(config_lib.settings(cfg), str(tmp_path), images, holes)
  monkeypatch.setattr(trainer, "fit_scale", fit)
  prepare, prepared = trainer.prepare_scale, []
  monkeypatch.setattr(trainer, "prepare_scale", lambda *a: prepared.append(a[1]) or prepare(*a))
  pyr = trainer.train(config_lib.settings(cfg), str(tmp_path), images, holes)  # the rerun
  assert prepared == [1] and pyr.plan.num_scales == 2  # scale 0 was kept, not retrained
