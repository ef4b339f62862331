"""Best of K: generate K inpaintings in parallel and keep the one that looks most like the rest.

The K draws differ only in their noise keys and run as one `jax.vmap`-ed program. They are
ranked without ground truth by the seam score and the patch-statistics distance
(singan_jax/core/no_reference.py); the winner has the lowest sum of its two ranks (ties: lowest
patch distance), so neither score's units dominate.
"""

import jax
import numpy as np

from singan_jax.core import errors
from singan_jax.core import no_reference
from singan_jax.core import sampling
from singan_jax import rng


def generate_many(pyr, frozen_i, finest_filled, n: int, key, k: int, anchors=None):
  """K injections of finest_filled (1, h_N, w_N, 3) at scale n, one per key of
  jax.random.split(key, k): (K, h_N, w_N, 3). anchors: see sampling.chain."""
  if k < 1:
    raise errors.SettingError(
      f"num_candidates is {k}: use 1 (a single draw) or more", "num_candidates"
    )
  gens = sampling.Generators.of(pyr.plan, pyr.net)
  keys = rng.candidate_keys(key, k)

  def one(kk):
    return sampling.inject(gens, frozen_i, finest_filled, n, kk, anchors)[0]

  return jax.vmap(one)(keys)


def _ranks(values: np.ndarray) -> np.ndarray:
  """0-based ranks, lowest value first (stable on ties)."""
  r = np.empty(len(values), np.int64)
  r[np.argsort(values, kind="stable")] = np.arange(len(values))
  return r


def choose(outputs, hole) -> tuple[int, list[dict]]:
  """(index of the best, per-candidate scores) of K blended outputs (K, H, W, 3) in [-1, 1]."""
  scores = [no_reference.no_reference(o, hole) for o in outputs]
  seam = np.array([s["seam"] for s in scores])
  swd = np.array([s["patch_swd"] for s in scores])
  total = _ranks(seam) + _ranks(swd)
  best = min(range(len(scores)), key=lambda i: (total[i], swd[i]))
  return int(best), scores
