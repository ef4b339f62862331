"""Voting a hole from a nearest-neighbour field: every patch covering a pixel votes its
source's value, weighted by the patch's similarity (Wexler et al. 2007). x (H,W,C) float;
centres and NNF entries (y, x) int32; the fields come from singan_jax/inpainting/patchmatch.py.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp


def patch_offsets(half: int) -> jax.Array:
  """(P*P, 2) int32 offsets (dy, dx) of a (2h+1)^2 patch, row-major."""
  r = jnp.arange(-half, half + 1, dtype=jnp.int32)
  dy, dx = jnp.meshgrid(r, r, indexing="ij")
  return jnp.stack([dy.ravel(), dx.ravel()], axis=-1)


def reconstruct(x, valid, nnf_map, dist_map, tyx, half, sigma2=1.0):
  """Vote (T,C) values for the target pixels tyx (T,2) and a (T,) flag "got any vote".

  Each patch centred at c that covers pixel q (c = q - o) votes x[nnf[c] + o]; votes are
  averaged with Wexler et al. (2007) similarity weights exp(-(d_c - min d) / (2 sigma2)),
  d_c = the patch's SSD, or uniformly when dist_map is None. Patches whose NNF entry is
  not a valid source (only possible for targets dropped by max_targets) do not vote.
  """
  h, w = x.shape[:2]
  bounds = jnp.array([h - 1, w - 1])
  offs = patch_offsets(half)  # (K,2)
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


def vote_into(est, x, hole, valid, nnf_map, dist_map, tyx, half, sigma2=1.0):
  """Estimate (H,W,C) with hole pixels replaced by their votes (kept where none arrive)."""
  recon, voted = reconstruct(x, valid, nnf_map, dist_map, tyx, half, sigma2)
  recon = jnp.where(voted[:, None], recon, est[jnp.clip(tyx[:, 0], 0, est.shape[0] - 1), tyx[:, 1]])
  return jnp.where(hole[..., None], est.at[tyx[:, 0], tyx[:, 1]].set(recon, mode="drop"), x)


def vote_scale(best_d: jax.Array, real: jax.Array) -> jax.Array:
  """sigma^2 for the similarity weights: 75th percentile of the finite target distances."""
  d = jnp.where(real & jnp.isfinite(best_d), best_d, jnp.nan)
  s2 = jnp.nanquantile(d, 0.75)
  return jnp.where(jnp.isfinite(s2), jnp.maximum(s2, 1e-6), 1.0)
