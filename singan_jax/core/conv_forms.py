"""Formulations of the three bilinear ops of a VALID kh x kw convolution (partial_conv.py).

Each op has several formulations that compute the same numbers (to float32 rounding) at
different speeds, depending on the shape and the processor (docs/performance.md):
  native   XLA's convolution (SAME + centre crop; the transposes through jax.vjp)
  im2col   one matmul against the (N*Ho*Wo, kh*kw*Cin) patch matrix
  shifted  kh*kw matmuls (einsums) of shifted views, summed
  chunked  (weight gradient only) im2col with the long N*Ho*Wo contraction cut into row
           chunks, one batched matmul, then summed
  onednn   oneDNN's convolutions through an XLA FFI call (CPU, float32; onednn/__init__.py);
           XLA's native form where the extension cannot be built or loaded (one warning)

Layouts: x (N, H, W, Cin) NHWC, kernel (kh, kw, Cin, Cout) HWIO, dy (N, Ho, Wo, Cout) with
Ho = H - kh + 1, Wo = W - kw + 1. Ops: 'valid' (x, k) -> dy-shaped, 'input_grad' (dy, k) ->
x-shaped, 'kernel_grad' (x, dy) -> k-shaped. FORMS[op][name] is a plain jnp function of two
arrays (no custom rules: partial_conv wraps them).
"""

import functools

from absl import logging
import jax
import jax.numpy as jnp
from jax import lax

from singan_jax.core import onednn
from singan_jax.core import schema

OPS = ("valid", "input_grad", "kernel_grad")
NAMES = schema.CONV_FORMS
_DIMS = ("NHWC", "HWIO", "NHWC")
_CHUNK_ROWS = 4096  # contraction rows per chunk (chunked weight gradient)


def native_valid(x, kernel):
  """VALID convolution, computed as SAME and centre-cropped.

  On XLA:CPU a SAME 3x3 convolution ran ~7x faster than VALID at our sizes, and its centre
  crop is exactly the VALID result. (N, H, W, Cin) -> (N, H-kh+1, W-kw+1, Cout).
  """
  kh, kw = kernel.shape[0], kernel.shape[1]
  y = lax.conv_general_dilated(x, kernel, (1, 1), "SAME", dimension_numbers=_DIMS)
  top, left = (kh - 1) // 2, (kw - 1) // 2
  return y[:, top : top + x.shape[1] - kh + 1, left : left + x.shape[2] - kw + 1, :]


def varying(*values) -> frozenset:
  """shard_map mesh axes any of the values varies over (empty outside shard_map)."""
  return frozenset().union(*(jax.typeof(v).manual_axis_type.varying for v in values))


def to_varying(value, axes: frozenset):
  """value typed as varying over axes too (lax.pcast; a no-op outside shard_map)."""
  missing = tuple(sorted(axes - varying(value)))
  return lax.pcast(value, missing, to="varying") if missing else value


def native_input_grad(dy, kernel):
  """Transpose of native_valid in x: the VJP at x = 0 (XLA drops the unused forward)."""
  kh, kw, cin, _ = kernel.shape
  n, ho, wo, _ = dy.shape
  axes = varying(dy, kernel)
  x0 = to_varying(jnp.zeros((n, ho + kh - 1, wo + kw - 1, cin), dy.dtype), axes)
  return jax.vjp(lambda x: native_valid(x, kernel), x0)[1](to_varying(dy, axes))[0]


def native_kernel_grad(x, dy):
  """Transpose of native_valid in the kernel: the VJP at kernel = 0."""
  axes = varying(x, dy)
  shape = (x.shape[1] - dy.shape[1] + 1, x.shape[2] - dy.shape[2] + 1, x.shape[3], dy.shape[3])
  k0 = to_varying(jnp.zeros(shape, x.dtype), axes)
  return jax.vjp(lambda k: native_valid(x, k), k0)[1](to_varying(dy, axes))[0]


def _windows(x, kh: int, kw: int):
  """The kh*kw shifted (N, Ho, Wo, C) views of x, in (i, j) row-major order."""
  ho, wo = x.shape[1] - kh + 1, x.shape[2] - kw + 1
  return [x[:, i : i + ho, j : j + wo, :] for i in range(kh) for j in range(kw)]


def _patches(x, kh: int, kw: int):
  """im2col: (N, Ho, Wo, kh*kw*C), channel index (i, j, c) as the HWIO kernel's."""
  return jnp.concatenate(_windows(x, kh, kw), axis=-1)


def _full_pad(dy, kh: int, kw: int):
  """dy zero-padded by (kh-1, kw-1) on every side: the input gradient is its VALID conv."""
  return jnp.pad(dy, ((0, 0), (kh - 1, kh - 1), (kw - 1, kw - 1), (0, 0)))


def _flipped(kernel):
  """The kernel rotated 180 degrees with Cin / Cout swapped (the input-gradient kernel)."""
  return jnp.flip(kernel, (0, 1)).transpose(0, 1, 3, 2)


def im2col_valid(x, kernel):
  kh, kw, cin, cout = kernel.shape
  return _patches(x, kh, kw) @ kernel.reshape(kh * kw * cin, cout)


def shifted_valid(x, kernel):
  kh, kw = kernel.shape[:2]
  views = _windows(x, kh, kw)
  taps = [kernel[i, j] for i in range(kh) for j in range(kw)]
  return sum(v @ t for v, t in zip(views, taps))


def im2col_input_grad(dy, kernel):
  kh, kw = kernel.shape[:2]
  return im2col_valid(_full_pad(dy, kh, kw), _flipped(kernel))


def shifted_input_grad(dy, kernel):
  kh, kw = kernel.shape[:2]
  return shifted_valid(_full_pad(dy, kh, kw), _flipped(kernel))


def _kernel_hw(x, dy):
  return x.shape[1] - dy.shape[1] + 1, x.shape[2] - dy.shape[2] + 1


def im2col_kernel_grad(x, dy):
  kh, kw = _kernel_hw(x, dy)
  cin, cout = x.shape[3], dy.shape[3]
  cols = _patches(x, kh, kw).reshape(-1, kh * kw * cin)
  dk = lax.dot_general(cols, dy.reshape(-1, cout), (((0,), (0,)), ((), ())))
  return dk.reshape(kh, kw, cin, cout)


def shifted_kernel_grad(x, dy):
  kh, kw = _kernel_hw(x, dy)
  taps = [jnp.einsum("nhwc,nhwd->cd", v, dy) for v in _windows(x, kh, kw)]
  return jnp.stack(taps).reshape(kh, kw, x.shape[3], dy.shape[3])


def chunked_kernel_grad(x, dy):
  """im2col weight gradient, the N*Ho*Wo contraction as (chunks, rows) summed at the end."""
  kh, kw = _kernel_hw(x, dy)
  cin, cout = x.shape[3], dy.shape[3]
  cols = _patches(x, kh, kw).reshape(-1, kh * kw * cin)
  rows = cols.shape[0]
  chunks = -(-rows // _CHUNK_ROWS)
  pad = chunks * _CHUNK_ROWS - rows
  cols = jnp.pad(cols, ((0, pad), (0, 0))).reshape(chunks, _CHUNK_ROWS, -1)
  g = jnp.pad(dy.reshape(-1, cout), ((0, pad), (0, 0))).reshape(chunks, _CHUNK_ROWS, cout)
  part = lax.dot_general(cols, g, (((1,), (1,)), ((0,), (0,))))
  return part.sum(0).reshape(kh, kw, cin, cout)


@functools.cache
def _warn_dtype(dtype) -> None:
  logging.warning("oneDNN convolutions are float32 only: %s ones run XLA's native form", dtype)


def _onednn_form(op: str):
  """op through oneDNN (float32 on CPU), else XLA's native form (the loader warns once)."""

  def fn(a, b):
    if a.dtype != jnp.float32 or b.dtype != jnp.float32:
      _warn_dtype(jnp.result_type(a, b).name)
    elif onednn.load() is not None:
      axes = varying(a, b)  # the FFI call's own type is invariant (onednn.conv)
      return to_varying(onednn.conv(op, to_varying(a, axes), to_varying(b, axes)), axes)
    return FORMS[op]["native"](a, b)

  fn.__name__ = f"onednn_{op}"
  return fn


FORMS = {
  "valid": {
    "native": native_valid,
    "im2col": im2col_valid,
    "shifted": shifted_valid,
    "onednn": _onednn_form("valid"),
  },
  "input_grad": {
    "native": native_input_grad,
    "im2col": im2col_input_grad,
    "shifted": shifted_input_grad,
    "onednn": _onednn_form("input_grad"),
  },
  "kernel_grad": {
    "native": native_kernel_grad,
    "im2col": im2col_kernel_grad,
    "shifted": shifted_kernel_grad,
    "chunked": chunked_kernel_grad,
    "onednn": _onednn_form("kernel_grad"),
  },
}


def form(op: str, name: str):
  """FORMS[op][name]; an op without that formulation ('chunked' forward) uses im2col."""
  table = FORMS[op]
  return table.get(name, table["im2col"])


def candidates(op: str) -> dict:
  """The formulations of op worth measuring here (conv_tune): FORMS[op], less 'onednn' where
  its extension is unavailable (it would only repeat native). Builds the extension if needed."""
  table = FORMS[op]
  if jax.default_backend() == "cpu" and onednn.available():
    return dict(table)
  return {name: fn for name, fn in table.items() if name != "onednn"}
