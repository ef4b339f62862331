"""Gradient-domain seam correction: the hole's fill keeps its own texture, the seam goes.

A fill copied from elsewhere (patches, or the generator's rendering) rarely meets the photo
exactly at the hole's edge: the step from a hole pixel p to its known neighbour q is the
fill's natural step plus a mismatch e_pq = x_q - pred_q(p), where pred_q(p) is what the fill
says q should be (the source patch's pixel beside p's source, or the generated image at q).
Poisson image editing (Perez et al. 2003) removes it: a correction c over the hole minimises

  sum over hole-hole edges (c_p - c_q)^2  +  sum over hole-known edges (c_p - e_pq)^2,

a membrane that meets the mismatches at the edge and is as smooth as possible inside, so the
fill's own gradients are kept and the seam's steps become its natural ones. "fusion" does the
same at the seams *inside* the hole, where a patch-copied fill jumps from one source region
to another: every hole-hole step is asked to be the step its two sources predict (the mean of
the two views), the gradient-domain patch fusion of Darabi et al. 2012, so the pasted blocks'
edges go too while each block keeps its texture (a coherent step is already its source's:
unchanged). The normal
equations (a masked 5-point Laplacian) are solved matrix-free by Jacobi-preconditioned
conjugate gradients (jax.scipy.sparse.linalg.cg), which jit and vmap like the rest.
Known pixels are not touched.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp

from singan_jax.inpainting import local_means


# (dy, dx) of the four neighbours; pred stacks follow this order.
DIRECTIONS = ((-1, 0), (1, 0), (0, -1), (0, 1))
# The stretch of edge (px either side) whose mean mismatch a limited correction keeps.
LIMIT_RADIUS = 6


def shift(a: jax.Array, dy: int, dx: int, fill=0) -> jax.Array:
  """a (H, W, ...) moved so that out[y, x] = a[y + dy, x + dx] (fill past the border)."""
  h, w = a.shape[:2]
  pad = [(max(-dy, 0), max(dy, 0)), (max(-dx, 0), max(dx, 0))] + [(0, 0)] * (a.ndim - 2)
  padded = jnp.pad(a, pad, constant_values=fill)
  y0, x0 = max(dy, 0), max(dx, 0)
  return padded[y0 : y0 + h, x0 : x0 + w]


def neighbour_predictions(img: jax.Array) -> jax.Array:
  """(4, H, W, C): img's own value at each neighbour (pred for a fill rendered everywhere,
  such as the generator's output: the mismatch is then x_q - img_q)."""
  return jnp.stack([shift(img, dy, dx) for dy, dx in DIRECTIONS])


def source_predictions(fill: jax.Array, x: jax.Array, nnf: jax.Array, known=None) -> jax.Array:
  """(4, H, W, C): for a patch-copied fill, fill_p + x[s(p) + d] - x[s(p)]: the neighbour
  p + d as p's source s(p) (nnf (H, W, 2) int) has it. PatchMatch's sources are patch centres
  in wholly known patches, so s(p) + d is known and inside the image; where it may not be
  (an exemplar copy's edge pixel: pass known (H, W) bool), the fill's own neighbour stands in."""
  h, w = x.shape[:2]
  sy, sx = nnf[..., 0], nnf[..., 1]
  centre = x[sy, sx]
  preds = []
  for dy, dx in DIRECTIONS:
    ny, nx = jnp.clip(sy + dy, 0, h - 1), jnp.clip(sx + dx, 0, w - 1)
    pred = fill + x[ny, nx] - centre
    if known is not None:
      ok = known[ny, nx] & (ny == sy + dy) & (nx == sx + dx)
      pred = jnp.where(ok[..., None], pred, shift(fill, dy, dx))
    preds.append(pred)
  return jnp.stack(preds)


def _opposite(i: int) -> int:
  """The index in DIRECTIONS of direction i reversed."""
  dy, dx = DIRECTIONS[i]
  return DIRECTIONS.index((-dy, -dx))


def _edges(hf: jax.Array) -> list:
  """Per direction (H, W, 1): 1 where a hole pixel's neighbour that way is known (in the image)."""
  return [
    hf * shift(jnp.ones_like(hf), dy, dx) * (1.0 - shift(hf, dy, dx, fill=1))
    for dy, dx in DIRECTIONS
  ]


def _clip_length(d: jax.Array, limit) -> jax.Array:
  """d (..., C) with each vector's length over C clipped to limit."""
  norm = jnp.sqrt(jnp.sum(d * d, axis=-1, keepdims=True))
  return d * jnp.minimum(1.0, limit / jnp.maximum(norm, 1e-12))


def limited(mismatches: list, edges: list, limit, radius: int = LIMIT_RADIUS) -> list:
  """The edge mismatches (one (H, W, C) per direction, where edges (H, W, 1) is 1) with each
  one's deviation from the mean mismatch of the edge within radius px clipped to limit's
  length: an offset shared along the edge (a source brighter than the hole's surround) passes
  whole, a step local to a few edge pixels (an object the fill does not continue) is cut to
  the limit. limit None: the mismatches as they are."""
  if limit is None:
    return mismatches
  total = local_means.box_sum(sum(m * e for m, e in zip(mismatches, edges)), radius)
  count = local_means.box_sum(sum(edges), radius)
  mean = total / jnp.maximum(count, 1.0)
  return [mean + _clip_length(m - mean, limit) for m in mismatches]


@functools.partial(jax.jit, static_argnames=("max_iters", "inside_hole"))
def correct(
  fill,
  x,
  hole,
  preds,
  tol: float = 1e-4,
  max_iters: int = 2000,
  inside_hole=False,
  limit=None,
):
  """fill (H, W, C) with the membrane correction added in the hole (H, W) bool.

  x: the photo (H, W, C), read at known pixels only; preds (4, H, W, C): the fill's
  prediction of each neighbour (neighbour_predictions / source_predictions), used where the
  neighbour is known and, with inside_hole ("fusion"), also where it is a hole pixel: each
  hole-hole step then moves to the mean of its two ends' predictions. limit (traced; None:
  none): each edge mismatch's departure from the edge's local mean clipped to it (limited),
  so a step the fill does not continue (an object cut by the hole) stays a step instead of
  spreading into the hole as a haze of its colour. Returns fill outside the hole unchanged,
  the hole clipped to [-1, 1].
  """
  hole = jnp.asarray(hole, bool)
  hf = hole.astype(fill.dtype)[..., None]
  rhs = jnp.zeros_like(fill)
  degree = jnp.zeros_like(hf)
  edges = _edges(hf)
  errs = limited(
    [shift(x, dy, dx) - preds[i] for i, (dy, dx) in enumerate(DIRECTIONS)], edges, limit
  )
  for i, (dy, dx) in enumerate(DIRECTIONS):
    inside = shift(jnp.ones_like(hf), dy, dx)  # the neighbour exists
    rhs = rhs + edges[i] * errs[i]
    degree = degree + hf * inside
    if inside_hole:  # the step p -> q as p's source and q's source predict it, less its own
      hole_nb = inside * shift(hf, dy, dx)
      from_p = preds[i] - shift(fill, dy, dx)
      from_q = shift(preds[_opposite(i)], dy, dx) - fill
      rhs = rhs - hf * hole_nb * 0.5 * (from_p - from_q)
  degree = jnp.where(hole[..., None], degree, 1.0)

  def laplacian(c):
    nbrs = sum(shift(c * hf, dy, dx) for dy, dx in DIRECTIONS)
    return hf * (degree * c - nbrs) + (1.0 - hf) * c

  c, _ = jax.scipy.sparse.linalg.cg(
    laplacian, rhs, x0=rhs / degree, tol=tol, maxiter=max_iters, M=lambda r: r / degree
  )
  return jnp.where(hole[..., None], jnp.clip(fill + c, -1.0, 1.0), fill)


def boundary_mismatch(fill, x, hole, preds) -> jax.Array:
  """Mean |e_pq| over the hole's known neighbours (a diagnostic: what correct removes)."""
  hole = jnp.asarray(hole, bool)
  hf = hole.astype(fill.dtype)[..., None]
  total, count = 0.0, 0.0
  for i, ((dy, dx), edge) in enumerate(zip(DIRECTIONS, _edges(hf))):
    total = total + jnp.sum(edge * jnp.abs(shift(x, dy, dx) - preds[i]))
    count = count + jnp.sum(edge) * fill.shape[-1]
  return total / jnp.maximum(count, 1.0)
