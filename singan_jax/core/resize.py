"""Antialiased bicubic resize with MATLAB imresize semantics, as dense matmuls.

Each spatial axis is resized by a (out_len, in_len) weight matrix built in numpy from static
shapes, so the resize is linear, differentiable, jit-able and exact in float precision.
compat='2019' reproduces the 2019 code's imresize instead (REFERENCE.md, last section): the
input truncated to uint8 levels, top/left border taps dropped (not mirrored), the output
clamped to [-1, 1]. That one runs on the host (jax.pure_callback into core/compat2019.py, in
the 2019 code's float64 order): a float32 matmul moves single values by one uint8 level.
"""

import functools
import math

import jax
import jax.numpy as jnp
import numpy as np

from singan_jax.core import compat2019
from singan_jax.core import schema


def cubic(x: np.ndarray) -> np.ndarray:
  """Keys bicubic kernel with a = -0.5 (MATLAB's 'bicubic')."""
  ax = np.abs(x)
  ax2, ax3 = ax * ax, ax * ax * ax
  near = 1.5 * ax3 - 2.5 * ax2 + 1.0
  far = -0.5 * ax3 + 2.5 * ax2 - 4.0 * ax + 2.0
  return np.where(ax <= 1, near, np.where(ax < 2, far, 0.0))


def output_length(in_len: int, scale: float) -> int:
  """MATLAB's output size for a scale factor: ceil(in * scale)."""
  return int(math.ceil(in_len * scale))


# '' / 'none': ours; '2019': every 2019 convention; '2019-draws': only the 2019 training draws'
# frozen-generator masks (the scale's hole mask), to measure that choice alone.
COMPAT = schema.COMPATS


def check_compat(compat: str) -> bool:
  """True where the 2019 resize and inference masks apply ('2019'); refuses unknown values
  (the schema's rule for the compat field)."""
  schema.check(schema.Networks, "compat", compat)
  return compat == "2019"


@functools.lru_cache(maxsize=256)
def resize_matrix(
  in_len: int, scale: float, out_len: int | None = None, compat: str = ""
) -> np.ndarray:
  """(out_len, in_len) float64 weights of imresize along one axis.

  out_len defaults to ceil(in_len * scale); a different out_len gives the first out_len rows
  of the same resize (i.e. resize-then-crop-top-left, or extra rows past MATLAB's size).
  Boundaries mirror symmetrically (edge pixel repeated), as MATLAB does. compat '2019': taps
  before the first pixel get weight 0 before the renormalisation (the 2019 code's np.uint
  indices wrap there), so only the bottom/right border mirrors.
  """
  drop_leading = check_compat(compat)
  if in_len < 1 or scale <= 0:
    raise ValueError(f"cannot resize an axis of length {in_len} by scale {scale}")
  if out_len is None:
    out_len = output_length(in_len, scale)
  antialias = scale < 1
  width = 4.0 / scale if antialias else 4.0
  kernel = (lambda t: scale * cubic(scale * t)) if antialias else cubic
  # 1-based output coordinates mapped to 1-based input coordinates.
  u = np.arange(1, out_len + 1, dtype=np.float64) / scale + 0.5 * (1.0 - 1.0 / scale)
  left = np.floor(u - width / 2.0)
  taps = int(math.ceil(width)) + 2
  idx1 = left[:, None] + np.arange(taps)[None, :]  # 1-based input indices
  weights = kernel(u[:, None] - idx1)
  if drop_leading:
    weights = np.where(idx1 < 1, 0.0, weights)
  sums = weights.sum(axis=1, keepdims=True)
  weights = weights / np.where(sums == 0, 1.0, sums)
  idx0 = (idx1 - 1).astype(np.int64)
  mirror = np.concatenate([np.arange(in_len), np.arange(in_len - 1, -1, -1)])
  idx0 = mirror[np.mod(idx0, 2 * in_len)]
  matrix = np.zeros((out_len, in_len), np.float64)
  rows = np.repeat(np.arange(out_len), taps)
  np.add.at(matrix, (rows, idx0.ravel()), weights.ravel())
  matrix.setflags(write=False)
  return matrix


def to_levels(x):
  """[-1, 1] -> the 2019 code's uint8 levels: clip((x + 1) / 2, 0, 1) * 255, truncated.

  The truncation's gradient is passed straight through (identity): the 2019 code never
  differentiates a resize, and neither does our training (draws run under stop_gradient).
  """
  v = jnp.clip((x + 1) / 2, 0, 1) * 255
  return v + jax.lax.stop_gradient(jnp.trunc(v) - v)


def from_levels(y):
  """uint8-level floats -> [-1, 1] as the 2019 code maps them back: (y / 255 - 0.5) * 2, clamped."""
  return jnp.clip((y / 255 - 0.5) * 2, -1, 1)


def resize(x, scale: float, out_hw: tuple[int, int] | None = None, compat: str = ""):
  """Resizes x (..., H, W, C) by `scale` (MATLAB imresize, bicubic, antialiased).

  out_hw crops (or extends) the output to that size; default is ceil((H, W) * scale).
  compat '2019': the 2019 code's resize (uint8 levels in, its border taps, clamp out).
  """
  old = check_compat(compat)
  h, w = x.shape[-3], x.shape[-2]
  full = (output_length(h, scale), output_length(w, scale))
  oh, ow = out_hw if out_hw is not None else full
  if old and oh <= full[0] and ow <= full[1]:
    return _resize_2019(x, float(scale), (oh, ow))
  mh, mw = _matrix(h, scale, oh, x.dtype, compat), _matrix(w, scale, ow, x.dtype, compat)
  y = _apply(mh, mw, to_levels(x) if old else x)
  return from_levels(y) if old else y


@functools.partial(jax.custom_jvp, nondiff_argnums=(1, 2))
def _resize_2019(x, scale: float, out_hw: tuple[int, int]):
  """The 2019 imresize of x (..., H, W, C), cropped to out_hw: on the host, image by image,
  in its float64 order (compat2019.imresize), so every value is the 2019 code's."""
  out_shape = jax.ShapeDtypeStruct(x.shape[:-3] + (*out_hw, x.shape[-1]), x.dtype)

  def on_host(images):
    images = np.asarray(images)
    flat = images.reshape((-1,) + images.shape[-3:])
    out = [compat2019.imresize(image, scale)[: out_hw[0], : out_hw[1]] for image in flat]
    return np.stack(out).reshape(images.shape[:-3] + out[0].shape).astype(images.dtype)

  return jax.pure_callback(on_host, out_shape, x, vmap_method="expand_dims")


@_resize_2019.defjvp
def _resize_2019_jvp(scale, out_hw, primals, tangents):
  """Straight through the truncation and clamps: the tangent takes the resize's linear part."""
  (x,), (t,) = primals, tangents
  h, w = x.shape[-3], x.shape[-2]
  mh = _matrix(h, scale, out_hw[0], x.dtype, "2019")
  mw = _matrix(w, scale, out_hw[1], x.dtype, "2019")
  return _resize_2019(x, scale, out_hw), _apply(mh, mw, t)


def resize_to(x, out_hw: tuple[int, int]):
  """Resizes x (..., H, W, C) to exactly out_hw, each axis by its own factor (out / in), e.g.
  a batch's images to one common size and the result back to the input's size."""
  x = jnp.asarray(x)
  h, w = x.shape[-3], x.shape[-2]
  mh = _matrix(h, out_hw[0] / h, out_hw[0], x.dtype)
  return _apply(mh, _matrix(w, out_hw[1] / w, out_hw[1], x.dtype), x)


def _matrix(in_len: int, scale: float, out_len: int, dtype, compat: str = ""):
  """resize_matrix as a jax array of x's dtype (cast in numpy: float64 only under x64)."""
  dtype = jax.dtypes.canonicalize_dtype(dtype)
  return jnp.asarray(resize_matrix(in_len, float(scale), out_len, compat).astype(dtype))


def _apply(mh, mw, x):
  """x (..., H, W, C) with its rows mixed by mh (oh, H) and its columns by mw (ow, W)."""
  y = jnp.einsum("oh,...hwc->...owc", mh, x, precision="highest")
  return jnp.einsum("pw,...owc->...opc", mw, y, precision="highest")
