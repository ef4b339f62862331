"""Inpainting with a trained pyramid: fill -> inject at scale n -> generate n..N -> texture
-> seam -> blend.

The hole is filled by an initialiser, the filled image is injected at scale n and the pyramid
regenerates scales n..N with the known pixels re-imposed after every scale
(singan_jax/inpainting/coherence.py). An input larger than the finest scale is reached by a
bicubic resize (or SinGAN's super-resolution steps, upscale 'sr'); there the patch texture
pass rebuilds the hole from the photo's own patches (texture, singan_jax/inpainting/texture.py),
a gradient-domain correction meets the known pixels at the hole's edge (seam,
singan_jax/inpainting/seam.py), and the result is put back into the photo through a feather of
blend_feather px (singan_jax/inpainting/blend.py): known pixels beyond it keep the input's
exact values. Every function reads its settings from the config's Inpainting section
(core/schema.Inpainting, `opts`) and draws its keys from the run's seed.
"""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

from singan_jax.core import errors
from singan_jax.core import pyramid
from singan_jax.core import resize as resize_lib
from singan_jax.core import sampling
from singan_jax.core import schema
from singan_jax.inpainting import blend as blend_lib
from singan_jax.inpainting import candidates
from singan_jax.inpainting import coherence
from singan_jax.inpainting import fill as fill_lib
from singan_jax.inpainting import progressive
from singan_jax.inpainting import seam as seam_lib
from singan_jax.inpainting import texture as texture_lib
from singan_jax.io import images as image_io
from singan_jax import rng


def resolve_inject_scale(opts: schema.Inpainting, plan: pyramid.ScalePlan) -> int:
  """The injection scale n in 1..N: inject_scale, or round(inject_fraction * N) if < 0."""
  stop = plan.stop_scale
  if opts.inject_scale < 0:
    return int(min(max(round(opts.inject_fraction * stop), 1), stop))
  if not 1 <= opts.inject_scale <= stop:
    raise errors.SettingError(
      f"injection scale {opts.inject_scale} is out of range for this "
      f"{plan.num_scales}-scale pyramid: use inject_scale in 1..{stop}"
      " (or -1 for round(inject_fraction * N))",
      "inject_scale",
    )
  return int(opts.inject_scale)


def select_image(frozen, i: int):
  """Image i's slice of batched FrozenScales."""
  return [jax.tree.map(lambda x: x[i], fs) for fs in frozen]


@dataclasses.dataclass(frozen=True)
class Inpainted:
  """One inpainted image. output: the input's dtype and size, its hole filled; generated:
  float32 [-1, 1] at full resolution; soft (H, W): the blend's weight of generated; n: the
  injection scale; filled: the initialiser's fill (None for a mode's regeneration);
  candidate: the kept draw of num_candidates; rings: the progressive passes."""

  output: np.ndarray
  generated: np.ndarray
  soft: np.ndarray
  n: int
  filled: np.ndarray | None = None
  candidate: int = 0
  rings: int = 1


def inpaint(
  pyr, pixels, hole, opts: schema.Inpainting, image_index: int = 0, key_id=None, *, seed: int
) -> Inpainted:
  """Inpaints one input image with its trained pyramid (image_index: its slot in the batch;
  key_id: the id its random draws derive from, default image_index; seed: the run's seed).

  pixels: (H, W, 3) uint8/uint16 as read; hole: (H, W) bool. A hole above
  opts.progressive_share of the image is filled ring by ring
  (singan_jax/inpainting/progressive.py); otherwise one pass, inpaint_once.
  """
  if not isinstance(opts, schema.Inpainting):
    raise TypeError(
      f"inpaint takes the config's Inpainting section, not a {type(opts).__name__}: "
      "pass schema.Inpainting.from_config(config)"
    )
  key_id = image_index if key_id is None else key_id
  if progressive.applies(hole, opts):
    return progressive.inpaint_rings(
      inpaint_once, pyr, pixels, hole, opts, image_index, key_id, seed
    )
  return inpaint_once(pyr, pixels, hole, opts, image_index, key_id, seed=seed)


def generate(pyr, frozen_i, finest_filled, n: int, key, anchors=None):
  """Injects the filled finest image (1, h_N, w_N, 3) at scale n; returns the finest output
  (anchors: the known pixels re-imposed per scale, coherence.anchors; None: free)."""
  return sampling.inject(pyr.generators(), frozen_i, finest_filled, n, key, anchors)


def to_input_size(pyr, frozen_i, finest, filled, hole, key, opts: schema.Inpainting):
  """The finest output (1, h_N, w_N, 3) at the input's size (H, W, 3): SinGAN's
  super-resolution steps with the known pixels re-imposed (upscale 'sr'), or a bicubic
  resize ('resize')."""
  plan = pyr.plan
  if opts.upscale == "sr" and tuple(plan.input_hw) != tuple(plan.shapes[-1]):
    last = plan.stop_scale
    gen = pyr.generators().modules[last]
    key = jax.random.fold_in(key, plan.num_scales)  # the chain's steps go on past the finest
    x = coherence.super_resolve(
      finest, filled, hole, frozen_i[last], gen, plan.scale_factor, key, pyr.net.partial
    )
    return x[0]
  schema.check(schema.Inpainting, "upscale", opts.upscale)
  return resize_lib.resize(finest, 1.0 / plan.scale1, plan.input_hw)[0]


def retexture(x, hole, full, key, opts: schema.Inpainting) -> np.ndarray:
  """The patch texture pass over the full-size output's hole (singan_jax/inpainting/texture.py),
  its seam corrected there (opts.seam)."""
  return np.asarray(
    texture_lib.retexture(
      x,
      hole,
      full,
      key,
      opts.texture_patch,
      opts.texture_levels,
      opts.texture_final,
      seam=opts.seam,
      locality=opts.texture_locality,
      guide=opts.texture_guide,
      diversity=opts.texture_diversity,
      structure=opts.texture_structure,
      structure_radius=opts.texture_structure_radius,
      seam_limit=opts.seam_limit,
    )
  )


def finish_hole(x, hole, full, key, opts: schema.Inpainting) -> np.ndarray:
  """The full-size output's hole made final: the texture pass (which corrects its own seam),
  or, without it, the generated hole's seam corrected against the known pixels (opts.seam)."""
  if opts.texture == "patchmatch":
    return retexture(x, hole, full, key, opts)
  if opts.texture == "exemplar":
    return np.asarray(
      texture_lib.exemplar_pass(
        x,
        hole,
        full,
        opts.texture_patch,
        opts.seam,
        opts.texture_guide,
        opts.texture_structure,
        opts.texture_structure_radius,
        opts.seam_limit,
      )
    )
  if opts.seam != "none":  # a rendered fill has no inner seams: "fusion" is "poisson" here
    full = jnp.asarray(full, jnp.float32)
    preds = seam_lib.neighbour_predictions(full)
    limit = opts.seam_limit or None
    return np.asarray(seam_lib.correct(full, x, jnp.asarray(hole), preds, limit=limit))
  return full


def initial_fill(x, known, opts: schema.Inpainting, key, method: str | None = None):
  """x (H, W, 3) [-1, 1] with its hole (where known is False) filled by the initialiser
  `method` (default opts.fill) at the section's fill settings."""
  return fill_lib.fill(
    x,
    known,
    method or opts.fill,
    key=key,
    radius=opts.fill_radius,
    patch_size=opts.patch_size,
    iters=opts.patch_iters,
  )


def inpaint_once(
  pyr,
  pixels: np.ndarray,
  hole: np.ndarray,
  opts: schema.Inpainting,
  image_index: int = 0,
  key_id: int | None = None,
  ring: int = 0,
  *,
  seed: int,
) -> Inpainted:
  """One pass of fill -> inject -> generate -> upscale -> blend (see inpaint; ring: the
  progressive pass, which keys its draws). With
  opts.num_candidates = K > 1, K draws run in one vmap and the best by the ground-truth-free
  scores is kept (singan_jax/inpainting/candidates.py; its index is the result's candidate)."""
  plan = pyr.plan
  n = resolve_inject_scale(opts, plan)
  x = jnp.asarray(image_io.to_float(pixels))
  key_id = image_index if key_id is None else key_id
  k_fill, k_gen = rng.inpaint_keys(seed, key_id, ring)
  filled = initial_fill(x, jnp.asarray(~hole), opts, k_fill)
  finest_filled = pyramid.finest(filled[None], plan, pyr.net.compat)
  frozen_i = select_image(pyr.frozen, image_index)
  anchors = coherence.anchors(filled, hole, plan) if opts.coherence else None
  alpha = blend_lib.blend_alpha(hole, opts, 1.0 / plan.scale1)
  num = int(opts.num_candidates)
  keys = rng.candidate_keys(k_gen, num) if num > 1 else k_gen[None]
  if num > 1:
    finests = candidates.generate_many(pyr, frozen_i, finest_filled, n, k_gen, num, anchors)
  else:
    finests = generate(pyr, frozen_i, finest_filled, n, k_gen, anchors)
  fulls = [
    np.asarray(to_input_size(pyr, frozen_i, f[None], filled, hole, kk, opts))
    for f, kk in zip(finests, keys)
  ]
  k_tex = rng.texture_key(seed, key_id, ring)
  fulls = [finish_hole(x, hole, f, k_tex, opts) for f in fulls]
  outs = [blend_lib.composite(pixels, f, alpha) for f in fulls]
  best = candidates.choose([image_io.to_float(o) for o in outs], hole)[0] if num > 1 else 0
  return Inpainted(outs[best], fulls[best], alpha, n, np.asarray(filled), best)
