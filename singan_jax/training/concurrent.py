"""The concurrent schedule (ConSinGAN-style, Hinz et al. 2021): at scale n the generators of
the `train_depth` finest scales so far, j..n, train together as one chain.

The critic and the losses are scale n's, as in SinGAN; the gradient of scale n's output
reaches every generator of the chain, each updated by its own Adam at lr_g x lr_scale^(n - k),
so a finer scale corrects what the coarser ones got wrong instead of inheriting it. Each scale
keeps its own image-to-image generator (unlike ConSinGAN's one growing feature generator), so
the pyramid, its checkpoints and every inpainting and application mode are SinGAN's.

State: a ScaleState whose g_params, g_stats and g_opt hold the chain's stages j..n (tuples,
scale n last). Inputs: ScaleInputs whose z_prev is the coarser reconstruction at scale j, with
the chain's known maps in stage_known.
"""

import dataclasses

import jax
import jax.numpy as jnp
import optax

from singan_jax import rng
from singan_jax.core import resize as resize_lib
from singan_jax.core import sampling
from singan_jax.training import step as train_step


def first_stage(n: int, tc: train_step.TrainConfig) -> int:
  """The coarsest scale scale n's chain trains: n itself under SinGAN's schedule."""
  return max(0, n - tc.train_depth + 1) if tc.schedule == "concurrent" else n


def trained_generators(state: train_step.ScaleState, n: int, tc: train_step.TrainConfig):
  """(scale n's G variables, {k: G variables} of the coarser scales j..n-1 it retrained) from
  a finished chain state, whose G params and stats are tuples over the chain j..n."""
  j = first_stage(n, tc)
  retrained = {
    k: {"params": state.g_params[i], "batch_stats": state.g_stats[i]}
    for i, k in enumerate(range(j, n))
  }
  return {"params": state.g_params[-1], "batch_stats": state.g_stats[-1]}, retrained


def chain_optimizer(tc: train_step.TrainConfig, n: int) -> optax.GradientTransformation:
  """One Adam per stage of scale n's chain (a tuple of parameter trees, scale n last), stage k
  at lr_g x lr_scale^(n - k), each with SinGAN's drop at lr_drop x niter."""
  j = first_stage(n, tc)
  opts = {
    str(k): train_step.make_optimizer(tc.lr_g * tc.lr_scale ** (n - k), tc, tc.Gsteps)
    for k in range(j, n + 1)
  }
  labels = lambda params: tuple(
    jax.tree.map(lambda _, k=k: str(k), p) for k, p in zip(range(j, n + 1), params)
  )
  return optax.multi_transform(opts, labels)


def init_state(stage_vars, d_vars, tc: train_step.TrainConfig, n: int) -> train_step.ScaleState:
  """Fresh optimizer states around the chain's generator variables (a tuple, scale n last)."""
  params = tuple(v["params"] for v in stage_vars)
  opt_d = train_step.make_optimizer(tc.lr_d, tc, tc.Dsteps)
  return train_step.ScaleState(
    params,
    tuple(v["batch_stats"] for v in stage_vars),
    d_vars["params"],
    d_vars["batch_stats"],
    chain_optimizer(tc, n).init(params),
    opt_d.init(d_vars["params"]),
    jnp.zeros((), jnp.int32),
  )


@dataclasses.dataclass(frozen=True)
class _ChainView:
  """One image's inputs and draws as the chain reads them (per stage j..n: tuples)."""

  real: jax.Array  # (1, h_n, w_n, 3)
  known: jax.Array | None  # (1, h_n, w_n, 1): the critic's mask (None: vanilla nets)
  g_masks: tuple  # per stage: its generator's padded input mask, or None
  amps: tuple  # per stage: () noise amplitude
  zs: tuple  # per stage: (1, h_k + 2 PAD, w_k + 2 PAD, 3) the iteration's noise, padded
  z_opts: tuple  # per stage: (1, h_k, w_k, 3) reconstruction noise
  z_prev: jax.Array  # (1, h_j, w_j, 3) the frozen scales' reconstruction at scale j

  def masked(self, x):
    return x if self.known is None else x * self.known


def make_iteration(plan, n: int, net: sampling.NetConfig, tc: train_step.TrainConfig):
  """Scale n's concurrent iteration for one image: (state, inputs) -> (state, metrics)."""
  j = first_stage(n, tc)
  gens = [net.generator(plan.nfc[k], plan.min_nfc[k]) for k in range(j, n + 1)]
  disc = net.discriminator(plan.nfc[n], plan.min_nfc[n])
  _, run_d = train_step.appliers(gens[-1], disc)

  def run_chain(params, stats, x, zs, v):
    """Stages j..n from x (1, h_j, w_j, 3) in train mode: (image at scale n, new stats)."""
    new_stats = []
    for i, k in enumerate(range(j, n + 1)):
      if i:
        x = resize_lib.resize(x, 1.0 / plan.scale_factor, plan.shapes[k], net.compat)
      x_p = sampling.pad(x)
      x, upd = gens[i].apply(
        {"params": params[i], "batch_stats": stats[i]},
        v.amps[i] * zs[i] + x_p,
        x_p,
        v.g_masks[i],
        train=True,
        mutable=["batch_stats"],
      )
      new_stats.append(upd["batch_stats"])
    return x, tuple(new_stats)

  generate = lambda params, stats, prev, v: run_chain(params, stats, prev, v.zs, v)
  reconstruct = lambda params, stats, v: run_chain(
    params, stats, v.z_prev, tuple(sampling.pad(z) for z in v.z_opts), v
  )
  opt_d = train_step.make_optimizer(tc.lr_d, tc, tc.Dsteps)
  steps = train_step.make_steps(
    generate, reconstruct, run_d, chain_optimizer(tc, n), opt_d, tc, net.conv_impl
  )
  draw = make_draws(plan, n, net, tc)

  def iteration(state, inputs: train_step.ScaleInputs):
    draws, zs = draw(rng.step_key(inputs.key, state.step), inputs)
    return steps(state, _view(inputs, zs, j, n, net.partial), draws)

  return iteration


def _view(inputs: train_step.ScaleInputs, zs, j: int, n: int, partial: bool) -> _ChainView:
  stages = range(j, n + 1)
  knowns = tuple(inputs.stage_known) + (inputs.known,)
  frozen = inputs.frozen
  return _ChainView(
    inputs.real,
    inputs.known if partial else None,
    tuple(sampling.pad(kn) if partial else None for kn in knowns),
    tuple(frozen[k].noise_amp for k in stages if k < n) + (inputs.noise_amp,),
    tuple(sampling.pad(z) for z in zs),
    tuple(frozen[k].z_opt for k in stages if k < n) + (inputs.z_opt,),
    inputs.z_prev,
  )


def make_draws(plan, n: int, net: sampling.NetConfig, tc: train_step.TrainConfig):
  """(key, inputs) -> (IterationDraws, per-stage noise): the frozen scales' random draws at
  scale j (one per critic step), a noise map per stage j..n, the penalty's alphas."""
  j = first_stage(n, tc)
  frozen_draws = train_step.make_draws(plan, j, net, tc)

  def draws(key, inputs: train_step.ScaleInputs):
    k_frozen, k_stages = jax.random.split(key)
    frozen_known = inputs.frozen_known[:j] if net.train_masks else ()
    d = frozen_draws(k_frozen, inputs.frozen[:j], inputs.real.dtype, frozen_known)
    zs = tuple(
      sampling.noise(jax.random.fold_in(k_stages, k), 1, *plan.shapes[k], k == 0, inputs.real.dtype)
      for k in range(j, n + 1)
    )
    return d, zs

  return draws
