"""Hole initialisers: fill the masked region of an image before SinGAN injection.

Conventions: ``x`` is float (H, W, C) in [-1, 1]; ``known`` is bool or float (H, W) or
(H, W, 1) with 1/True = known pixel and 0/False = hole (a float mask counts as known where
> 0.5). Every initialiser returns (H, W, C), leaves known pixels bit-identical and puts a
finite value in every hole pixel.

The public functions are thin Python wrappers: they validate shapes, raise ``ValueError``
for impossible inputs when the mask is concrete (not traced) and call jitted cores, so they
also work under an outer ``jax.jit`` / ``jax.vmap``, where impossible inputs degrade to a
finite fallback instead of raising.
"""

from __future__ import annotations

import functools
import math

import chex
import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

VALID_METHODS = ("none", "mean", "local_means", "patchmatch")

# Propagation step sizes per PatchMatch iteration (jump flooding, largest first).
_JUMPS = (8, 4, 2, 1)
# Target lists are padded to a multiple of this to limit recompilation.
_TARGET_BUCKET = 1024


# ----------------------------------------------------------------------------- helpers


def _is_concrete(a) -> bool:
  """True if ``a`` holds actual values (not a tracer), so data checks can raise."""
  return not isinstance(a, jax.core.Tracer)


def _check_inputs(x, known) -> tuple[jax.Array, jax.Array]:
  """Validate shapes; return x (H, W, C) and the known mask as bool (H, W)."""
  x = jnp.asarray(x)
  known = jnp.asarray(known)
  chex.assert_rank(x, 3)
  if not jnp.issubdtype(x.dtype, jnp.floating):
    raise TypeError(f"x must be a float image in [-1, 1], got dtype {x.dtype}")
  h, w = x.shape[:2]
  if known.shape not in ((h, w), (h, w, 1)):
    raise ValueError(f"known must have shape {(h, w)} or {(h, w, 1)}, got {known.shape}")
  return x, _as_bool_mask(known.reshape(h, w))


def _as_bool_mask(known: jax.Array) -> jax.Array:
  """(H, W) bool/float mask -> bool; floats count as known where > 0.5."""
  return known if known.dtype == jnp.bool_ else known > 0.5


def _require_some_known(known: jax.Array) -> None:
  """Raise if a concrete mask has no known pixel (nothing to fill from)."""
  if _is_concrete(known) and not bool(np.asarray(known).any()):
    raise ValueError("known mask has no known pixel: nothing to fill the hole from")


def _checked(out: jax.Array, x: jax.Array) -> jax.Array:
  """Assert the fill kept the input's (H, W, C) shape and dtype; return it."""
  chex.assert_equal_shape([out, x])
  chex.assert_type(out, x.dtype)
  return out


def _round_up(n: int, m: int) -> int:
  """Smallest multiple of m that is >= max(n, 1)."""
  return max(m, -(-n // m) * m)


def _box_sum(a: jax.Array, radius: int) -> jax.Array:
  """(H, W, K) -> (H, W, K) sum over the (2r+1)^2 window, zero outside the image.

  Separable reduce_window: exact for 0/1 counts, ~1 ulp error for values (no cumsum drift).
  """
  win = 2 * radius + 1
  s = lax.reduce_window(a, 0.0, lax.add, (win, 1, 1), (1, 1, 1), ((radius, radius), (0, 0), (0, 0)))
  return lax.reduce_window(
    s, 0.0, lax.add, (1, win, 1), (1, 1, 1), ((0, 0), (radius, radius), (0, 0))
  )


# ----------------------------------------------------------------------------- mean


@jax.jit
def _fill_mean_core(x: jax.Array, known: jax.Array) -> jax.Array:
  """x (H,W,C), known bool (H,W) -> hole set to the per-channel mean of known pixels (0 if none)."""
  k = known[..., None]
  total = jnp.sum(jnp.where(k, x, 0).astype(jnp.float32), axis=(0, 1))
  count = jnp.sum(k, axis=(0, 1)).astype(jnp.float32)
  mean = (total / jnp.maximum(count, 1.0)).astype(x.dtype)
  return jnp.where(k, x, mean)


def fill_mean(x, known) -> jax.Array:
  """Fill the hole with the per-channel mean of the known pixels; (H,W,C) -> (H,W,C)."""
  x, k = _check_inputs(x, known)
  _require_some_known(k)
  return _checked(_fill_mean_core(x, k), x)


# ----------------------------------------------------------------------------- local means


@functools.partial(jax.jit, static_argnames="radius")
def _fill_local_means_core(x: jax.Array, known: jax.Array, radius: int) -> jax.Array:
  """Onion peeling on x (H,W,C): each pass fills every hole pixel with a known neighbour.

  A pass sets such a pixel to the mean of the known pixels in its (2r+1)^2 window and marks
  it known; passes are simultaneous (Jacobi) and repeat in a while_loop until no hole is
  left or a pass fills nothing (no known pixel at all -> mean fallback, i.e. 0).
  """
  c = x.shape[-1]
  vals0 = jnp.where(known[..., None], x, 0).astype(jnp.float32)
  kf0 = known[..., None].astype(jnp.float32)

  def cond(state):
    _, kf, changed = state
    return changed & jnp.any(kf == 0)

  def body(state):
    vals, kf, _ = state
    sums = _box_sum(jnp.concatenate([vals * kf, kf], axis=-1), radius)
    num, cnt = sums[..., :c], sums[..., c:]
    new = (cnt > 0) & (kf == 0)
    vals = jnp.where(new, num / jnp.maximum(cnt, 1.0), vals)
    return vals, jnp.where(new, 1.0, kf), jnp.any(new)

  vals, kf, _ = lax.while_loop(cond, body, (vals0, kf0, jnp.array(True)))
  filled = jnp.where(kf > 0, vals.astype(x.dtype), _fill_mean_core(x, known))
  return jnp.where(known[..., None], x, filled)


@functools.partial(jax.jit, static_argnames=("radius", "size"))
def _fill_local_means_window(x, known, radius, corner, size):
  """Onion-peel only the static-size window at corner (2,) and paste it back into x.

  Exact: the window holds the hole plus a radius margin, and every window sum of a
  hole pixel stays inside it (or is clipped by the image border, like the full image).
  """
  c = x.shape[-1]
  xw = lax.dynamic_slice(x, (corner[0], corner[1], 0), size + (c,))
  kw = lax.dynamic_slice(known, (corner[0], corner[1]), size)
  return lax.dynamic_update_slice(
    x, _fill_local_means_core(xw, kw, radius), (corner[0], corner[1], 0)
  )


def _hole_window(
  known: np.ndarray, margin: int, bucket: int = 32
) -> tuple[tuple[int, int], tuple[int, int]]:
  """Corner and size of the hole's bounding box grown by margin, size rounded up to bucket.

  Rounding the size to a bucket (then clamping into the image) limits recompiles.
  """
  h, w = known.shape
  hole_rows = np.flatnonzero((~known).any(axis=1))
  hole_cols = np.flatnonzero((~known).any(axis=0))
  corner, size = [], []
  for idx, n in ((hole_rows, h), (hole_cols, w)):
    lo, hi = max(int(idx[0]) - margin, 0), min(int(idx[-1]) + margin + 1, n)
    s = min(_round_up(hi - lo, bucket), n)
    corner.append(min(lo, n - s))
    size.append(s)
  return tuple(corner), tuple(size)


def fill_local_means(x, known, radius: int = 4) -> jax.Array:
  """Fill the hole by onion peeling with (2r+1)^2 local means; smooth inward continuation.

  With a concrete mask only the hole's bounding box (+ radius margin) is processed, ~10x
  faster on a small hole in a large image and bit-identical to the full-image core, which
  is what runs under tracing.
  """
  x, k = _check_inputs(x, known)
  if int(radius) < 1:
    raise ValueError(f"radius must be >= 1, got {radius}")
  _require_some_known(k)
  if _is_concrete(k):
    k_np = np.asarray(k)
    if k_np.all():
      return x
    corner, size = _hole_window(k_np, int(radius))
    return _checked(
      _fill_local_means_window(x, k, int(radius), jnp.asarray(corner, jnp.int32), size), x
    )
  return _checked(_fill_local_means_core(x, k, int(radius)), x)


# ----------------------------------------------------------------------------- patchmatch


def _valid_sources(known: jax.Array, half: int) -> jax.Array:
  """(H,W) bool: centres whose whole (2h+1)^2 patch lies inside the image and is known."""
  cnt = _box_sum(known[..., None].astype(jnp.float32), half)[..., 0]
  return cnt == float((2 * half + 1) ** 2)


def _target_mask(known: jax.Array, half: int) -> jax.Array:
  """(H,W) bool: centres whose (2h+1)^2 patch overlaps the hole."""
  return _box_sum((~known)[..., None].astype(jnp.float32), half)[..., 0] > 0


def _patch_offsets(half: int) -> jax.Array:
  """(P*P, 2) int32 offsets (dy, dx) of a (2h+1)^2 patch, row-major."""
  r = jnp.arange(-half, half + 1, dtype=jnp.int32)
  dy, dx = jnp.meshgrid(r, r, indexing="ij")
  return jnp.stack([dy.ravel(), dx.ravel()], axis=-1)


def _gather_patches(img: jax.Array, centres: jax.Array, half: int) -> jax.Array:
  """img (H,W,C), centres (T,2) -> patches (T,P,P*C), rows flattened with channels.

  One XLA gather of (P, P*C) contiguous-row slices from img viewed as (H, W*C); this was
  the fastest patch gather on CPU (~2x a per-pixel fancy-index gather). Windows reaching
  past the image are clamped, so callers pass centres whose patch is in-bounds.
  """
  h, w, c = img.shape
  p = 2 * half + 1
  start = jnp.stack([centres[:, 0] - half, (centres[:, 1] - half) * c], axis=-1)
  dnums = lax.GatherDimensionNumbers(
    offset_dims=(1, 2), collapsed_slice_dims=(), start_index_map=(0, 1)
  )
  return lax.gather(
    img.reshape(h, w * c), start, dnums, (p, p * c), mode=lax.GatherScatterMode.CLIP
  )


def _target_patches(est: jax.Array, tyx: jax.Array, half: int) -> jax.Array:
  """(T,P,P*C) target patches of the estimate; pixels past the border are edge-replicated.

  Edge replication (rather than a 0/1 weight) keeps the SSD a plain sum of squares: the
  weight multiply cost ~35% of each candidate evaluation and only affected border targets.
  """
  h, w = est.shape[:2]
  q = jnp.clip(tyx, 0, jnp.array([h - 1, w - 1]))
  padded = jnp.pad(est, ((half, half), (half, half), (0, 0)), mode="edge")
  return _gather_patches(padded, q + half, half)


def _ssd(x: jax.Array, tpatch: jax.Array, src: jax.Array, half: int) -> jax.Array:
  """(T,) SSD between target patches (T,P,P*C) and the patches of x centred at src (T,2)."""
  diff = _gather_patches(x, src, half) - tpatch
  return jnp.sum(diff * diff, axis=(1, 2))


def _try_candidates(x, tpatch, valid, best, best_d, cand, half):
  """Keep cand (T,2) where it is a valid source with lower SSD than best (T,2)/best_d (T,)."""
  h, w = x.shape[:2]
  cand = jnp.clip(cand, 0, jnp.array([h - 1, w - 1], jnp.int32))
  ok = valid[cand[:, 0], cand[:, 1]]
  d = jnp.where(ok, _ssd(x, tpatch, cand, half), jnp.inf)
  better = d < best_d
  return jnp.where(better[:, None], cand, best), jnp.where(better, d, best_d)


def _scatter_nnf(nnf_map: jax.Array, tyx: jax.Array, best: jax.Array) -> jax.Array:
  """Write the targets' sources into the dense (H,W,2) NNF map; padding rows are dropped."""
  return nnf_map.at[tyx[:, 0], tyx[:, 1]].set(best, mode="drop")


def _random_valid_sources(key: jax.Array, valid: jax.Array, n: int, tries: int = 16) -> jax.Array:
  """(n,2) int32 random source centres: first valid one among `tries` uniform pixel draws.

  Uniform over the valid sources when a draw succeeds; if all draws miss (tiny valid
  fraction), the last draw is returned and gets infinite distance, so search replaces it.
  """
  h, w = valid.shape
  draws = jax.random.randint(key, (n, tries, 2), 0, jnp.array([h, w]), dtype=jnp.int32)
  ok = valid[draws[..., 0], draws[..., 1]]
  pick = jnp.where(jnp.any(ok, axis=1), jnp.argmax(ok, axis=1), tries - 1)
  return jnp.take_along_axis(draws, pick[:, None, None], axis=1)[:, 0]


def _propagate(it, x, tpatch, valid, tyx, best, best_d, nnf_map, half):
  """Jump-flooding propagation: for each step in _JUMPS try the two neighbours' shifted sources.

  Neighbours are at -step (even iterations) or +step (odd) in y and in x, mirroring the
  alternating scan order of sequential PatchMatch; the map is refreshed after each step.
  """
  h, w = x.shape[:2]
  bounds = jnp.array([h - 1, w - 1], jnp.int32)
  q = jnp.clip(tyx, 0, bounds)
  sign = 1 - 2 * (it % 2)

  def step_body(j, state):
    b, bd, m = state
    step = jnp.asarray(_JUMPS, jnp.int32)[j] * sign
    for off in (jnp.stack([step, 0]), jnp.stack([0, step])):
      nb = jnp.clip(q + off, 0, bounds)
      cand = m[nb[:, 0], nb[:, 1]] + (q - nb)
      b, bd = _try_candidates(x, tpatch, valid, b, bd, cand, half)
    return b, bd, _scatter_nnf(m, tyx, b)

  return lax.fori_loop(0, len(_JUMPS), step_body, (best, best_d, nnf_map))


def _random_search(key, x, tpatch, valid, best, best_d, half):
  """Random search: one uniform sample in a window of radius max(H,W)/2^i around best, i=0.."""
  h, w = x.shape[:2]
  n_radii = max(1, math.floor(math.log2(max(h, w))) + 1)

  def body(i, state):
    b, bd = state
    radius = max(h, w) * 0.5 ** i.astype(jnp.float32)
    u = jax.random.uniform(jax.random.fold_in(key, i), b.shape, minval=-1.0, maxval=1.0)
    cand = b + jnp.round(radius * u).astype(jnp.int32)
    return _try_candidates(x, tpatch, valid, b, bd, cand, half)

  return lax.fori_loop(0, n_radii, body, (best, best_d))


def _reconstruct(x, valid, nnf_map, dist_map, tyx, half, sigma2=1.0):
  """Vote (T,C) values for the target pixels tyx (T,2) and a (T,) flag "got any vote".

  Each patch centred at c that covers pixel q (c = q - o) votes x[nnf[c] + o]; votes are
  averaged with Wexler et al. (2007) similarity weights exp(-(d_c - min d) / (2 sigma2)),
  d_c = the patch's SSD, or uniformly when dist_map is None. Patches whose NNF entry is
  not a valid source (only possible for targets dropped by max_targets) do not vote.
  """
  h, w = x.shape[:2]
  bounds = jnp.array([h - 1, w - 1])
  offs = _patch_offsets(half)  # (K,2)
  centres = jnp.clip(tyx, 0, bounds)[:, None, :] - offs[None]  # (T,K,2) patches covering q
  cc = jnp.clip(centres, 0, bounds)
  src_c = nnf_map[cc[..., 0], cc[..., 1]]  # (T,K,2) their source centres
  src = jnp.clip(src_c + offs[None], 0, bounds)
  inside = jnp.all((centres >= 0) & (centres <= bounds), axis=-1)
  ok = inside & valid[jnp.clip(src_c[..., 0], 0, h - 1), jnp.clip(src_c[..., 1], 0, w - 1)]
  if dist_map is None:
    wgt = ok.astype(x.dtype)
  else:
    d = jnp.where(ok, dist_map[cc[..., 0], cc[..., 1]], jnp.inf)
    d_min = jnp.min(d, axis=1, keepdims=True)
    wgt = jnp.where(ok, jnp.exp(-(d - jnp.where(jnp.isfinite(d_min), d_min, 0)) / (2 * sigma2)), 0)
  votes = x[src[..., 0], src[..., 1]]  # (T,K,C)
  total = jnp.sum(wgt, axis=1)
  recon = jnp.sum(votes * wgt[..., None], axis=1) / jnp.maximum(total, 1e-30)[:, None]
  return recon, total > 0


def _vote_into(est, x, hole, valid, nnf_map, dist_map, tyx, half, sigma2=1.0):
  """Estimate (H,W,C) with hole pixels replaced by their votes (kept where none arrive)."""
  recon, voted = _reconstruct(x, valid, nnf_map, dist_map, tyx, half, sigma2)
  recon = jnp.where(voted[:, None], recon, est[jnp.clip(tyx[:, 0], 0, est.shape[0] - 1), tyx[:, 1]])
  return jnp.where(hole[..., None], est.at[tyx[:, 0], tyx[:, 1]].set(recon, mode="drop"), x)


def _vote_scale(best_d: jax.Array, real: jax.Array) -> jax.Array:
  """sigma^2 for the similarity weights: 75th percentile of the finite target distances."""
  d = jnp.where(real & jnp.isfinite(best_d), best_d, jnp.nan)
  s2 = jnp.nanquantile(d, 0.75)
  return jnp.where(jnp.isfinite(s2), jnp.maximum(s2, 1e-6), 1.0)


def _pm_level(x, known, key, init, nnf_init, half, iters, em_steps, n_targets):
  """One pyramid level: em_steps rounds of (PatchMatch NNF, similarity-weighted voting).

  x (H,W,C), known (H,W) bool, init (H,W,C) first estimate, nnf_init (H,W,2) int32 (an
  upsampled coarser NNF) or None -> (estimate (H,W,C), dense NNF map (H,W,2)). With an
  nnf_init the first estimate is re-voted from it, which restores fine texture that the
  upsampled coarse image lacks.
  """
  h, w, _ = x.shape
  hole = ~known
  valid = _valid_sources(known, half)
  targets = _target_mask(known, half)
  flat = jnp.nonzero(targets.ravel(), size=n_targets, fill_value=h * w)[0].astype(jnp.int32)
  tyx = jnp.stack([flat // w, flat % w], axis=-1)  # padding rows -> (h, 0): dropped/clipped
  real = tyx[:, 0] < h
  key_init, key_em = jax.random.split(key)

  best = _random_valid_sources(key_init, valid, n_targets)
  grid = jnp.stack(jnp.meshgrid(jnp.arange(h), jnp.arange(w), indexing="ij"), -1).astype(jnp.int32)
  if nnf_init is not None:
    q = jnp.clip(tyx, 0, jnp.array([h - 1, w - 1]))
    cand = jnp.clip(nnf_init[q[:, 0], q[:, 1]], 0, jnp.array([h - 1, w - 1]))
    best = jnp.where(valid[cand[:, 0], cand[:, 1]][:, None], cand, best)
  nnf_map = _scatter_nnf(grid, tyx, best)
  if nnf_init is not None:
    init = _vote_into(init, x, hole, valid, nnf_map, None, tyx, half)

  def em_body(e, state):
    est, b, m = state
    tpatch = _target_patches(est, tyx, half)
    bd = jnp.where(valid[b[:, 0], b[:, 1]], _ssd(x, tpatch, b, half), jnp.inf)

    def pm_body(i, pm_state):
      b, bd, m = pm_state
      it = e * iters + i
      b, bd, m = _propagate(it, x, tpatch, valid, tyx, b, bd, m, half)
      b, bd = _random_search(jax.random.fold_in(key_em, it), x, tpatch, valid, b, bd, half)
      return b, bd, _scatter_nnf(m, tyx, b)

    b, bd, m = lax.fori_loop(0, iters, pm_body, (b, bd, m))
    dist_map = jnp.zeros((h, w), bd.dtype).at[tyx[:, 0], tyx[:, 1]].set(bd, mode="drop")
    est = _vote_into(est, x, hole, valid, m, dist_map, tyx, half, _vote_scale(bd, real))
    return est, b, m

  est, _, nnf_map = lax.fori_loop(0, em_steps, em_body, (init, best, nnf_map))
  return est, nnf_map


def _downsample2(x: jax.Array, known: jax.Array) -> tuple[jax.Array, jax.Array]:
  """Halve (H,W,C)/(H,W) by 2x2 means; a coarse pixel is known only if all 4 are known."""
  h, w, c = x.shape
  h2, w2 = h // 2, w // 2
  xs = x[: 2 * h2, : 2 * w2].reshape(h2, 2, w2, 2, c).mean(axis=(1, 3))
  ks = known[: 2 * h2, : 2 * w2].reshape(h2, 2, w2, 2).all(axis=(1, 3))
  return xs, ks


def _pyramid(x: jax.Array, known: jax.Array, levels: int) -> list[tuple[jax.Array, jax.Array]]:
  """[(x, known)] from fine to coarse, levels entries."""
  out = [(x, known)]
  for _ in range(levels - 1):
    out.append(_downsample2(*out[-1]))
  return out


def _upsample_nnf(nnf: jax.Array, h: int, w: int) -> jax.Array:
  """Coarse NNF (h',w',2) -> fine (h,w,2): source = 2 * coarse source + sub-pixel offset."""
  hc, wc = nnf.shape[:2]
  yc = jnp.minimum(jnp.arange(h) // 2, hc - 1)
  xc = jnp.minimum(jnp.arange(w) // 2, wc - 1)
  sub = jnp.stack(jnp.meshgrid(jnp.arange(h) - 2 * yc, jnp.arange(w) - 2 * xc, indexing="ij"), -1)
  return (2 * nnf[yc[:, None], xc[None, :]] + sub).astype(jnp.int32)


@functools.partial(jax.jit, static_argnames=("half", "levels"))
def _mask_counts(known: jax.Array, half: int, levels: int) -> tuple[jax.Array, jax.Array]:
  """(levels,) numbers of target centres and of valid source centres, fine to coarse."""
  pyr = _pyramid(jnp.zeros(known.shape + (1,)), known, levels)
  n_t = jnp.stack([jnp.sum(_target_mask(k, half)) for _, k in pyr])
  n_v = jnp.stack([jnp.sum(_valid_sources(k, half)) for _, k in pyr])
  return n_t, n_v


@functools.partial(
  jax.jit, static_argnames=("patch_size", "iters", "em_steps", "n_targets", "radius")
)
def _fill_patchmatch_core(x, known, key, patch_size, iters, em_steps, n_targets, radius):
  """Coarse-to-fine PatchMatch fill of x (H,W,C); n_targets = static target counts per level."""
  half = patch_size // 2
  pyr = _pyramid(x, known, len(n_targets))
  est = nnf = None
  for lvl in reversed(range(len(n_targets))):
    xl, kl = pyr[lvl]
    h, w, c = xl.shape
    if est is None:
      init = _fill_local_means_core(xl, kl, radius)
    else:
      up = jax.image.resize(est, (h, w, c), "linear")
      init, nnf = jnp.where(kl[..., None], xl, up), _upsample_nnf(nnf, h, w)
    key_l = jax.random.fold_in(key, lvl)
    est, nnf = _pm_level(xl, kl, key_l, init, nnf, half, iters, em_steps, n_targets[lvl])
  return jnp.where(known[..., None], x, est)


def _n_levels(h: int, w: int, patch_size: int, levels: int) -> int:
  """Clamp the pyramid depth so the coarsest level is still >= 4 patches on its short side."""
  n = 1
  while n < levels and min(h, w) // 2**n >= 4 * patch_size:
    n += 1
  return n


def fill_patchmatch(
  x,
  known,
  key,
  patch_size: int = 7,
  iters: int = 5,
  em_steps: int = 2,
  *,
  levels: int = 4,
  max_targets: int | None = None,
  radius: int = 4,
) -> jax.Array:
  """Fill the hole by copying known texture: vectorised PatchMatch + voting, coarse to fine.

  Per level: targets = centres whose patch overlaps the hole; sources = centres whose
  whole patch is known and inside the image. Distance = plain SSD over the full target
  patch of the current estimate (known pixels as they are, hole pixels from the previous
  round; pixels past the image border edge-replicated). Each iteration = parallel
  jump-flooding propagation (neighbours at -/+ 8, 4, 2, 1 in y and x, sign alternating
  per iteration) + random search (one sample per radius max(H,W)/2^i down to 1);
  invalid candidates get infinite distance. em_steps rounds of (iters iterations, vote):
  each hole pixel = similarity-weighted mean of the source pixels voted by the patches
  covering it. Deterministic given ``key``.

  ``levels`` (static): pyramid depth (2x2 mean downsampling; clamped so the coarsest
  short side is >= 4 patches). The coarsest level starts from fill_local_means(radius)
  and a random NNF; each finer level starts from the upsampled NNF (2x source + sub-pixel
  offset) and the estimate re-voted from it. levels=1 is the plain single-scale
  EM from the local-means fill, which on large holes mostly copies that fill's smooth
  structure; the pyramid is what makes big holes get plausible texture.

  ``max_targets`` (static) caps the target count per level. By default it is counted
  from a concrete mask (rounded up to a multiple of 1024 to limit recompiles) or is
  H*W under tracing (correct, slower). Targets beyond the cap keep the estimate. Results
  depend on the cap (random draws are sized by it), so jit/vmap results equal eager
  ones only for the same cap.
  """
  x, k = _check_inputs(x, known)
  if patch_size < 1 or patch_size % 2 == 0:
    raise ValueError(f"patch_size must be a positive odd integer, got {patch_size}")
  if iters < 0 or em_steps < 1:
    raise ValueError(f"need iters >= 0 and em_steps >= 1, got {iters}, {em_steps}")
  if levels < 1 or radius < 1:
    raise ValueError(f"need levels >= 1 and radius >= 1, got {levels}, {radius}")
  if key is None:
    raise ValueError("fill_patchmatch needs a PRNG key")
  h, w, _ = x.shape
  half = patch_size // 2
  n_lev = _n_levels(h, w, patch_size, levels)
  sizes = [(h // 2**i) * (w // 2**i) for i in range(n_lev)]
  n_targets = tuple(sizes)
  if _is_concrete(k):
    _require_some_known(k)
    n_t, n_v = (np.asarray(v) for v in _mask_counts(k, half, n_lev))
    if n_v[0] == 0:
      raise ValueError(
        f"no source patch: no {patch_size}x{patch_size} window lies wholly in the"
        " known region; use a smaller patch_size"
      )
    n_targets = tuple(min(_round_up(int(t), _TARGET_BUCKET), s) for t, s in zip(n_t, sizes))
  if max_targets is not None:
    n_targets = tuple(min(int(max_targets), s) for s in sizes)
  return _checked(
    _fill_patchmatch_core(x, k, key, patch_size, iters, em_steps, n_targets, int(radius)), x
  )


# ----------------------------------------------------------------------------- dispatch


def fill(
  x, known, method: str, key=None, radius: int = 4, patch_size: int = 7, iters: int = 5
) -> jax.Array:
  """Dispatch to a hole initialiser by name: "none", "mean", "local_means" or "patchmatch".

  "none" returns x as is (hole untouched); radius goes to local means (also patchmatch's
  coarsest-level init), patch_size/iters to patchmatch (other patchmatch args: defaults).
  """
  if method not in VALID_METHODS:
    raise ValueError(f"unknown fill method {method!r}; valid methods: {', '.join(VALID_METHODS)}")
  if method == "none":
    x, _ = _check_inputs(x, known)
    return x
  if method == "mean":
    return fill_mean(x, known)
  if method == "local_means":
    return fill_local_means(x, known, radius=radius)
  if key is None:
    raise ValueError("method 'patchmatch' needs a PRNG key (key=None given)")
  return fill_patchmatch(x, known, key, patch_size=patch_size, iters=iters, radius=radius)
