"""Compiling the next scale's iteration in the background (singan_jax/training/ahead.py). That a
real run uses it (one trace per scale, no fallback) is tests/test_perf.py's slow check."""

import jax
import jax.numpy as jnp
import numpy as np

from singan_jax.training import ahead


def _fn(x, y):
  return jnp.sin(x) * y.sum()


def test_a_compile_started_for_scale_n_is_taken_at_n_and_computes_the_same():
  jitted = jax.jit(_fn)
  x, y = jnp.arange(6.0).reshape(2, 3), jnp.ones((4,))
  worker = ahead.Ahead()
  worker.start(3, jitted, lambda: ahead.abstract((x, y)))
  assert worker.take(2) is None  # another scale's: not this one
  compiled = worker.take(3)
  np.testing.assert_array_equal(compiled(x, y), jitted(x, y))
  assert worker.take(3) is None  # taken once


def test_abstract_replaces_the_trailing_image_dims():
  real = jnp.zeros((2, 1, 5, 7, 3))
  spec = ahead.abstract(real, (9, 11, 3))
  assert spec.shape == (2, 1, 9, 11, 3) and spec.dtype == real.dtype


def test_a_failed_compile_is_logged_and_leaves_the_first_call_to_compile(caplog):
  worker = ahead.Ahead()

  def broken():
    raise RuntimeError("no shapes")

  worker.start(1, jax.jit(_fn), broken)
  assert worker.take(1) is None
  assert "compiling ahead failed (no shapes)" in caplog.text


def test_arguments_that_do_not_fit_fall_back_to_the_jitted_function(caplog):
  jitted = jax.jit(_fn)
  x, y = jnp.ones((2, 3)), jnp.ones((4,))
  compiled = jitted.lower(*ahead.abstract((x, y))).compile()
  step = ahead.first_call_checked(compiled, jitted, 5)
  other = jnp.ones((3, 3))  # not the shape it was compiled for
  np.testing.assert_array_equal(step(other, y), jitted(other, y))
  assert "scale 5: the ahead-compiled iteration does not fit" in caplog.text
  np.testing.assert_array_equal(step(x, y), jitted(x, y))  # the fallback stays


def test_arguments_that_fit_run_the_compiled_executable():
  jitted = jax.jit(_fn)
  x, y = jnp.ones((2, 3)), jnp.ones((4,))
  calls = []

  def compiled(*args):
    calls.append(args)
    return jitted(*args)

  step = ahead.first_call_checked(compiled, jitted, 0)
  step(x, y)
  step(x, y)
  assert len(calls) == 2
