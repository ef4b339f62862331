"""Our masked partial-convolution primitive (report eq. 2) and the VALID 3x3 convolution.

Layouts: x (N, H, W, Cin) NHWC, kernel (kh, kw, Cin, Cout) HWIO, mask (N, H, W, 1) with
1 = known, 0 = hole. The mask is the same in every channel, so its window sum is a cheap
single-channel convolution (the 2019 code ran it as a full Cin -> Cout convolution).

Batching (B images with B kernels under jax.vmap, as the batched trainer runs): 'grouped' is
JAX's own rule, one convolution with B feature groups; 'unrolled' runs B ordinary convolutions
in the same program (custom_vmap), because XLA:CPU's grouped convolution ran 2-4x slower than
B single ones (docs/batching.md). 'auto' = unrolled on CPU, grouped elsewhere (and
config.net_settings picks grouped for one image: JAX's rule is then a plain convolution).
"""

import jax
from jax import custom_batching
import jax.numpy as jnp
from jax import lax

NORMALIZATIONS = ("sum", "ratio")
BATCHINGS = ("auto", "unrolled", "grouped")
_DIMS = ("NHWC", "HWIO", "NHWC")


def _xla_valid(x, kernel):
  """VALID (unpadded) convolution, computed as SAME and centre-cropped.

  On XLA:CPU a SAME 3x3 convolution ran ~7x faster than VALID at our sizes, and its centre
  crop is exactly the VALID result. (N, H, W, Cin) -> (N, H-kh+1, W-kw+1, Cout).
  """
  kh, kw = kernel.shape[0], kernel.shape[1]
  y = lax.conv_general_dilated(x, kernel, (1, 1), "SAME", dimension_numbers=_DIMS)
  top, left = (kh - 1) // 2, (kw - 1) // 2
  return y[:, top : top + x.shape[1] - kh + 1, left : left + x.shape[2] - kw + 1, :]


def _varying(*values) -> frozenset:
  """shard_map mesh axes any of the values varies over (empty outside shard_map)."""
  return frozenset().union(*(jax.typeof(v).manual_axis_type.varying for v in values))


def _to_varying(value, axes: frozenset):
  """value typed as varying over axes too (lax.pcast; a no-op outside shard_map)."""
  missing = tuple(sorted(axes - _varying(value)))
  return lax.pcast(value, missing, to="varying") if missing else value


def _xla_input_grad(dy, kernel):
  """Transpose of _xla_valid in x: (N, Ho, Wo, Cout) -> (N, Ho+kh-1, Wo+kw-1, Cin).

  The VJP at x = 0 (the transpose of a linear map; XLA drops the unused forward)."""
  kh, kw, cin, _ = kernel.shape
  n, ho, wo, _ = dy.shape
  axes = _varying(dy, kernel)
  x0 = _to_varying(jnp.zeros((n, ho + kh - 1, wo + kw - 1, cin), dy.dtype), axes)
  return jax.vjp(lambda x: _xla_valid(x, kernel), x0)[1](_to_varying(dy, axes))[0]


def _xla_kernel_grad(x, dy):
  """Transpose of _xla_valid in the kernel: x (N, H, W, Cin), dy (N, Ho, Wo, Cout) ->
  (H-Ho+1, W-Wo+1, Cin, Cout). The VJP at kernel = 0."""
  axes = _varying(x, dy)
  k0 = _to_varying(
    jnp.zeros(
      (x.shape[1] - dy.shape[1] + 1, x.shape[2] - dy.shape[2] + 1, x.shape[3], dy.shape[3]), x.dtype
    ),
    axes,
  )
  return jax.vjp(lambda k: _xla_valid(x, k), k0)[1](_to_varying(dy, axes))[0]


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


# Three bilinear ops closed under differentiation (the gradient penalty differentiates twice):
# valid(x, k), its x-transpose input_grad(dy, k) and its k-transpose kernel_grad(x, dy). Each
# is a custom_vjp (its cotangents are the other two ops) over a custom_vmap (per-image rule).


@jax.custom_vjp
def _valid(x, kernel):
  return _valid_vm(x, kernel)


@jax.custom_vjp
def _input_grad(dy, kernel):
  return _input_grad_vm(dy, kernel)


@jax.custom_vjp
def _kernel_grad(x, dy):
  return _kernel_grad_vm(x, dy)


_valid_vm = custom_batching.custom_vmap(_xla_valid)
_valid_vm.def_vmap(_unrolled_rule(_valid, merge_first=True))
_input_grad_vm = custom_batching.custom_vmap(_xla_input_grad)
_input_grad_vm.def_vmap(_unrolled_rule(_input_grad, merge_first=True))
_kernel_grad_vm = custom_batching.custom_vmap(_xla_kernel_grad)
_kernel_grad_vm.def_vmap(_unrolled_rule(_kernel_grad, merge_first=False))


def _like(ct, primal):
  """ct typed over the shard_map axes the primal varies over, as custom_vjp requires: made
  varying where the primal varies and ct does not (a cotangent seeded by a constant, as the
  gradient penalty's), summed over axes the primal is replicated on (as JAX's transpose)."""
  extra = tuple(sorted(_varying(ct) - _varying(primal)))
  if extra:
    ct = lax.psum(ct, extra)
  return _to_varying(ct, _varying(primal))


def _bwd(cotangents):
  """bwd rule from cotangents(a, b, g) -> (a_ct, b_ct), each typed like its primal."""

  def bwd(res, g):
    a, b = res
    a_ct, b_ct = cotangents(a, b, g)
    return _like(a_ct, a), _like(b_ct, b)

  return bwd


# <valid(x, k), g> = <x, input_grad(g, k)> = <k, kernel_grad(x, g)>.
_valid.defvjp(
  lambda x, k: (_valid(x, k), (x, k)), _bwd(lambda x, k, g: (_input_grad(g, k), _kernel_grad(x, g)))
)
_input_grad.defvjp(
  lambda dy, k: (_input_grad(dy, k), (dy, k)),
  _bwd(lambda dy, k, g: (_valid(g, k), _kernel_grad(g, dy))),
)
_kernel_grad.defvjp(
  lambda x, dy: (_kernel_grad(x, dy), (x, dy)),
  _bwd(lambda x, dy, g: (_input_grad(dy, g), _valid(x, g))),
)


def resolve_batching(batching: str) -> str:
  """'auto' -> 'unrolled' on a CPU backend, 'grouped' on TPU / GPU."""
  if batching not in BATCHINGS:
    raise ValueError(f"conv_batching {batching!r}: use one of {BATCHINGS}")
  if batching == "auto":
    return "unrolled" if jax.default_backend() == "cpu" else "grouped"
  return batching


def conv2d_valid(x, kernel, batching: str = "auto"):
  """VALID convolution (N, H, W, Cin) -> (N, H-kh+1, W-kw+1, Cout); batching: how it runs
  under vmap with per-image kernels (module docstring). Same numbers either way."""
  if resolve_batching(batching) == "grouped":
    return _xla_valid(x, kernel)
  return _valid(x, kernel)


def window_sum(mask, kh: int = 3, kw: int = 3, batching: str = "auto"):
  """Number of known pixels in each VALID kh x kw window of a (N, H, W, 1) mask."""
  return conv2d_valid(mask, jnp.ones((kh, kw, 1, 1), mask.dtype), batching)


def _conv_in(x, kernel, compute_dtype, batching):
  """conv2d_valid in compute_dtype (None: x's dtype), result back in x's dtype.

  bf16 halves memory traffic and runs on the MXU / tensor cores; XLA accumulates in f32.
  """
  if compute_dtype is None or jnp.dtype(compute_dtype) == x.dtype:
    return conv2d_valid(x, kernel, batching)
  cd = jnp.dtype(compute_dtype)
  return conv2d_valid(x.astype(cd), kernel.astype(cd), batching).astype(x.dtype)


def partial_conv(
  x, mask, kernel, bias, normalization: str = "ratio", compute_dtype=None, batching: str = "auto"
):
  """Partial convolution: (y, new_mask).

  y = W(X * M) * s + b where the window holds a known pixel, exactly 0 elsewhere, with
  s = 1 / sum(M) ('sum', report eq. 2) or s = window_size / sum(M) ('ratio', NVIDIA's variant
  that makes a fully known window an ordinary convolution). sum(M) counts the window over all
  input channels. new_mask = 1 where the window holds a known pixel. The mask carries no
  gradient; x, kernel and bias do, to any order. compute_dtype (e.g. 'bfloat16') runs the
  convolution of X * M in that dtype; the mask arithmetic stays in x's dtype (exact counts).
  batching: conv2d_valid's formulation under vmap.
  """
  if normalization not in NORMALIZATIONS:
    raise ValueError(f"partial-conv normalization {normalization!r}: use one of {NORMALIZATIONS}")
  kh, kw, cin, _ = kernel.shape
  mask = lax.stop_gradient(mask.astype(x.dtype))
  win = window_sum(mask, kh, kw, batching)
  valid = win > 0
  numerator = 1.0 if normalization == "sum" else float(kh * kw * cin)
  scale = numerator / (cin * jnp.where(valid, win, 1.0))
  raw = _conv_in(x * mask, kernel, compute_dtype, batching)
  y = jnp.where(valid, raw * scale + bias, 0.0)
  return y, valid.astype(x.dtype)


def conv(x, kernel, bias, compute_dtype=None, batching: str = "auto"):
  """Ordinary VALID convolution with bias: the vanilla counterpart of partial_conv."""
  return _conv_in(x, kernel, compute_dtype, batching) + bias
