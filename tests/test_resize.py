"""MATLAB-style antialiased bicubic resize: known values, linearity, gradients, jit."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from singan_jax.core import resize


def test_cubic_kernel_values():
  np.testing.assert_allclose(
    resize.cubic(np.array([0.0, 0.5, 1.0, 1.5, 2.0, 2.5])), [1.0, 0.5625, 0.0, -0.0625, 0.0, 0.0]
  )


def test_downscale_by_half_hand_computed_row():
  # in 4 -> out 2: first row, widened kernel 0.5 * cubic(0.5 d), taps mirrored at the border.
  m = resize.resize_matrix(4, 0.5)
  np.testing.assert_allclose(m[0], [0.546875, 0.3984375, 0.1015625, -0.046875], atol=1e-12)
  np.testing.assert_allclose(m[1], m[0][::-1], atol=1e-12)


def test_upscale_by_two_hand_computed_row():
  # out pixel 2 (1-based) of 4 -> 8 lies at u = 1.25: 1-based taps 0..3 at distances 1.25,
  # .25, -.75, -1.75; tap 0 mirrors onto pixel 1, so pixel 1 gets cubic(1.25) + cubic(.25).
  m = resize.resize_matrix(4, 2.0)
  c = resize.cubic(np.array([1.25, 0.25, 0.75, 1.75]))
  np.testing.assert_allclose(m[1], [c[0] + c[1], c[2], c[3], 0.0], atol=1e-12)


@pytest.mark.parametrize("in_len,scale", [(25, 0.75), (167, 0.7624), (33, 1 / 0.7624), (7, 1.0)])
def test_rows_sum_to_one_and_output_length(in_len, scale):
  m = resize.resize_matrix(in_len, scale)
  assert m.shape == (int(np.ceil(in_len * scale)), in_len)
  np.testing.assert_allclose(m.sum(1), 1.0, atol=1e-12)


def test_identity_at_scale_one():
  x = np.random.default_rng(0).normal(size=(1, 9, 11, 3)).astype(np.float32)
  np.testing.assert_allclose(np.asarray(resize.resize(x, 1.0)), x, atol=1e-6)


def test_resize_is_jittable_differentiable_and_batched():
  x = jax.random.normal(jax.random.PRNGKey(0), (2, 20, 30, 3))
  f = jax.jit(lambda x: resize.resize(x, 0.75))
  y = f(x)
  assert y.shape == (2, 15, 23, 3)
  g = jax.grad(lambda x: jnp.sum(resize.resize(x, 0.75) ** 2))(x)
  assert g.shape == x.shape and bool(jnp.isfinite(g).all()) and float(jnp.abs(g).sum()) > 0
  np.testing.assert_allclose(np.asarray(y[1]), np.asarray(f(x[1:])[0]), atol=1e-6)


def test_out_hw_crops_the_same_resize():
  x = jax.random.normal(jax.random.PRNGKey(1), (1, 20, 30, 3))
  full = resize.resize(x, 0.75)
  cropped = resize.resize(x, 0.75, (14, 20))
  np.testing.assert_allclose(np.asarray(cropped), np.asarray(full[:, :14, :20]), atol=1e-6)
