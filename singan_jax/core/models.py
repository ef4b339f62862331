"""Flax linen Generator and Discriminator of one SinGAN scale, vanilla or partial.

Both are five 3x3 VALID conv layers (head, 3 body blocks, tail); a block is
conv -> BatchNorm -> LeakyReLU(0.2). With `partial=True` every conv is a partial conv and
the mask (N, H, W, 1), 1 = known, shrinks through the layers with the features.
Variables: 'params' and 'batch_stats' (BatchNorm running mean / unbiased variance).
"""

import functools
import math
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from singan_jax.core import partial_conv as pconv_lib
from singan_jax.core import schema


def conv_kernel_init(key, shape, dtype=jnp.float32):
  """N(0, 0.02), as the 2019 weights_init."""
  return 0.02 * jax.random.normal(key, shape, dtype)


def bn_scale_init(key, shape, dtype=jnp.float32):
  """N(1, 0.02), as the 2019 weights_init."""
  return 1.0 + 0.02 * jax.random.normal(key, shape, dtype)


class BatchNorm(nn.Module):
  """torch.nn.BatchNorm2d semantics on NHWC.

  train=True: normalise with the batch statistics and update the running averages with
  momentum 0.1 (unbiased variance, as torch); train=False: use the running averages.
  """

  momentum: float = 0.1
  epsilon: float = 1e-5

  @nn.compact
  def __call__(self, x, train: bool):
    c = x.shape[-1]
    scale = self.param("scale", bn_scale_init, (c,), x.dtype)
    bias = self.param("bias", nn.initializers.zeros, (c,), x.dtype)
    ra_mean = self.variable("batch_stats", "mean", lambda: jnp.zeros((c,), x.dtype))
    ra_var = self.variable("batch_stats", "var", lambda: jnp.ones((c,), x.dtype))
    if train:
      axes = tuple(range(x.ndim - 1))
      mean = jnp.mean(x, axes)
      var = jnp.mean(jnp.square(x - mean), axes)
      if not self.is_initializing():
        count = math.prod(x.shape[:-1])
        m = self.momentum
        unbiased = var * (count / max(count - 1, 1))
        ra_mean.value = (1 - m) * ra_mean.value + m * jax.lax.stop_gradient(mean)
        ra_var.value = (1 - m) * ra_var.value + m * jax.lax.stop_gradient(unbiased)
    else:
      mean, var = ra_mean.value, ra_var.value
    return (x - mean) * jax.lax.rsqrt(var + self.epsilon) * scale + bias


class Conv(nn.Module):
  """3x3 VALID conv with bias, partial or not: (x, mask) -> (y, mask)."""

  features: int
  partial: bool = schema.Networks.partial
  normalization: str = schema.Networks.pconv_norm
  kernel_size: int = 3
  compute_dtype: str | None = None  # e.g. 'bfloat16': the conv runs in it (params stay f32)
  conv_batching: str = schema.Networks.conv_batching  # form under vmap (partial_conv)
  conv_impl: str = schema.Networks.conv_impl  # (partial_conv.IMPLS)

  @nn.compact
  def __call__(self, x, mask):
    cin = x.shape[-1]
    k = self.kernel_size
    bound = 1.0 / math.sqrt(cin * k * k)  # torch's default conv bias init
    kernel = self.param("kernel", conv_kernel_init, (k, k, cin, self.features), x.dtype)
    bias = self.param("bias", symmetric_uniform_init(bound), (self.features,), x.dtype)
    if self.partial:
      return pconv_lib.partial_conv(
        x,
        mask,
        kernel,
        bias,
        self.normalization,
        self.compute_dtype,
        self.conv_batching,
        self.conv_impl,
      )
    y = pconv_lib.conv(x, kernel, bias, self.compute_dtype, self.conv_batching, self.conv_impl)
    return y, mask


def symmetric_uniform_init(bound: float):
  """U(-bound, bound), torch's default conv bias init."""

  def init(key, shape, dtype=jnp.float32):
    return jax.random.uniform(key, shape, dtype, -bound, bound)

  return init


ModuleDef = Any  # a module class with its settings bound (functools.partial), as flax's examples


def bound_conv(
  partial: bool = schema.Networks.partial,
  normalization: str = schema.Networks.pconv_norm,
  compute_dtype: str | None = None,
  conv_batching: str = schema.Networks.conv_batching,
  conv_impl: str = schema.Networks.conv_impl,
) -> ModuleDef:
  """Conv with the network's five conv settings bound once: conv(features, name=...)."""
  return functools.partial(
    Conv,
    partial=partial,
    normalization=normalization,
    compute_dtype=compute_dtype,
    conv_batching=conv_batching,
    conv_impl=conv_impl,
  )


class ConvBlock(nn.Module):
  """conv -> BatchNorm -> LeakyReLU(0.2)."""

  features: int
  conv: ModuleDef  # bound_conv(...)

  @nn.compact
  def __call__(self, x, mask, train: bool):
    x, mask = self.conv(self.features, name="conv")(x, mask)
    x = BatchNorm(name="bn")(x, train)
    return nn.leaky_relu(x, 0.2), mask


def body_widths(nfc: int, min_nfc: int, num_layer: int) -> list[int]:
  """Output widths of head and body blocks: nfc, then nfc / 2**(i+1) floored at min_nfc."""
  return [nfc] + [max(nfc // 2 ** (i + 1), min_nfc) for i in range(num_layer - 2)]


class _Trunk(nn.Module):
  """Shared head + body of G and D, then a tail conv to `out_features`."""

  widths: tuple  # body_widths(...)
  out_features: int
  conv: ModuleDef

  @nn.compact
  def __call__(self, x, mask, train: bool):
    names = ["head"] + [f"body_{i}" for i in range(len(self.widths) - 1)]
    for width, name in zip(self.widths, names):
      x, mask = ConvBlock(width, self.conv, name=name)(x, mask, train)
    x, _ = self.conv(self.out_features, name="tail")(x, mask)
    return x


class _Network(nn.Module):
  """The settings G and D share, and their trunk (variables under 'net')."""

  nfc: int = schema.Plan.nfc
  min_nfc: int = schema.Plan.min_nfc
  num_layer: int = schema.Networks.num_layer
  partial: bool = schema.Networks.partial
  normalization: str = schema.Networks.pconv_norm
  compute_dtype: str | None = None  # conv dtype, e.g. 'bfloat16' (opt-in for TPU / GPU)
  conv_batching: str = schema.Networks.conv_batching  # form under vmap (partial_conv)
  conv_impl: str = schema.Networks.conv_impl  # (partial_conv.IMPLS)

  def trunk(self, out_features: int) -> _Trunk:
    conv = bound_conv(
      self.partial, self.normalization, self.compute_dtype, self.conv_batching, self.conv_impl
    )
    widths = tuple(body_widths(self.nfc, self.min_nfc, self.num_layer))
    return _Trunk(widths, out_features, conv, name="net")


class Generator(_Network):
  """G(x, y) = tanh(net(x)) + centre crop of y.

  x: padded noise + previous image (N, H+10, W+10, 3); y: padded previous image, same shape;
  mask: (N, H+10, W+10, 1) mask of x (partial mode only). Returns (N, H, W, 3).
  """

  @nn.compact
  def __call__(self, x, y, mask=None, train: bool = True):
    mask = _check_mask(x, mask, self.partial)
    out = jnp.tanh(self.trunk(3)(x, mask, train))
    cy = (y.shape[1] - out.shape[1]) // 2
    cx = (y.shape[2] - out.shape[2]) // 2
    return out + y[:, cy : cy + out.shape[1], cx : cx + out.shape[2], :]


class Discriminator(_Network):
  """Patch critic: (N, H, W, 3) -> (N, H-10, W-10, 1) scores, no activation."""

  @nn.compact
  def __call__(self, x, mask=None, train: bool = True):
    mask = _check_mask(x, mask, self.partial)
    return self.trunk(1)(x, mask, train)


def _check_mask(x, mask, partial: bool):
  """Partial nets need a (N, H, W, 1) mask matching x; vanilla nets ignore it."""
  if not partial:
    return None
  if mask is None:
    raise ValueError("a partial-conv network needs a mask (N, H, W, 1), 1 = known")
  if mask.shape != x.shape[:-1] + (1,):
    raise ValueError(
      f"mask {mask.shape} does not match input {x.shape}: expected {x.shape[:-1] + (1,)}"
    )
  return mask
