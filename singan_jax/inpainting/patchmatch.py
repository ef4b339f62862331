"""PatchMatch hole filling: nearest-neighbour fields (NNF) of patches, voting, coarse to fine.

Vectorised PatchMatch (Barnes et al. 2009) with jump-flooding propagation and random search
over all target patches at once, then similarity-weighted voting (Wexler et al. 2007;
inpainting/voting.py), on a 2x2-mean pyramid. x (H, W, C) float, known (H, W) bool (True =
known pixel); centres and NNF entries are (y, x) int32. fill.fill_patchmatch validates and
counts the targets.
"""

from __future__ import annotations

import functools
import math

import jax
import jax.numpy as jnp
from jax import lax

from singan_jax.inpainting import local_means
from singan_jax.inpainting import voting

# Propagation step sizes per PatchMatch iteration (jump flooding, largest first).
JUMPS = (8, 4, 2, 1)
# Target lists are padded to a multiple of this to limit recompilation.
TARGET_BUCKET = 1024


# ----------------------------------------------------------------------------- patches


def valid_sources(known: jax.Array, half: int) -> jax.Array:
  """(H,W) bool: centres whose whole (2h+1)^2 patch lies inside the image and is known."""
  cnt = local_means.box_sum(known[..., None].astype(jnp.float32), half)[..., 0]
  return cnt == float((2 * half + 1) ** 2)


def target_mask(known: jax.Array, half: int) -> jax.Array:
  """(H,W) bool: centres whose (2h+1)^2 patch overlaps the hole."""
  return local_means.box_sum((~known)[..., None].astype(jnp.float32), half)[..., 0] > 0


def gather_patches(img: jax.Array, centres: jax.Array, half: int) -> jax.Array:
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


def target_patches(est: jax.Array, tyx: jax.Array, half: int) -> jax.Array:
  """(T,P,P*C) target patches of the estimate; pixels past the border are edge-replicated.

  Edge replication (rather than a 0/1 weight) keeps the SSD a plain sum of squares: the
  weight multiply cost ~35% of each candidate evaluation and only affected border targets.
  """
  h, w = est.shape[:2]
  q = jnp.clip(tyx, 0, jnp.array([h - 1, w - 1]))
  padded = jnp.pad(est, ((half, half), (half, half), (0, 0)), mode="edge")
  return gather_patches(padded, q + half, half)


def ssd(x: jax.Array, tpatch: jax.Array, src: jax.Array, half: int) -> jax.Array:
  """(T,) SSD between target patches (T,P,P*C) and the patches of x centred at src (T,2)."""
  diff = gather_patches(x, src, half) - tpatch
  return jnp.sum(diff * diff, axis=(1, 2))


# ----------------------------------------------------------------------------- NNF search


def is_on(weight) -> bool:
  """Whether a cost term of this weight is computed: a traced weight always (its value is
  known only when the program runs, so one program serves every weight), None never, a
  Python number when it is not 0."""
  return weight is not None and (isinstance(weight, jax.Array) or bool(weight))


def proximity(x, cand, q, half, locality):
  """(T,) the locality prior's cost of taking sources cand (T,2) for targets at q (T,2):
  locality x (patch values) x (distance / the image's longer side)^2, so that `locality`
  is the mean squared per-value error a source one image side away must beat (0: none)."""
  h, w, c = x.shape
  values = float((2 * half + 1) ** 2 * c)
  rel = (cand - q).astype(jnp.float32) / float(max(h, w))
  return (locality * values) * jnp.sum(rel * rel, axis=-1)


def reuse_cost(nnf: jax.Array, real: jax.Array, valid: jax.Array, half: int, c: int, weight):
  """(H,W) the cost of taking each source centre, given the sources nnf (T,2) that the real
  (T,) targets use now: weight x (patch values) x (chosen centres within a patch of it / as
  many as if the sources were spread evenly over the valid ones), so that a source at k times
  the even share pays k x weight of mean squared per-value error (an occurrence penalty,
  Kaspar et al. 2015: no patch copied over and over). It also counts a coherent copy (a run
  of neighbouring sources) as reuse, which is why strong weights speckle."""
  h, w = valid.shape
  chosen = (
    jnp.zeros((h, w, 1), jnp.float32).at[nnf[:, 0], nnf[:, 1], 0].add(real.astype(jnp.float32))
  )
  overlap = local_means.box_sum(chosen, 2 * half)[..., 0]  # patches within a patch of it
  spread = jnp.sum(real) * float((4 * half + 1) ** 2) / jnp.maximum(jnp.sum(valid), 1)
  return (weight * float((2 * half + 1) ** 2 * c)) * overlap / jnp.maximum(spread, 1e-6)


def patch_cost(x, tpatch, src, half, q, locality, src_cost=None):
  """(T,) SSD of the sources src (T,2), plus the locality prior around q when it is on and
  the sources' own cost src_cost (H,W) (reuse_cost) when given."""
  d = ssd(x, tpatch, src, half)
  if is_on(locality):
    d = d + proximity(x, src, q, half, locality)
  return d if src_cost is None else d + src_cost[src[:, 0], src[:, 1]]


def try_candidates(x, tpatch, valid, best, best_d, cand, half, q=None, locality=0.0, src_cost=None):
  """Keep cand (T,2) where it is a valid source with lower cost than best (T,2)/best_d (T,)
  (cost: SSD, plus the locality prior around the targets q (T,2) when locality > 0, plus
  src_cost (H,W) at the source when given)."""
  h, w = x.shape[:2]
  cand = jnp.clip(cand, 0, jnp.array([h - 1, w - 1], jnp.int32))
  ok = valid[cand[:, 0], cand[:, 1]]
  d = jnp.where(ok, patch_cost(x, tpatch, cand, half, q, locality, src_cost), jnp.inf)
  better = d < best_d
  return jnp.where(better[:, None], cand, best), jnp.where(better, d, best_d)


def scatter_nnf(nnf_map: jax.Array, tyx: jax.Array, best: jax.Array) -> jax.Array:
  """Write the targets' sources into the dense (H,W,2) NNF map; padding rows are dropped."""
  return nnf_map.at[tyx[:, 0], tyx[:, 1]].set(best, mode="drop")


def random_valid_sources(key: jax.Array, valid: jax.Array, n: int, tries: int = 16) -> jax.Array:
  """(n,2) int32 random source centres: first valid one among `tries` uniform pixel draws.

  Uniform over the valid sources when a draw succeeds; if all draws miss (tiny valid
  fraction), the last draw is returned and gets infinite distance, so search replaces it.
  """
  h, w = valid.shape
  draws = jax.random.randint(key, (n, tries, 2), 0, jnp.array([h, w]), dtype=jnp.int32)
  ok = valid[draws[..., 0], draws[..., 1]]
  pick = jnp.where(jnp.any(ok, axis=1), jnp.argmax(ok, axis=1), tries - 1)
  return jnp.take_along_axis(draws, pick[:, None, None], axis=1)[:, 0]


def propagate(it, x, tpatch, valid, tyx, best, best_d, nnf_map, half, locality=0.0, src_cost=None):
  """Jump-flooding propagation: for each step in JUMPS try the two neighbours' shifted sources.

  Neighbours are at -step (even iterations) or +step (odd) in y and in x, mirroring the
  alternating scan order of sequential PatchMatch; the map is refreshed after each step.
  """
  h, w = x.shape[:2]
  bounds = jnp.array([h - 1, w - 1], jnp.int32)
  q = jnp.clip(tyx, 0, bounds)
  sign = 1 - 2 * (it % 2)

  def step_body(j, state):
    b, bd, m = state
    step = jnp.asarray(JUMPS, jnp.int32)[j] * sign
    for off in (jnp.stack([step, 0]), jnp.stack([0, step])):
      nb = jnp.clip(q + off, 0, bounds)
      cand = m[nb[:, 0], nb[:, 1]] + (q - nb)
      b, bd = try_candidates(x, tpatch, valid, b, bd, cand, half, q, locality, src_cost)
    return b, bd, scatter_nnf(m, tyx, b)

  return lax.fori_loop(0, len(JUMPS), step_body, (best, best_d, nnf_map))


def random_search(key, x, tpatch, valid, best, best_d, half, q=None, locality=0.0, src_cost=None):
  """Random search: one uniform sample in a window of radius max(H,W)/2^i around best, i=0..
  (q, locality: the targets' in-image positions and the locality prior's weight, proximity;
  src_cost: reuse_cost's map or None)."""
  h, w = x.shape[:2]
  n_radii = max(1, math.floor(math.log2(max(h, w))) + 1)

  def body(i, state):
    b, bd = state
    radius = max(h, w) * 0.5 ** i.astype(jnp.float32)
    u = jax.random.uniform(jax.random.fold_in(key, i), b.shape, minval=-1.0, maxval=1.0)
    cand = b + jnp.round(radius * u).astype(jnp.int32)
    return try_candidates(x, tpatch, valid, b, bd, cand, half, q, locality, src_cost)

  return lax.fori_loop(0, n_radii, body, (best, best_d))


# ----------------------------------------------------------------------------- one pyramid level


def _em_round(
  e,
  state,
  *,
  xs,
  x,
  hole,
  valid,
  tyx,
  real,
  q,
  half,
  iters,
  key_em,
  locality,
  diversity,
  with_guide,
):
  """One EM round at a level: `iters` PatchMatch iterations (propagation, random search) of the
  sources b against the current estimate's patches, then the similarity-weighted vote.
  state (est (H,W,C), b (T,2), m (H,W,2)) -> the same, updated."""
  est, b, m = state
  h, w, c = x.shape
  tpatch = target_patches(with_guide(est), tyx, half)

  def costs(b):  # the sources' costs, their reuse counted afresh (diversity)
    reuse = reuse_cost(b, real, valid, half, c, diversity) if is_on(diversity) else None
    cost = patch_cost(xs, tpatch, b, half, q, locality, reuse)
    return jnp.where(valid[b[:, 0], b[:, 1]], cost, jnp.inf), reuse

  bd, _ = costs(b)

  def pm_body(i, pm_state):
    b, bd, m = pm_state
    it = e * iters + i
    reuse = None
    if is_on(diversity):
      bd, reuse = costs(b)
    b, bd, m = propagate(it, xs, tpatch, valid, tyx, b, bd, m, half, locality, reuse)
    k_it = jax.random.fold_in(key_em, it)
    b, bd = random_search(k_it, xs, tpatch, valid, b, bd, half, q, locality, reuse)
    return b, bd, scatter_nnf(m, tyx, b)

  b, bd, m = lax.fori_loop(0, iters, pm_body, (b, bd, m))
  dist_map = jnp.zeros((h, w), bd.dtype).at[tyx[:, 0], tyx[:, 1]].set(bd, mode="drop")
  est = voting.vote_into(est, x, hole, valid, m, dist_map, tyx, half, voting.vote_scale(bd, real))
  return est, b, m


def _initial_sources(key, valid, tyx, q, nnf_init):
  """The targets' first sources (T,2) and the dense NNF map (H,W,2) holding them (identity
  elsewhere): the upsampled coarser field's where that is a valid source, else random ones."""
  h, w = valid.shape
  best = random_valid_sources(key, valid, tyx.shape[0])
  grid = jnp.stack(jnp.meshgrid(jnp.arange(h), jnp.arange(w), indexing="ij"), -1).astype(jnp.int32)
  if nnf_init is not None:
    cand = jnp.clip(nnf_init[q[:, 0], q[:, 1]], 0, jnp.array([h - 1, w - 1]))
    best = jnp.where(valid[cand[:, 0], cand[:, 1]][:, None], cand, best)
  return best, scatter_nnf(grid, tyx, best)


def pm_level(
  x,
  known,
  key,
  init,
  nnf_init,
  half,
  iters,
  em_steps,
  n_targets,
  locality=0.0,
  guide=None,
  diversity=0.0,
):
  """One pyramid level: em_steps rounds of (PatchMatch NNF, similarity-weighted voting).

  x (H,W,C), known (H,W) bool, init (H,W,C) first estimate, nnf_init (H,W,2) int32 (an
  upsampled coarser NNF) or None -> (estimate (H,W,C), dense NNF map (H,W,2)). With an
  nnf_init the first estimate is re-voted from it, which restores fine texture that the
  upsampled coarse image lacks. locality > 0 adds a cost for far sources (proximity).
  guide (H,W,G) or None: fixed channels searched beside the estimate's and never voted, so a
  source must also match the guide at its target (guided synthesis; the caller scales them).
  diversity > 0: reuse_cost's weight, the sources' usage recounted every PatchMatch iteration
  (the vote's similarity weights then include it too).
  """
  h, w, c = x.shape
  if guide is not None and is_on(locality):  # the prior stays per value of x's channels
    locality = locality * c / (c + guide.shape[-1])
  xs = x if guide is None else jnp.concatenate([x, guide], axis=-1)
  with_guide = (lambda e: e) if guide is None else (lambda e: jnp.concatenate([e, guide], -1))
  hole = ~known
  valid = valid_sources(known, half)
  flat = jnp.nonzero(target_mask(known, half).ravel(), size=n_targets, fill_value=h * w)[0]
  flat = flat.astype(jnp.int32)
  tyx = jnp.stack([flat // w, flat % w], axis=-1)  # padding rows -> (h, 0): dropped/clipped
  real = tyx[:, 0] < h
  key_init, key_em = jax.random.split(key)

  q = jnp.clip(tyx, 0, jnp.array([h - 1, w - 1]))
  best, nnf_map = _initial_sources(key_init, valid, tyx, q, nnf_init)
  if nnf_init is not None:
    init = voting.vote_into(init, x, hole, valid, nnf_map, None, tyx, half)
  em_round = functools.partial(
    _em_round,
    xs=xs,
    x=x,
    hole=hole,
    valid=valid,
    tyx=tyx,
    real=real,
    q=q,
    half=half,
    iters=iters,
    key_em=key_em,
    locality=locality,
    diversity=diversity,
    with_guide=with_guide,
  )
  est, _, nnf_map = lax.fori_loop(0, em_steps, em_round, (init, best, nnf_map))
  return est, nnf_map


# ----------------------------------------------------------------------------- coarse to fine


def downsample2(x: jax.Array, known: jax.Array) -> tuple[jax.Array, jax.Array]:
  """Halve (H,W,C)/(H,W) by 2x2 means; a coarse pixel is known only if all 4 are known."""
  h, w, c = x.shape
  h2, w2 = h // 2, w // 2
  xs = x[: 2 * h2, : 2 * w2].reshape(h2, 2, w2, 2, c).mean(axis=(1, 3))
  ks = known[: 2 * h2, : 2 * w2].reshape(h2, 2, w2, 2).all(axis=(1, 3))
  return xs, ks


def pyramid(x: jax.Array, known: jax.Array, levels: int) -> list[tuple[jax.Array, jax.Array]]:
  """[(x, known)] from fine to coarse, levels entries."""
  out = [(x, known)]
  for _ in range(levels - 1):
    out.append(downsample2(*out[-1]))
  return out


def upsample_nnf(nnf: jax.Array, h: int, w: int) -> jax.Array:
  """Coarse NNF (h',w',2) -> fine (h,w,2): source = 2 * coarse source + sub-pixel offset."""
  hc, wc = nnf.shape[:2]
  yc = jnp.minimum(jnp.arange(h) // 2, hc - 1)
  xc = jnp.minimum(jnp.arange(w) // 2, wc - 1)
  sub = jnp.stack(jnp.meshgrid(jnp.arange(h) - 2 * yc, jnp.arange(w) - 2 * xc, indexing="ij"), -1)
  return (2 * nnf[yc[:, None], xc[None, :]] + sub).astype(jnp.int32)


@functools.partial(jax.jit, static_argnames=("half", "levels"))
def mask_counts(known: jax.Array, half: int, levels: int) -> tuple[jax.Array, jax.Array]:
  """(levels,) numbers of target centres and of valid source centres, fine to coarse."""
  pyr = pyramid(jnp.zeros(known.shape + (1,)), known, levels)
  n_t = jnp.stack([jnp.sum(target_mask(k, half)) for _, k in pyr])
  n_v = jnp.stack([jnp.sum(valid_sources(k, half)) for _, k in pyr])
  return n_t, n_v


@functools.partial(
  jax.jit, static_argnames=("patch_size", "iters", "em_steps", "n_targets", "radius")
)
def fill_core(x, known, key, patch_size, iters, em_steps, n_targets, radius):
  """Coarse-to-fine PatchMatch fill of x (H,W,C); n_targets = static target counts per level."""
  half = patch_size // 2
  pyr = pyramid(x, known, len(n_targets))
  est = nnf = None
  for lvl in reversed(range(len(n_targets))):
    xl, kl = pyr[lvl]
    h, w, c = xl.shape
    if est is None:
      init = local_means.onion_peel(xl, kl, radius)
    else:
      up = jax.image.resize(est, (h, w, c), "linear")
      init, nnf = jnp.where(kl[..., None], xl, up), upsample_nnf(nnf, h, w)
    key_l = jax.random.fold_in(key, lvl)
    est, nnf = pm_level(xl, kl, key_l, init, nnf, half, iters, em_steps, n_targets[lvl])
  return jnp.where(known[..., None], x, est)


def n_levels(h: int, w: int, patch_size: int, levels: int) -> int:
  """Clamp the pyramid depth so the coarsest level is still >= 4 patches on its short side."""
  n = 1
  while n < levels and min(h, w) // 2**n >= 4 * patch_size:
    n += 1
  return n
