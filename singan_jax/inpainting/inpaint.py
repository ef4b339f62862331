"""Inpainting with a trained pyramid: fill -> inject at scale n -> generate n..N -> texture
-> seam -> blend.

The hole is filled by an initialiser, the filled image is injected at scale n and the pyramid
regenerates scales n..N with the known pixels re-imposed after every scale
(singan_jax/inpainting/coherence.py). An input larger than the finest scale is reached by a
bicubic resize (or SinGAN's super-resolution steps, cfg.upscale 'sr'); there the patch texture
pass rebuilds the hole from the photo's own patches (cfg.texture, singan_jax/inpainting/texture.py),
a gradient-domain correction meets the known pixels at the hole's edge (cfg.seam,
singan_jax/inpainting/seam.py), and the result is put back into the photo through a feather of
cfg.blend_feather px (singan_jax/inpainting/blend.py): known pixels beyond it keep the input's
exact values.
"""

import jax
import jax.numpy as jnp
import numpy as np

from singan_jax.core import errors
from singan_jax.core import pyramid
from singan_jax.core import resize as resize_lib
from singan_jax.core import sampling
from singan_jax.inpainting import blend as blend_lib
from singan_jax.inpainting import candidates
from singan_jax.inpainting import coherence
from singan_jax.inpainting import fill as fill_lib
from singan_jax.inpainting import progressive
from singan_jax.inpainting import seam as seam_lib
from singan_jax.inpainting import texture as texture_lib
from singan_jax.io import images as image_io
from singan_jax import rng


def resolve_inject_scale(cfg, plan: pyramid.ScalePlan) -> int:
  """The injection scale n in 1..N: cfg.inject_scale, or round(inject_fraction * N) if < 0."""
  stop = plan.stop_scale
  if cfg.inject_scale < 0:
    return int(min(max(round(cfg.inject_fraction * stop), 1), stop))
  if not 1 <= cfg.inject_scale <= stop:
    raise errors.SettingError(
      f"injection scale {cfg.inject_scale} is out of range for this "
      f"{plan.num_scales}-scale pyramid: use inject_scale in 1..{stop}"
      " (or -1 for round(inject_fraction * N))",
      "inject_scale",
    )
  return int(cfg.inject_scale)


def select_image(frozen, i: int):
  """Image i's slice of batched FrozenScales."""
  return [jax.tree.map(lambda x: x[i], fs) for fs in frozen]


def inpaint(
  pyr, pixels: np.ndarray, hole: np.ndarray, cfg, image_index: int = 0, key_id: int | None = None
) -> dict:
  """Inpaints one input image with its trained pyramid (image_index: its slot in the batch;
  key_id: the id its random draws derive from, default image_index).

  pixels: (H, W, 3) uint8/uint16 as read; hole: (H, W) bool. Returns a dict with 'output'
  (pixels' dtype, same size), and float32 [-1, 1] 'filled', 'generated' (full resolution),
  'soft' (H, W) and the injection scale 'n'. A hole above cfg.progressive_share of the image
  is filled ring by ring (singan_jax/inpainting/progressive.py); otherwise one pass, inpaint_once.
  """
  key_id = image_index if key_id is None else key_id
  if progressive.applies(hole, cfg):
    return progressive.inpaint_rings(inpaint_once, pyr, pixels, hole, cfg, image_index, key_id)
  return inpaint_once(pyr, pixels, hole, cfg, image_index, key_id)


def generate(pyr, frozen_i, finest_filled, n: int, key, anchors=None):
  """Injects the filled finest image (1, h_N, w_N, 3) at scale n; returns the finest output
  (anchors: the known pixels re-imposed per scale, coherence.anchors; None: free)."""
  plan = pyr.plan
  return sampling.inject(
    frozen_i,
    pyr.generators(),
    plan.shapes,
    plan.scale_factor,
    finest_filled,
    n,
    key,
    pyr.net.partial,
    compat=pyr.net.compat,
    anchors=anchors,
  )


def to_input_size(pyr, frozen_i, finest, filled, hole, key, cfg):
  """The finest output (1, h_N, w_N, 3) at the input's size (H, W, 3): SinGAN's
  super-resolution steps with the known pixels re-imposed (cfg.upscale 'sr'), or a bicubic
  resize ('resize')."""
  plan = pyr.plan
  if cfg.upscale == "sr" and tuple(plan.input_hw) != tuple(plan.shapes[-1]):
    last = plan.stop_scale
    gen = pyr.generators()[last]
    key = jax.random.fold_in(key, plan.num_scales)  # the chain's steps go on past the finest
    x = coherence.super_resolve(
      finest, filled, hole, frozen_i[last], gen, plan.scale_factor, key, pyr.net.partial
    )
    return x[0]
  if cfg.upscale not in coherence.UPSCALES:
    raise errors.SettingError(
      f"upscale {cfg.upscale!r} is unknown: use one of {coherence.UPSCALES}", "upscale"
    )
  return resize_lib.resize(finest, 1.0 / plan.scale1, plan.input_hw)[0]


def retexture(x, hole, full, key, cfg) -> np.ndarray:
  """The patch texture pass over the full-size output's hole (singan_jax/inpainting/texture.py),
  its seam corrected there (cfg.seam)."""
  return np.asarray(
    texture_lib.retexture(
      x,
      hole,
      full,
      key,
      cfg.texture_patch,
      cfg.texture_levels,
      cfg.texture_final,
      seam=cfg.seam,
      locality=cfg.texture_locality,
      guide=cfg.texture_guide,
      diversity=cfg.texture_diversity,
      structure=cfg.texture_structure,
      structure_radius=cfg.texture_structure_radius,
    )
  )


def finish_hole(x, hole, full, key, cfg) -> np.ndarray:
  """The full-size output's hole made final: the texture pass (which corrects its own seam),
  or, without it, the generated hole's seam corrected against the known pixels (cfg.seam)."""
  if cfg.texture == "patchmatch":
    return retexture(x, hole, full, key, cfg)
  if cfg.seam != "none":  # a rendered fill has no inner seams: "fusion" is "poisson" here
    full = jnp.asarray(full, jnp.float32)
    preds = seam_lib.neighbour_predictions(full)
    return np.asarray(seam_lib.correct(full, x, jnp.asarray(hole), preds))
  return full


def initial_fill(x, known, cfg, key, method: str | None = None):
  """x (H, W, 3) [-1, 1] with its hole (where known is False) filled by the initialiser
  `method` (default cfg.fill) at cfg's fill settings."""
  return fill_lib.fill(
    x,
    known,
    method or cfg.fill,
    key=key,
    radius=cfg.fill_radius,
    patch_size=cfg.patch_size,
    iters=cfg.patch_iters,
  )


def inpaint_once(
  pyr,
  pixels: np.ndarray,
  hole: np.ndarray,
  cfg,
  image_index: int = 0,
  key_id: int | None = None,
  ring: int = 0,
) -> dict:
  """One pass of fill -> inject -> generate -> upscale -> blend (see inpaint; ring: the
  progressive pass, which keys its draws). With
  cfg.num_candidates = K > 1, K draws run in one vmap and the best by the ground-truth-free
  scores is kept (singan_jax/inpainting/candidates.py; its index is returned as 'candidate')."""
  plan = pyr.plan
  n = resolve_inject_scale(cfg, plan)
  x = jnp.asarray(image_io.to_float(pixels))
  key_id = image_index if key_id is None else key_id
  k_fill, k_gen = rng.inpaint_keys(cfg.seed, key_id, ring)
  filled = initial_fill(x, jnp.asarray(~hole), cfg, k_fill)
  finest_filled = pyramid.finest(filled[None], plan, pyr.net.compat)
  frozen_i = select_image(pyr.frozen, image_index)
  anchors = coherence.anchors(filled, hole, plan) if cfg.coherence else None
  alpha = blend_lib.blend_alpha(hole, cfg, 1.0 / plan.scale1)
  num = int(cfg.num_candidates)
  keys = rng.candidate_keys(k_gen, num) if num > 1 else k_gen[None]
  if num > 1:
    finests = candidates.generate_many(pyr, frozen_i, finest_filled, n, k_gen, num, anchors)
  else:
    finests = generate(pyr, frozen_i, finest_filled, n, k_gen, anchors)
  fulls = [
    np.asarray(to_input_size(pyr, frozen_i, f[None], filled, hole, kk, cfg))
    for f, kk in zip(finests, keys)
  ]
  k_tex = rng.texture_key(cfg.seed, key_id, ring)
  fulls = [finish_hole(x, hole, f, k_tex, cfg) for f in fulls]
  outs = [blend_lib.composite(pixels, f, alpha) for f in fulls]
  best = candidates.choose([image_io.to_float(o) for o in outs], hole)[0] if num > 1 else 0
  return {
    "output": outs[best],
    "filled": np.asarray(filled),
    "generated": fulls[best],
    "soft": alpha,
    "n": n,
    "candidate": best,
  }
