"""Every convolution formulation (conv_forms.py) gives the native numbers, to any order and
under vmap, and the autotuner (conv_tune.py) measures once, caches on disk and obeys it."""

import json

import jax
import jax.numpy as jnp
from jax import lax
import numpy as np
import pytest

from singan_jax.core import conv_forms
from singan_jax.core import conv_tune
from singan_jax.core import partial_conv

FORCED = tuple(i for i in partial_conv.IMPLS if i != "auto")


def _rand(rng, shape, scale=1.0):
  return jnp.asarray(rng.standard_normal(shape) * scale, jnp.float32)


def _close(got, want, rtol=2e-4):
  """Equal to float32 rounding, relative to the largest magnitude (sums of many terms)."""
  for a, b in zip(jax.tree.leaves(got), jax.tree.leaves(want)):
    np.testing.assert_allclose(a, b, rtol=rtol, atol=rtol * float(jnp.abs(b).max()))


def _reference(x, k):
  """XLA's VALID convolution differentiated by JAX itself: the ground truth."""
  return lax.conv_general_dilated(x, k, (1, 1), "VALID", dimension_numbers=("NHWC", "HWIO", "NHWC"))


# (x shape, Cout): N > 1, odd sizes, Cin != Cout, one channel (the mask sum), and enough
# rows (68 * 68 > 4096) that the chunked weight gradient pads its last chunk.
SHAPES = [((2, 9, 11, 3), 5), ((1, 7, 6, 1), 1), ((1, 70, 70, 2), 3)]


@pytest.mark.parametrize("op", conv_forms.OPS)
@pytest.mark.parametrize("x_shape,cout", SHAPES)
def test_every_formulation_equals_native(op, x_shape, cout):
  rng = np.random.default_rng(0)
  n, h, w, cin = x_shape
  x, k = _rand(rng, x_shape), _rand(rng, (3, 3, cin, cout))
  dy = _rand(rng, (n, h - 2, w - 2, cout))
  a, b = {"valid": (x, k), "input_grad": (dy, k), "kernel_grad": (x, dy)}[op]
  want = jax.jit(conv_forms.FORMS[op]["native"])(a, b)
  if op == "valid":
    _close(want, _reference(x, k))
  for name, fn in conv_forms.FORMS[op].items():
    got = jax.jit(fn)(a, b)
    assert got.shape == want.shape, name
    _close(got, want)


def _objective(conv):
  """Value + a gradient penalty (the gradient of a gradient, as WGAN-GP) of conv."""

  def f(x, k):
    g = jax.grad(lambda x: jnp.sum(jnp.tanh(conv(x, k)) ** 2))(x)
    return jnp.sum(jnp.square(g)) + jnp.sum(conv(x, k) ** 3)

  return f


@pytest.mark.parametrize("impl", FORCED)
def test_forced_impl_matches_reference_to_second_order(impl):
  """Forward, first-order and second-order gradients (x and kernel) equal lax's."""
  rng = np.random.default_rng(1)
  x, k = _rand(rng, (2, 9, 11, 3)), _rand(rng, (3, 3, 3, 5), 0.3)
  conv = lambda x, k: partial_conv.conv2d_valid(x, k, "unrolled", impl)
  _close(jax.jit(conv)(x, k), _reference(x, k))
  first = lambda c: jax.jit(jax.grad(lambda x, k: jnp.sum(jnp.sin(c(x, k))), argnums=(0, 1)))
  _close(first(conv)(x, k), first(_reference)(x, k))
  second = lambda c: jax.jit(jax.grad(_objective(c), argnums=(0, 1)))
  _close(second(conv)(x, k), second(_reference)(x, k))


@pytest.mark.parametrize("impl", FORCED)
def test_forced_impl_under_vmap_matches_reference(impl):
  """Images batched with per-image kernels (the batched trainer) and a shared kernel."""
  rng = np.random.default_rng(2)
  x, k = _rand(rng, (3, 1, 8, 10, 2)), _rand(rng, (3, 3, 3, 2, 4), 0.3)
  conv = lambda x, k: partial_conv.conv2d_valid(x, k, "unrolled", impl)
  grads = lambda c: jax.jit(jax.vmap(jax.value_and_grad(_objective(c), argnums=(0, 1))))
  _close(grads(conv)(x, k), grads(_reference)(x, k))
  shared = lambda c: jax.jit(jax.vmap(c, in_axes=(0, None)))(x, k[0])
  _close(shared(conv), shared(_reference))


def test_partial_conv_same_for_every_impl():
  """The partial conv (mask sum included) and its gradient agree across formulations."""
  rng = np.random.default_rng(3)
  x, k = _rand(rng, (1, 9, 10, 2)), _rand(rng, (3, 3, 2, 4), 0.3)
  m = jnp.asarray(rng.random((1, 9, 10, 1)) > 0.3, jnp.float32)

  def run(impl):
    pconv = lambda x, k: partial_conv.partial_conv(
      x, m, k, jnp.zeros(4), "ratio", None, "auto", impl
    )
    return jax.jit(jax.value_and_grad(lambda x, k: jnp.sum(pconv(x, k)[0] ** 2), (0, 1)))(x, k)

  want = run("native")
  for impl in FORCED[1:]:
    _close(run(impl), want)


def test_bad_impl_names_the_choices():
  with pytest.raises(ValueError, match="conv_impl='fast' is unknown"):
    partial_conv.conv2d_valid(jnp.ones((1, 5, 5, 1)), jnp.ones((3, 3, 1, 1)), impl="fast")


@pytest.fixture
def tune_file(tmp_path, monkeypatch):
  """An empty autotune cache file of this test's own, and a fresh in-memory table."""
  path = tmp_path / "conv_tune.json"
  monkeypatch.setenv("SINGAN_JAX_CONV_TUNE", str(path))
  monkeypatch.setattr(conv_tune, "_TABLE", conv_tune._Table())
  return path


def _grad_fn(x, k):
  return jax.jit(
    jax.grad(lambda x, k: jnp.sum(partial_conv.conv2d_valid(x, k, "auto", "auto") ** 2), (0, 1))
  )(x, k)


def test_auto_measures_once_then_reads_the_file(tune_file, monkeypatch):
  x, k = jnp.ones((1, 8, 9, 2)), jnp.ones((3, 3, 2, 3))
  want = _grad_fn(x, k)
  entries = json.loads(tune_file.read_text())
  ops = sorted(e.split()[0] for e in entries)
  assert ops == ["input_grad", "kernel_grad", "valid"]  # the forward and both transposes
  assert all(e["choice"] in conv_forms.FORMS[e_key.split()[0]] for e_key, e in entries.items())
  assert all("avx" in e_key or "cpu" not in e_key for e_key in entries)  # processor in the key

  def no_measuring(*args, **kwargs):
    raise AssertionError("measured again although the file has the choice")

  monkeypatch.setattr(conv_tune, "measure", no_measuring)
  monkeypatch.setattr(conv_tune, "_TABLE", conv_tune._Table())  # as a new process
  _close(_grad_fn(x + 0.0, k * 1.0), want)


def test_auto_runs_the_choice_on_file(tune_file):
  """A choice written on disk is what the traced program runs: im2col has no convolution."""
  x, k = jnp.ones((1, 8, 9, 2)), jnp.ones((3, 3, 2, 3))
  entry = {"choice": "im2col", "ms": {}}
  tune_file.write_text(json.dumps({conv_tune.key("valid", x.shape, k.shape, x.dtype): entry}))
  conv = lambda x, k: partial_conv.conv2d_valid(x, k, "auto", "auto")
  text = jax.jit(conv).lower(x, k).as_text()
  assert "convolution" not in text and "dot_general" in text
  _close(jax.jit(conv)(x, k), _reference(x, k))
