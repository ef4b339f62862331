"""Hole initialisers: fill the masked region of an image before SinGAN injection.

Conventions: ``x`` is float (H, W, C) in [-1, 1]; ``known`` is bool or float (H, W) or
(H, W, 1) with 1/True = known pixel and 0/False = hole (a float mask counts as known where
> 0.5). Every initialiser returns (H, W, C), leaves known pixels bit-identical and puts a
finite value in every hole pixel.

The public functions are thin Python wrappers: they validate shapes, raise ``ValueError``
for impossible inputs when the mask is concrete (not traced) and call the jitted cores in
local_means.py and patchmatch.py, so they also work under an outer ``jax.jit`` /
``jax.vmap``, where impossible inputs degrade to a finite fallback instead of raising.
"""

from __future__ import annotations

import chex
import jax
import jax.numpy as jnp
import numpy as np

from singan_jax.core import schema
from singan_jax.inpainting import exemplar
from singan_jax.inpainting import local_means
from singan_jax.inpainting import patchmatch

VALID_METHODS = schema.FILL_METHODS

# ----------------------------------------------------------------------------- input checks


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


# ----------------------------------------------------------------------------- the fills


def fill_mean(x, known) -> jax.Array:
  """Fill the hole with the per-channel mean of the known pixels; (H,W,C) -> (H,W,C)."""
  x, k = _check_inputs(x, known)
  _require_some_known(k)
  return _checked(local_means.mean_fill(x, k), x)


def fill_local_means(x, known, radius: int = schema.Inpainting.fill_radius) -> jax.Array:
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
    corner, size = local_means.hole_window(k_np, int(radius))
    return _checked(
      local_means.onion_peel_window(x, k, int(radius), jnp.asarray(corner, jnp.int32), size), x
    )
  return _checked(local_means.onion_peel(x, k, int(radius)), x)


def fill_patchmatch(
  x,
  known,
  key,
  patch_size: int = schema.Inpainting.patch_size,
  iters: int = schema.Inpainting.patch_iters,
  em_steps: int = 2,
  *,
  levels: int = 4,
  max_targets: int | None = None,
  radius: int = schema.Inpainting.fill_radius,
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
  _check_patchmatch_args(key, patch_size, iters, em_steps, levels, radius)
  n_targets = target_counts(k, patch_size, levels, max_targets)
  return _checked(
    patchmatch.fill_core(x, k, key, patch_size, iters, em_steps, n_targets, int(radius)), x
  )


def fill_exemplar(x, known, patch_size: int = schema.Inpainting.patch_size) -> jax.Array:
  """Fill the hole patch by patch, structure first (exemplar.py: Criminisi et al. 2004 with a
  tensor data term): lines crossing the hole's edge are carried in before flat areas.
  Deterministic; needs a concrete mask with at least one wholly known patch."""
  x, k = _check_inputs(x, known)
  if patch_size < 3 or patch_size % 2 == 0:
    raise ValueError(f"patch_size must be an odd integer >= 3, got {patch_size}")
  target_counts(k, patch_size, 1, None)  # raises if no patch is wholly known
  if _is_concrete(k) and bool(np.asarray(k).all()):
    return x
  return _checked(exemplar.complete(x, k, int(patch_size))[0], x)


def _check_patchmatch_args(key, patch_size, iters, em_steps, levels, radius) -> None:
  """Raise ValueError for fill_patchmatch settings it cannot run with."""
  if patch_size < 1 or patch_size % 2 == 0:
    raise ValueError(f"patch_size must be a positive odd integer, got {patch_size}")
  if iters < 0 or em_steps < 1:
    raise ValueError(f"need iters >= 0 and em_steps >= 1, got {iters}, {em_steps}")
  if levels < 1 or radius < 1:
    raise ValueError(f"need levels >= 1 and radius >= 1, got {levels}, {radius}")
  if key is None:
    raise ValueError("fill_patchmatch needs a PRNG key")


def target_counts(known, patch_size: int, levels: int, max_targets) -> tuple[int, ...]:
  """The static target count of each pyramid level (fine to coarse) for known (H, W).

  All H*W pixels of a level under tracing; with a concrete mask its target centres rounded
  up to TARGET_BUCKET (raising if no patch is wholly known); max_targets overrides both.
  """
  h, w = known.shape
  half = patch_size // 2
  n_lev = patchmatch.n_levels(h, w, patch_size, levels)
  sizes = [(h // 2**i) * (w // 2**i) for i in range(n_lev)]
  n_targets = tuple(sizes)
  if _is_concrete(known):
    _require_some_known(known)
    n_t, n_v = (np.asarray(v) for v in patchmatch.mask_counts(known, half, n_lev))
    if n_v[0] == 0:
      raise ValueError(
        f"no source patch: no {patch_size}x{patch_size} window lies wholly in the"
        " known region; use a smaller patch_size"
      )
    n_targets = tuple(
      min(local_means.round_up(int(t), patchmatch.TARGET_BUCKET), s) for t, s in zip(n_t, sizes)
    )
  if max_targets is not None:
    n_targets = tuple(min(int(max_targets), s) for s in sizes)
  return n_targets


# ----------------------------------------------------------------------------- dispatch


def fill(
  x,
  known,
  method: str,
  key=None,
  radius: int = schema.Inpainting.fill_radius,
  patch_size: int = schema.Inpainting.patch_size,
  iters: int = schema.Inpainting.patch_iters,
) -> jax.Array:
  """Dispatch to a hole initialiser by name: "none", "mean", "local_means", "patchmatch" or
  "exemplar".

  "none" returns x as is (hole untouched); radius goes to local means (also patchmatch's
  coarsest-level init), patch_size to patchmatch and exemplar, iters to patchmatch (other
  patchmatch args: defaults).
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
  if method == "exemplar":
    return fill_exemplar(x, known, patch_size=patch_size)
  if key is None:
    raise ValueError("method 'patchmatch' needs a PRNG key (key=None given)")
  return fill_patchmatch(x, known, key, patch_size=patch_size, iters=iters, radius=radius)
