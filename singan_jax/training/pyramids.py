"""The per-scale training arrays of a batch: reals (B, 1, h, w, 3) and known maps
(B, 1, h, w, 1) at every scale of its plan (core/pyramid.py's resizers), for one (B, H, W, 3)
array or a bucket of images of different sizes that share one pyramid shape."""

import jax.numpy as jnp
import numpy as np

from singan_jax.core import errors
from singan_jax.core import pyramid
from singan_jax.core import schema


def no_known_at_coarsest(mask_name: str, plan, mask_threshold: float) -> errors.InputError:
  """The refusal of a mask that leaves no known pixel at the coarsest scale (also raised by
  the pipeline's checks before training, singan_jax/inputs.py)."""
  return errors.InputError(
    f"{mask_name} leaves no known pixel at the coarsest scale {plan.shapes[0]} (mask "
    f"threshold {mask_threshold}), so there is nothing to learn from: use a smaller "
    "hole, a larger mask_threshold, or mask_mode=bbox",
    "mask_threshold",
    "mask_mode",
  )


def build_pyramids(networks: schema.Networks, plan, images: np.ndarray, holes: np.ndarray):
  """Per-scale reals (B, 1, h, w, 3) and known masks (B, 1, h, w, 1) of a batch, by the
  Networks section's mask rule (mask_threshold, mask_mode) and compat."""
  levels = pyramid.image_pyramid(jnp.asarray(images), plan, networks.compat)
  reals = [np.asarray(r)[:, None] for r in levels]
  per_image = [
    pyramid.mask_pyramid(hole, plan, networks.mask_threshold, networks.mask_mode, networks.compat)
    for hole in holes
  ]
  knowns = [np.stack([m[s] for m in per_image])[:, None] for s in range(plan.num_scales)]
  coarse_known = knowns[0].reshape(len(images), -1).sum(axis=1)
  if (coarse_known == 0).any():  # the pipeline refuses this before training (inputs.py)
    i = int(np.argmin(coarse_known))
    raise no_known_at_coarsest(f"the mask of image {i}", plan, networks.mask_threshold)
  return reals, knowns


def batch_pyramids(settings: schema.Settings, images, holes):
  """(plan, reals, knowns) of a batch: a (B, H, W, 3) array, or a list of (H_i, W_i, 3)
  images whose scale plans share their shapes (a bucket; the plan is the first image's)."""
  nets = settings.networks
  if isinstance(images, np.ndarray):
    plan = pyramid.plan_of(settings.plan, *images.shape[1:3])
    return (plan, *build_pyramids(nets, plan, images, holes))
  plans = [pyramid.plan_of(settings.plan, *x.shape[:2]) for x in images]
  if any(p.shapes != plans[0].shapes for p in plans):
    raise ValueError(
      "a batch given as a list must share one pyramid shape: group the "
      "images into buckets first (singan_jax.jobs.make_buckets)"
    )
  per_image = [
    build_pyramids(nets, p, x[None], hole[None]) for p, x, hole in zip(plans, images, holes)
  ]
  reals, knowns = (
    [np.concatenate(levels) for levels in zip(*[pyr[j] for pyr in per_image])] for j in (0, 1)
  )
  return plans[0], reals, knowns
