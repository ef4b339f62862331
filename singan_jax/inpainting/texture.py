"""The patch texture pass: the generated hole rebuilt from the photo's own patches.

After the pyramid has generated the hole (its structure), a coarse-to-fine PatchMatch
completion (Wexler et al. 2007, Barnes et al. 2009; the "Drop the GAN" view of SinGAN,
Granot et al. 2022) replaces every hole patch by the nearest wholly known patch and votes
the overlaps, starting from the generated image instead of a blank. The hole ends up made of
the image's own texture at the input's resolution, arranged as the generator arranged it;
a locality prior prefers sources near their target (nearby content is the likelier truth).
Last, the fill's coarse layer is moved toward the harmonic (membrane) fill's, so brightness
and colour at large scale follow the hole's edge while the fine texture stays the patches'.
The PatchMatch machinery is singan_jax/inpainting/patchmatch.py's; this module only seeds it.
texture="exemplar" (exemplar_pass) completes the hole with exemplar.py instead, then takes the
same seam correction and structure transfer.
"""

from __future__ import annotations

import functools

from absl import logging
import jax
import jax.numpy as jnp
import numpy as np

from singan_jax.core import schema
from singan_jax.inpainting import exemplar
from singan_jax.inpainting import fill as fill_lib
from singan_jax.inpainting import local_means
from singan_jax.inpainting import patchmatch
from singan_jax.inpainting import seam as seam_lib


def guide_image(seeded: jax.Array, half: int) -> jax.Array:
  """(H,W,C) the guide: the seeded image (known pixels, generated hole) box-blurred over a
  patch, so a source's guide is as smooth as its target's and the guide speaks only of the
  layout (a sharp source against a smooth generated hole would otherwise lose to flat ones)."""
  ones = jnp.ones(seeded.shape[:2] + (1,), seeded.dtype)
  return local_means.box_sum(seeded, half) / local_means.box_sum(ones, half)


def harmonic_fill(x: jax.Array, hole: jax.Array) -> jax.Array:
  """x (H,W,C) with its hole (H,W) bool filled by the membrane (Laplace) interpolation of the
  known pixels at its edge: the smoothest fill that meets the photo, a PDE inpainter's."""
  base = jnp.where(hole[..., None], 0.0, x)
  return seam_lib.correct(base, x, hole, jnp.zeros((len(seam_lib.DIRECTIONS),) + x.shape))


def low_pass(a: jax.Array, radius: int) -> jax.Array:
  """(H,W,C) three box blurs of radius r (about a Gaussian of sigma sqrt(r(r+1))), zero
  outside the image."""
  for _ in range(3):
    a = local_means.box_sum(a, radius) / (2 * radius + 1) ** 2
  return a


def structure_transfer(est, target, hole, weight, radius: int) -> jax.Array:
  """est (H,W,C)'s hole with its coarse layer (low_pass) moved toward target's by weight: the
  fine texture stays the patches', the large-scale brightness and colour follow the target
  (the harmonic fill: the membrane from the hole's edge; structure + texture inpainting,
  Bertalmio et al. 2003). Outside the hole target must equal est."""
  h3 = hole[..., None]
  coarse = low_pass(jnp.where(h3, target - est, 0.0), radius)
  return jnp.where(h3, jnp.clip(est + weight * coarse, -1.0, 1.0), est)


@functools.partial(
  jax.jit,
  static_argnames=(
    "patch_size",
    "iters",
    "em_steps",
    "n_targets",
    "centre",
    "seam",
    "structure_radius",
  ),
)
def _retexture_core(
  x,
  known,
  generated,
  key,
  patch_size,
  iters,
  em_steps,
  n_targets,
  centre,
  seam,
  structure_radius,
  locality,
  guide,
  diversity,
  structure,
  seam_limit,
):
  """Coarse-to-fine completion of x (H,W,C)'s hole, seeded at the coarsest level by
  `generated` (H,W,C) and, finer, by the upsampled estimate and nearest-neighbour field (whose
  sharp source pixels re-vote it: patchmatch.pm_level); seam "poisson" then removes the
  mismatch with the known pixels at the hole's edge ("fusion": also between pasted patches;
  singan_jax/inpainting/seam.py); locality: patchmatch.proximity's weight; guide > 0:
  guide_image searched beside the estimate at every level with that weight on its SSD, so
  sources also match the generated layout;
  diversity: patchmatch.reuse_cost's weight; structure: structure_transfer's weight (at
  structure_radius), applied last; seam_limit: seam.correct's limit. The five weights are
  traced (None: that term off), so one compiled program serves every value of them."""
  half = patch_size // 2
  levels = len(n_targets)
  seeded = jnp.where(known[..., None], x, generated)
  pyr = patchmatch.pyramid(seeded, known, levels)
  guides = None
  if patchmatch.is_on(guide):
    guides = patchmatch.pyramid(guide_image(seeded, half) * guide**0.5, known, levels)
  est = nnf = None
  for lvl in reversed(range(levels)):
    xl, kl = pyr[lvl]
    h, w, c = xl.shape
    if est is None:
      init = xl
    else:
      up = jax.image.resize(est, (h, w, c), "linear")
      init, nnf = jnp.where(kl[..., None], xl, up), patchmatch.upsample_nnf(nnf, h, w)
    key_l = jax.random.fold_in(key, lvl)
    gl = None if guides is None else guides[lvl][0]
    est, nnf = patchmatch.pm_level(
      xl, kl, key_l, init, nnf, half, iters, em_steps, n_targets[lvl], locality, gl, diversity
    )
  if centre:  # each hole pixel its own patch's source centre: no averaging of 49 sources
    est = x[nnf[..., 0], nnf[..., 1]]
  est = jnp.where(known[..., None], x, est)
  return _finish(est, x, known, nnf, seam, seam_limit, structure, structure_radius)


def _finish(est, x, known, nnf, seam, limit, structure, structure_radius, sources_known=None):
  """A completed hole's seam correction (seam.py, from its sources nnf (H,W,2); limit: its
  mismatch limit) and structure transfer: what both completions (PatchMatch's, the
  exemplar's) end with."""
  if seam != "none":
    preds = seam_lib.source_predictions(est, x, nnf, sources_known)
    est = seam_lib.correct(est, x, ~known, preds, inside_hole=seam == "fusion", limit=limit)
  if patchmatch.is_on(structure):
    est = structure_transfer(est, harmonic_fill(x, ~known), ~known, structure, structure_radius)
  return est


@functools.partial(jax.jit, static_argnames=("patch_size", "seam", "structure_radius"))
def _exemplar_core(
  x, known, generated, patch_size, seam, structure_radius, guide, structure, seam_limit
):
  """exemplar_pass in one compiled program (the guide, structure and limit weights traced)."""
  est, nnf = exemplar.complete(x, known, patch_size, generated, guide)
  return _finish(est, x, known, nnf, seam, seam_limit, structure, structure_radius, known)


def exemplar_pass(
  x,
  hole: np.ndarray,
  generated,
  patch_size: int = schema.Inpainting.texture_patch,
  seam: str = schema.Inpainting.seam,
  guide: float = schema.Inpainting.texture_guide,
  structure: float = schema.Inpainting.texture_structure,
  structure_radius: int = schema.Inpainting.texture_structure_radius,
  seam_limit: float = schema.Inpainting.seam_limit,
) -> jax.Array:
  """The hole of x (H,W,C) rebuilt patch by patch, structure first (exemplar.py), then its
  seam corrected and its coarse layer moved as retexture's. guide > 0: the generated image
  (H,W,C) steers the choice of sources at that weight on the missing pixels' SSD (0: the
  known pixels alone choose); seam_limit as retexture's. Known pixels come back unchanged."""
  schema.check(schema.Inpainting, "seam", seam)
  x = jnp.asarray(x, jnp.float32)
  known = ~np.asarray(hole, bool)
  if _target_counts(known, patch_size, 1) is None:
    return jnp.asarray(generated, jnp.float32)
  weights = (float(w) if w else None for w in (guide, structure, seam_limit))
  generated = jnp.asarray(generated, jnp.float32)
  return _exemplar_core(
    x, jnp.asarray(known), generated, patch_size, seam, structure_radius, *weights
  )


def _target_counts(known: np.ndarray, patch_size: int, levels: int):
  """Each level's target count (fill.target_counts), or None, logged, when no patch is wholly
  known: nothing to copy texture from, so the pass leaves the generated image."""
  try:
    return fill_lib.target_counts(jnp.asarray(known), patch_size, levels, None)
  except ValueError as e:
    logging.warning("texture pass skipped: %s (--config.texture_patch)", e)
    return None


def check_choices(final: str, seam: str) -> None:
  """SettingError naming the setting when texture_final or seam is not one of its choices."""
  schema.check(schema.Inpainting, "texture_final", final)
  schema.check(schema.Inpainting, "seam", seam)


def retexture(
  x,
  hole: np.ndarray,
  generated,
  key: jax.Array,
  patch_size: int = schema.Inpainting.texture_patch,
  levels: int = schema.Inpainting.texture_levels,
  final: str = schema.Inpainting.texture_final,
  iters: int = 4,
  em_steps: int = 2,
  seam: str = schema.Inpainting.seam,
  locality: float = schema.Inpainting.texture_locality,
  guide: float = schema.Inpainting.texture_guide,
  diversity: float = schema.Inpainting.texture_diversity,
  structure: float = schema.Inpainting.texture_structure,
  structure_radius: int = schema.Inpainting.texture_structure_radius,
  seam_limit: float = schema.Inpainting.seam_limit,
) -> jax.Array:
  """The hole of x (H,W,C) float [-1,1] rebuilt from x's known patches, seeded by generated.

  hole: (H,W) bool (True = hole); generated (H,W,C): the pyramid's output at x's size.
  levels: the completion's depth (clamped as fill_patchmatch clamps it), its coarsest level
  seeded by generated. final: "centre" (each hole pixel its patch's source centre) or "vote"
  (the similarity-weighted mean of the overlapping patches).
  seam: "poisson" (seam.py's gradient-domain correction at the hole's edge), "fusion" (also
  between the pasted patches inside it) or "none"; seam_limit > 0: how far an edge mismatch
  may depart from the edge's local mean and still spread into the hole (seam.limited; 0: no
  limit).
  locality >= 0: the weight of a cost on sources far from their target (patchmatch.proximity:
  the mean squared per-value error a source one image side away must beat; 0: none).
  guide >= 0: the weight of guide_image (the seeded image blurred over a patch) in the patch
  distance, so the generator's layout survives the finer levels; 0: none.
  diversity >= 0: the weight of a cost on sources that many targets already copy
  (patchmatch.reuse_cost: no patch pasted over and over into a large hole); 0: none.
  structure in [0, 1]: how far the fill's coarse layer (low_pass at structure_radius) moves
  to the harmonic fill's (structure_transfer; 1: all the way, 0: none).
  Known pixels come back unchanged; with no wholly known patch the generated image is
  returned as it is (logged).
  """
  check_choices(final, seam)
  x = jnp.asarray(x, jnp.float32)
  known = ~np.asarray(hole, bool)
  n_targets = _target_counts(known, patch_size, levels)
  if n_targets is None:
    return jnp.asarray(generated, jnp.float32)
  generated = jnp.asarray(generated, jnp.float32)
  return _retexture_core(
    x,
    jnp.asarray(known),
    generated,
    key,
    patch_size,
    iters,
    em_steps,
    n_targets,
    final == "centre",
    seam,
    structure_radius,
    *(float(w) if w else None for w in (locality, guide, diversity, structure, seam_limit)),
  )
