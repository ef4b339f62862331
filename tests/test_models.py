"""Partial convolution against a direct numpy computation; G and D shapes and BatchNorm modes."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from singan_jax.core import models
from singan_jax.core import partial_conv


def _direct_partial_conv(x, mask, kernel, bias, normalization):
  """Loop-over-windows numpy version of report eq. 2 (and NVIDIA's ratio variant)."""
  n, h, w, cin = x.shape
  kh, kw, _, cout = kernel.shape
  y = np.zeros((n, h - kh + 1, w - kw + 1, cout))
  new = np.zeros((n, h - kh + 1, w - kw + 1, 1))
  xm = x * mask
  for b in range(n):
    for i in range(h - kh + 1):
      for j in range(w - kw + 1):
        msum = mask[b, i : i + kh, j : j + kw, 0].sum() * cin  # over every input channel
        if msum == 0:
          continue
        raw = np.einsum("hwc,hwco->o", xm[b, i : i + kh, j : j + kw], kernel)
        scale = 1.0 / msum if normalization == "sum" else kh * kw * cin / msum
        y[b, i, j] = raw * scale + bias
        new[b, i, j] = 1.0
  return y, new


@pytest.mark.parametrize("normalization", ["sum", "ratio"])
def test_partial_conv_matches_direct_computation(normalization):
  rng = np.random.default_rng(0)
  x = rng.normal(size=(2, 9, 11, 4))
  mask = np.ones((2, 9, 11, 1))
  mask[0, 2:7, 3:9] = 0  # a hole larger than the kernel: some windows see nothing
  mask[1] = rng.random((9, 11, 1)) > 0.5
  kernel = rng.normal(size=(3, 3, 4, 5))
  bias = rng.normal(size=(5,))
  want_y, want_m = _direct_partial_conv(x, mask, kernel, bias, normalization)
  y, new = partial_conv.partial_conv(
    jnp.asarray(x, jnp.float32),
    jnp.asarray(mask, jnp.float32),
    jnp.asarray(kernel, jnp.float32),
    jnp.asarray(bias, jnp.float32),
    normalization,
  )
  np.testing.assert_allclose(np.asarray(y), want_y, rtol=1e-5, atol=1e-5)
  np.testing.assert_array_equal(np.asarray(new), want_m)
  assert (np.asarray(y)[want_m[..., 0] == 0] == 0).all()  # hole outputs exactly 0
  assert (want_m[0, ..., 0] == 0).any()


def test_ratio_partial_conv_on_a_full_mask_is_an_ordinary_conv():
  x = jax.random.normal(jax.random.PRNGKey(0), (1, 8, 8, 3))
  k = jax.random.normal(jax.random.PRNGKey(1), (3, 3, 3, 4))
  b = jnp.arange(4.0)
  y, m = partial_conv.partial_conv(x, jnp.ones((1, 8, 8, 1)), k, b, "ratio")
  np.testing.assert_allclose(np.asarray(y), np.asarray(partial_conv.conv(x, k, b)), atol=1e-5)
  assert bool(m.all())


def test_conv2d_valid_equals_lax_valid():
  x = jax.random.normal(jax.random.PRNGKey(2), (2, 10, 13, 3))
  k = jax.random.normal(jax.random.PRNGKey(3), (3, 3, 3, 6))
  want = jax.lax.conv_general_dilated(
    x, k, (1, 1), "VALID", dimension_numbers=("NHWC", "HWIO", "NHWC")
  )
  np.testing.assert_allclose(
    np.asarray(partial_conv.conv2d_valid(x, k)), np.asarray(want), atol=1e-5
  )


def test_partial_conv_second_order_gradients_are_finite_under_jit_and_vmap():
  x = jax.random.normal(jax.random.PRNGKey(4), (3, 1, 8, 8, 2))
  mask = (jax.random.uniform(jax.random.PRNGKey(5), (3, 1, 8, 8, 1)) > 0.4).astype(jnp.float32)
  k = jax.random.normal(jax.random.PRNGKey(6), (3, 3, 2, 2))

  def gp(k, x, m):
    g = jax.grad(lambda x: jnp.sum(partial_conv.partial_conv(x, m, k, jnp.zeros(2))[0] ** 2))(x)
    return jnp.sum(g**2)

  grads = jax.jit(jax.vmap(jax.grad(gp), in_axes=(None, 0, 0)))(k, x, mask)
  assert grads.shape == (3,) + k.shape and bool(jnp.isfinite(grads).all())


@pytest.mark.parametrize("in_axes", [(0, 0, 0), (0, 0, None), (None, None, 0)])
def test_unrolled_batching_equals_grouped_to_second_order(in_axes):
  """Per-image kernels under vmap: B single convs (custom_vmap) == one grouped conv, for the
  partial conv's value, its gradient-penalty-style second-order gradient, and vmap nesting."""
  rng = np.random.default_rng(7)
  b = 3
  x, m, k = (
    rng.normal(size=(b, 1, 9, 10, 2)),
    rng.random((b, 1, 9, 10, 1)) > 0.3,
    rng.normal(size=(b, 3, 3, 2, 4)),
  )

  def loss(x, m, k, batching):
    pconv = lambda x: partial_conv.partial_conv(x, m, k, jnp.zeros(4), "ratio", None, batching)[0]
    g = jax.grad(lambda x: jnp.sum(jnp.tanh(pconv(x))))(x)
    return jnp.sum(pconv(x) ** 2) + (jnp.sqrt(jnp.sum(g**2)) - 1) ** 2

  with jax.enable_x64(True):
    x, m, k = (jnp.asarray(a, jnp.float64) for a in (x, m, k))
    args = tuple(a if ax == 0 else a[0] for a, ax in zip((x, m, k), in_axes))
    run = lambda batching: jax.jit(
      jax.vmap(
        jax.value_and_grad(lambda x, m, k: loss(x, m, k, batching), argnums=(0, 2)), in_axes=in_axes
      )
    )(*args)
    got, want = run("unrolled"), run("grouped")
    for a, w in zip(jax.tree.leaves(got), jax.tree.leaves(want)):
      np.testing.assert_allclose(np.asarray(a), np.asarray(w), rtol=1e-12, atol=1e-12)
    nested = lambda batching: jax.vmap(
      jax.vmap(lambda x, k: partial_conv.conv2d_valid(x, k, batching))
    )(x[:, None], k[:, None])
    np.testing.assert_allclose(
      np.asarray(nested("unrolled")), np.asarray(nested("grouped")), rtol=1e-12, atol=1e-12
    )


def test_unrolled_batching_runs_single_convolutions():
  """The point of 'unrolled': no grouped convolution reaches XLA (slow on XLA:CPU). XLA's own
  convolutions (impl 'native'), so that the HLO shows them (the default 'platform' is oneDNN's
  custom calls on a CPU)."""
  x, k = jnp.ones((4, 1, 8, 8, 2)), jnp.ones((4, 3, 3, 2, 3))
  f = lambda batching: (
    jax.jit(
      jax.vmap(
        jax.grad(
          lambda x, k: jnp.sum(partial_conv.conv2d_valid(x, k, batching, "native") ** 2),
          argnums=(0, 1),
        )
      )
    )
    .lower(x, k)
    .compile()
    .as_text()
  )  # the optimised HLO XLA runs
  grouped, unrolled = f("grouped"), f("unrolled")
  assert "feature_group_count=4" in grouped and grouped.count(" convolution(") == 3
  assert "feature_group_count=4" not in unrolled and "batch_group_count=4" not in unrolled
  assert unrolled.count(" convolution(") == 3 * 4  # value, dx, dW per image: nothing extra
  with pytest.raises(ValueError, match="conv_batching='loop' is unknown"):
    partial_conv.conv2d_valid(x[0], k[0], "loop")


def test_bad_normalization_is_refused():
  with pytest.raises(ValueError, match="use one of"):
    partial_conv.partial_conv(
      jnp.ones((1, 5, 5, 1)), jnp.ones((1, 5, 5, 1)), jnp.ones((3, 3, 1, 1)), jnp.zeros(1), "mean"
    )


@pytest.mark.slow
@pytest.mark.parametrize("partial", [False, True])
def test_generator_and_discriminator_shapes(partial):
  h, w = 14, 17
  g = models.Generator(nfc=8, min_nfc=8, partial=partial)
  d = models.Discriminator(nfc=8, min_nfc=8, partial=partial)
  x = jax.random.normal(jax.random.PRNGKey(0), (1, h + 10, w + 10, 3))
  m = jnp.ones((1, h + 10, w + 10, 1)) if partial else None
  gv = g.init(jax.random.PRNGKey(1), x, x, m)
  out = g.apply(gv, x, x, m, train=False)
  assert out.shape == (1, h, w, 3)
  # output = tanh(net) + centre crop of the previous image
  assert float(jnp.max(jnp.abs(out - x[:, 5:-5, 5:-5]))) <= 1.0
  xd = out
  md = jnp.ones((1, h, w, 1)) if partial else None
  dv = d.init(jax.random.PRNGKey(2), xd, md)
  assert d.apply(dv, xd, md, train=False).shape == (1, h - 10, w - 10, 1)
  widths = [
    gv["params"]["net"][n]["conv"]["kernel"].shape[-1]
    for n in ("head", "body_0", "body_1", "body_2")
  ]
  assert widths == [8, 8, 8, 8]


def test_body_widths_halve_down_to_min_nfc():
  assert models.body_widths(64, 32, 5) == [64, 32, 32, 32]
  assert models.body_widths(128, 16, 5) == [128, 64, 32, 16]


def test_batchnorm_train_uses_batch_stats_and_updates_running_averages():
  bn = models.BatchNorm()
  x = 3.0 + 2.0 * jax.random.normal(jax.random.PRNGKey(0), (2, 6, 7, 4))
  v = bn.init(jax.random.PRNGKey(1), x, train=True)
  y, upd = bn.apply(v, x, train=True, mutable=["batch_stats"])
  scale, bias = v["params"]["scale"], v["params"]["bias"]
  normed = (y - bias) / scale
  np.testing.assert_allclose(np.asarray(normed.mean((0, 1, 2))), 0.0, atol=1e-4)
  mean = np.asarray(x).mean((0, 1, 2))
  var_unbiased = np.asarray(x).var((0, 1, 2), ddof=1)
  np.testing.assert_allclose(np.asarray(upd["batch_stats"]["mean"]), 0.1 * mean, rtol=1e-5)
  np.testing.assert_allclose(
    np.asarray(upd["batch_stats"]["var"]), 0.9 + 0.1 * var_unbiased, rtol=1e-5
  )
  # eval mode: the running averages, not the batch
  y_eval = bn.apply({**v, "batch_stats": upd["batch_stats"]}, x, train=False)
  want = (np.asarray(x) - 0.1 * mean) / np.sqrt(0.9 + 0.1 * var_unbiased + 1e-5) * scale + bias
  np.testing.assert_allclose(np.asarray(y_eval), want, rtol=1e-4, atol=1e-4)


def test_partial_generator_ignores_hole_content():
  """What lies under the hole of the mask cannot change a partial D's scores."""
  d = models.Discriminator(nfc=8, min_nfc=8, partial=True)
  x = jax.random.normal(jax.random.PRNGKey(0), (1, 20, 20, 3))
  m = jnp.ones((1, 20, 20, 1)).at[:, 6:12, 6:12].set(0.0)
  v = d.init(jax.random.PRNGKey(1), x, m)
  x2 = x.at[:, 6:12, 6:12].set(100.0)
  np.testing.assert_allclose(
    np.asarray(d.apply(v, x, m, train=False)), np.asarray(d.apply(v, x2, m, train=False)), atol=1e-6
  )
