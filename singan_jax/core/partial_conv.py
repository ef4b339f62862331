"""Our masked partial-convolution primitive (report eq. 2) and the VALID 3x3 convolution.

Layouts: x (N, H, W, Cin) NHWC, kernel (kh, kw, Cin, Cout) HWIO, mask (N, H, W, 1) with
1 = known, 0 = hole. The mask is the same in every channel, so its window sum is a cheap
single-channel convolution (the 2019 code ran it as a full Cin -> Cout convolution).

Batching (B images with B kernels under jax.vmap, as the batched trainer runs): 'grouped' is
JAX's own rule, one convolution with B feature groups; 'unrolled' runs B ordinary convolutions
in the same program (custom_vmap), because XLA:CPU's grouped convolution ran 2-4x slower than
B single ones (docs/batching.md). 'auto' = unrolled on CPU, grouped elsewhere (and
config.net_settings picks grouped for one image: JAX's rule is then a plain convolution).

Formulation (impl, --config.conv_impl): 'native' is XLA's convolution; 'im2col', 'shifted',
'chunked' are matmul forms (conv_forms.py); 'onednn' is oneDNN's convolutions through XLA FFI
calls (CPU, float32; XLA's native form with one warning where its extension cannot be built);
'auto' measures them per shape and processor once and caches the choice on disk (conv_tune.py);
'platform' (the default) is 'onednn' on a CPU backend where it loads, else 'native'.
Every impl but 'native' runs through our custom rules (unrolled under vmap), 'native' +
'grouped' through JAX's own. Same numbers to float32 rounding (docs/performance.md).
"""

import functools

import jax
from jax import custom_batching
import jax.numpy as jnp
from jax import lax

from singan_jax.core import conv_forms
from singan_jax.core import conv_tune
from singan_jax.core import onednn
from singan_jax.core import schema

NORMALIZATIONS = schema.NORMALIZATIONS
BATCHINGS = schema.CONV_BATCHINGS
IMPLS = schema.CONV_IMPLS
_xla_valid = conv_forms.native_valid  # JAX's own autodiff and vmap rules ('grouped', 'native')


def _unrolled_rule(op, merge_first: bool):
  """vmap rule running op once per image. merge_first: when only the first argument (the
  data) is batched, fold the image axis into the conv's N axis instead (one convolution)."""

  def rule(axis_size, in_batched, a, b):
    a_batched, b_batched = in_batched
    if merge_first and a_batched and not b_batched:
      y = op(a.reshape((-1,) + a.shape[2:]), b)
      return y.reshape((axis_size, -1) + y.shape[1:]), True
    if not a_batched:
      a = jnp.broadcast_to(a, (axis_size,) + a.shape)
    if not b_batched:
      b = jnp.broadcast_to(b, (axis_size,) + b.shape)
    return jnp.stack([op(a[i], b[i]) for i in range(axis_size)]), True

  return rule


def _formulation(impl: str, op: str):
  """op's formulation under impl, as a function of (a, b): 'auto' picks it per shape when
  traced (conv_tune: measured once per shape and processor, then read from disk)."""
  if impl != "auto":
    return conv_forms.form(op, impl)

  def chosen(a, b):
    return conv_forms.form(op, conv_tune.choose(op, a.shape, b.shape, a.dtype))(a, b)

  return chosen


def _like(ct, primal):
  """ct typed over the shard_map axes the primal varies over, as custom_vjp requires: made
  varying where the primal varies and ct does not (a cotangent seeded by a constant, as the
  gradient penalty's), summed over axes the primal is replicated on (as JAX's transpose)."""
  extra = tuple(sorted(conv_forms.varying(ct) - conv_forms.varying(primal)))
  if extra:
    ct = lax.psum(ct, extra)
  return conv_forms.to_varying(ct, conv_forms.varying(primal))


def _bwd(cotangents):
  """bwd rule from cotangents(a, b, g) -> (a_ct, b_ct), each typed like its primal."""

  def bwd(res, g):
    a, b = res
    a_ct, b_ct = cotangents(a, b, g)
    return _like(a_ct, a), _like(b_ct, b)

  return bwd


@functools.cache
def _ops(impl: str):
  """(valid, input_grad, kernel_grad) under impl: three bilinear ops closed under
  differentiation (the gradient penalty differentiates twice): valid(x, k), its x-transpose
  input_grad(dy, k) and its k-transpose kernel_grad(x, dy). Each is a custom_vjp (its
  cotangents are the other two ops) over a custom_vmap (per-image rule) over impl's
  formulation (conv_forms.py)."""

  @jax.custom_vjp
  def valid(x, kernel):
    return valid_vm(x, kernel)

  @jax.custom_vjp
  def input_grad(dy, kernel):
    return input_grad_vm(dy, kernel)

  @jax.custom_vjp
  def kernel_grad(x, dy):
    return kernel_grad_vm(x, dy)

  valid_vm = custom_batching.custom_vmap(_formulation(impl, "valid"))
  valid_vm.def_vmap(_unrolled_rule(valid, merge_first=True))
  input_grad_vm = custom_batching.custom_vmap(_formulation(impl, "input_grad"))
  input_grad_vm.def_vmap(_unrolled_rule(input_grad, merge_first=True))
  kernel_grad_vm = custom_batching.custom_vmap(_formulation(impl, "kernel_grad"))
  kernel_grad_vm.def_vmap(_unrolled_rule(kernel_grad, merge_first=False))

  # <valid(x, k), g> = <x, input_grad(g, k)> = <k, kernel_grad(x, g)>.
  valid.defvjp(
    lambda x, k: (valid(x, k), (x, k)), _bwd(lambda x, k, g: (input_grad(g, k), kernel_grad(x, g)))
  )
  input_grad.defvjp(
    lambda dy, k: (input_grad(dy, k), (dy, k)),
    _bwd(lambda dy, k, g: (valid(g, k), kernel_grad(g, dy))),
  )
  kernel_grad.defvjp(
    lambda x, dy: (kernel_grad(x, dy), (x, dy)),
    _bwd(lambda x, dy, g: (input_grad(dy, g), valid(x, g))),
  )
  return valid, input_grad, kernel_grad


def resolve_batching(batching: str) -> str:
  """'auto' -> 'unrolled' on a CPU backend, 'grouped' on TPU / GPU."""
  schema.check(schema.Networks, "conv_batching", batching)
  if batching == "auto":
    return "unrolled" if jax.default_backend() == "cpu" else "grouped"
  return batching


def resolve_impl(impl: str) -> str:
  """impl, validated (a bad --config.conv_impl fails here, naming the choices); 'platform'
  -> 'onednn' on a CPU backend where the extension loads (training there ran 0.25-0.6x
  native's time, docs/performance.md), else 'native' (GPU/TPU: XLA's own convolutions)."""
  schema.check(schema.Networks, "conv_impl", impl)
  if impl == "platform":
    on_cpu = jax.default_backend() == "cpu"
    return "onednn" if on_cpu and onednn.available() else "native"
  return impl


def conv2d_valid(
  x, kernel, batching: str = schema.Networks.conv_batching, impl: str = schema.Networks.conv_impl
):
  """VALID convolution (N, H, W, Cin) -> (N, H-kh+1, W-kw+1, Cout); batching: how it runs
  under vmap with per-image kernels, impl: its formulation (module docstring). Same numbers
  to float32 rounding any way."""
  impl, batching = resolve_impl(impl), resolve_batching(batching)  # both checked, any impl
  if impl == "native" and batching == "grouped":
    return _xla_valid(x, kernel)
  return _ops(impl)[0](x, kernel)


def window_sum(
  mask,
  kh: int = 3,
  kw: int = 3,
  batching: str = schema.Networks.conv_batching,
  impl: str = schema.Networks.conv_impl,
):
  """Number of known pixels in each VALID kh x kw window of a (N, H, W, 1) mask."""
  return conv2d_valid(mask, jnp.ones((kh, kw, 1, 1), mask.dtype), batching, impl)


def _conv_in(x, kernel, compute_dtype, batching, impl):
  """conv2d_valid in compute_dtype (None: x's dtype), result back in x's dtype.

  bf16 halves memory traffic and runs on the MXU / tensor cores; XLA accumulates in f32.
  """
  if compute_dtype is None or jnp.dtype(compute_dtype) == x.dtype:
    return conv2d_valid(x, kernel, batching, impl)
  cd = jnp.dtype(compute_dtype)
  return conv2d_valid(x.astype(cd), kernel.astype(cd), batching, impl).astype(x.dtype)


def partial_conv(
  x,
  mask,
  kernel,
  bias,
  normalization: str = schema.Networks.pconv_norm,
  compute_dtype=None,
  batching: str = schema.Networks.conv_batching,
  impl: str = schema.Networks.conv_impl,
):
  """Partial convolution: (y, new_mask).

  y = W(X * M) * s + b where the window holds a known pixel, exactly 0 elsewhere, with
  s = 1 / sum(M) ('sum', report eq. 2) or s = window_size / sum(M) ('ratio', NVIDIA's variant
  that makes a fully known window an ordinary convolution). sum(M) counts the window over all
  input channels. new_mask = 1 where the window holds a known pixel. The mask carries no
  gradient; x, kernel and bias do, to any order. compute_dtype (e.g. 'bfloat16') runs the
  convolution of X * M in that dtype; the mask arithmetic stays in x's dtype (exact counts).
  batching, impl: conv2d_valid's formulation under vmap and its convolution formulation.
  """
  schema.check(schema.Networks, "pconv_norm", normalization)
  kh, kw, cin, _ = kernel.shape
  mask = lax.stop_gradient(mask.astype(x.dtype))
  win = window_sum(mask, kh, kw, batching, impl)
  valid = win > 0
  numerator = 1.0 if normalization == "sum" else float(kh * kw * cin)
  scale = numerator / (cin * jnp.where(valid, win, 1.0))
  raw = _conv_in(x * mask, kernel, compute_dtype, batching, impl)
  y = jnp.where(valid, raw * scale + bias, 0.0)
  return y, valid.astype(x.dtype)


def conv(
  x,
  kernel,
  bias,
  compute_dtype=None,
  batching: str = schema.Networks.conv_batching,
  impl: str = schema.Networks.conv_impl,
):
  """Ordinary VALID convolution with bias: the vanilla counterpart of partial_conv."""
  return _conv_in(x, kernel, compute_dtype, batching, impl) + bias
