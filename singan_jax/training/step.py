"""One SinGAN iteration at one scale (Dsteps critic updates, Gsteps generator updates).

`make_iteration` returns a pure function (state, inputs) -> (state, metrics) for ONE image;
the trainer vmaps it over images and jit-compiles it once per scale. All randomness comes from
inputs.key folded with the iteration number, so a run is reproducible from (seed, scale, step).
"""

import dataclasses
from typing import Any, NamedTuple

import flax
import jax
import jax.numpy as jnp
import optax

from singan_jax import rng
from singan_jax.core import losses
from singan_jax.core import partial_conv
from singan_jax.core import sampling
from singan_jax.core import schema


METRICS = ("errD", "errG", "rec", "gp")  # an iteration's metrics, in this order
SCHEDULES = schema.SCHEDULES


# One scale's static training hyper-parameters (hashable): the config's Training section.
TrainConfig = schema.Training


@flax.struct.dataclass
class ScaleState:
  """Everything that changes while a scale trains."""

  g_params: Any
  g_stats: Any
  d_params: Any
  d_stats: Any
  g_opt: Any
  d_opt: Any
  step: jax.Array  # () int32: iterations done


@flax.struct.dataclass
class ScaleInputs:
  """Everything a scale's iteration reads but never changes (per image)."""

  real: jax.Array  # (1, h, w, 3)
  known: jax.Array  # (1, h, w, 1), 1 = known
  z_opt: jax.Array  # (1, h, w, 3)
  z_prev: jax.Array  # (1, h, w, 3) reconstruction of the coarser scales, upsampled
  noise_amp: jax.Array  # ()
  key: jax.Array  # PRNG key of this (image, scale)
  frozen: tuple  # FrozenScale of every coarser scale
  frozen_known: tuple = ()  # (1, h_k, w_k, 1) known map per coarser scale (compat 2019 draws)
  stage_known: tuple = ()  # concurrent schedule: the known maps of the chain's scales j..n-1


def lr_milestone(tc: TrainConfig) -> int:
  """Iteration from which the learning rate is multiplied by gamma."""
  return int(tc.lr_drop * tc.niter)


def make_optimizer(lr: float, tc: TrainConfig, steps_per_iter: int) -> optax.GradientTransformation:
  """Adam(lr, (beta1, 0.999), eps 1e-8) with the drop at lr_drop * niter iterations."""
  schedule = optax.piecewise_constant_schedule(lr, {lr_milestone(tc) * steps_per_iter: tc.gamma})
  return optax.adam(schedule, b1=tc.beta1, b2=0.999, eps=1e-8)


def optimizers(tc: TrainConfig):
  """(G optimizer, D optimizer)."""
  return make_optimizer(tc.lr_g, tc, tc.Gsteps), make_optimizer(tc.lr_d, tc, tc.Dsteps)


def init_state(g_vars, d_vars, tc: TrainConfig) -> ScaleState:
  """Fresh optimizer state around given network variables."""
  opt_g, opt_d = optimizers(tc)
  return ScaleState(
    g_vars["params"],
    g_vars["batch_stats"],
    d_vars["params"],
    d_vars["batch_stats"],
    opt_g.init(g_vars["params"]),
    opt_d.init(d_vars["params"]),
    jnp.zeros((), jnp.int32),
  )


@flax.struct.dataclass
class IterationDraws:
  """The random draws of one iteration, explicit so a reference can be fed the same ones."""

  z: jax.Array  # (1, h, w, 3) noise map shared by every D and G step (unpadded)
  prevs: jax.Array  # (Dsteps, h, w, 3) one coarser-scale random draw per D step, upsampled
  alphas: jax.Array  # (Dsteps,) gradient-penalty interpolation scalar per D step


def make_draws(plan, n: int, net: sampling.NetConfig, tc: TrainConfig):
  """(key, frozen, dtype) -> IterationDraws: the draws `make_iteration` makes from its key."""
  coarser = sampling.Generators.of(plan, net, upto=n)
  h, w = plan.shapes[n]

  def draws(key, frozen, dtype, frozen_known=()):
    k_noise, k_prev, k_alpha = jax.random.split(key, 3)
    z = sampling.noise(k_noise, 1, h, w, single_channel=(n == 0), dtype=dtype)
    # One random coarser-scale draw per D step, run as one batch (eval-mode BatchNorm is
    # per sample, so this equals Dsteps separate draws).
    prevs = sampling.draw_prev(
      coarser,
      frozen,
      "rand",
      k_prev,
      tc.Dsteps,
      dtype,
      masks=frozen_known if net.train_masks else None,
    )
    alphas = jax.random.uniform(k_alpha, (tc.Dsteps,), dtype)
    return IterationDraws(z, jax.lax.stop_gradient(prevs), alphas)

  return draws


def make_iteration(plan, n: int, net: sampling.NetConfig, tc: TrainConfig):
  """The iteration function of scale n for one image: (state, inputs) -> (state, metrics).

  Draws its randomness from inputs.key folded with state.step, then runs
  `make_iteration_core`.
  """
  core = make_iteration_core(plan, n, net, tc)
  draw = make_draws(plan, n, net, tc)

  def iteration(state: ScaleState, inputs: ScaleInputs):
    key = rng.step_key(inputs.key, state.step)
    return core(state, inputs, draw(key, inputs.frozen, inputs.real.dtype, inputs.frozen_known))

  return iteration


def make_iteration_core(plan, n: int, net: sampling.NetConfig, tc: TrainConfig):
  """(state, inputs, draws) -> (state, metrics): one iteration with its random draws given.

  inputs.key and inputs.frozen are not read; parity tests feed the PyTorch port's draws.
  """
  run_g, run_d = appliers(
    net.generator(plan.nfc[n], plan.min_nfc[n]), net.discriminator(plan.nfc[n], plan.min_nfc[n])
  )

  def generate(params, stats, prev, v):  # prev (1, h, w, 3): the coarser scales' draw
    prev_p = sampling.pad(prev)
    return run_g(params, stats, v.amp * v.z + prev_p, prev_p, v.g_mask)

  def reconstruct(params, stats, v):
    z_prev_p = sampling.pad(v.z_prev)
    return run_g(params, stats, v.amp * sampling.pad(v.z_opt) + z_prev_p, z_prev_p, v.g_mask)

  opt_g, opt_d = optimizers(tc)
  steps = make_steps(generate, reconstruct, run_d, opt_g, opt_d, tc, net.conv_impl)
  return lambda state, inputs, draws: steps(state, _view(inputs, draws, net.partial), draws)


def make_steps(generate, reconstruct, run_d, opt_g, opt_d, tc: TrainConfig, conv_impl: str):
  """(state, view, draws) -> (state, metrics): Dsteps critic then Gsteps generator updates.

  generate(g_params, g_stats, prev, view) -> (fake, g_stats) draws a fake from the coarser
  scales' draw prev; reconstruct(g_params, g_stats, view) -> (image, g_stats) the
  reconstruction; the view carries real, known (None: vanilla) and masked() for the critic.
  """
  tc = dataclasses.replace(tc, step_loop=resolve_step_loop(tc.step_loop, conv_impl))
  critic_steps = _critic_steps(generate, run_d, opt_d, tc)
  generator_steps = _generator_steps(generate, reconstruct, run_d, opt_g, tc)

  def steps(state: ScaleState, v, draws: IterationDraws):
    (d_params, d_stats, d_opt_state, g_stats), (err_ds, gps) = critic_steps(
      v, state, draws.prevs, draws.alphas
    )
    (g_params, g_stats, d_stats, g_opt_state), (err_gs, recs) = generator_steps(
      v, (state.g_params, g_stats, d_stats, state.g_opt), d_params, draws.prevs[-1:]
    )
    new_state = ScaleState(
      g_params, g_stats, d_params, d_stats, g_opt_state, d_opt_state, state.step + 1
    )
    return new_state, dict(zip(METRICS, (err_ds[-1], err_gs[-1], recs[-1], gps[-1])))

  return steps


class _View(NamedTuple):
  """One image's inputs as the steps read them (masks None for vanilla nets)."""

  real: jax.Array  # (1, h, w, 3)
  known: jax.Array | None  # (1, h, w, 1): the critic's mask and the masked losses'
  g_mask: jax.Array | None  # the generator's input mask (padded like its input)
  amp: jax.Array  # () noise amplitude
  z: jax.Array  # (1, h + 2 PAD, w + 2 PAD, 3) the iteration's noise, padded
  z_opt: jax.Array  # (1, h, w, 3)
  z_prev: jax.Array  # (1, h, w, 3)

  def masked(self, x):
    """x with its hole zeroed (partial nets), as the critic sees it."""
    return x if self.known is None else x * self.known


def _view(inputs: ScaleInputs, draws: IterationDraws, partial: bool) -> _View:
  known = inputs.known if partial else None
  g_mask = sampling.pad(inputs.known) if partial else None
  z = sampling.pad(draws.z)
  return _View(inputs.real, known, g_mask, inputs.noise_amp, z, inputs.z_opt, inputs.z_prev)


def appliers(gen, disc):
  """(run_g, run_d): train-mode applications returning (output, new BatchNorm stats)."""

  def run_g(params, stats, x, prev_p, mask):
    out, upd = gen.apply(
      {"params": params, "batch_stats": stats}, x, prev_p, mask, train=True, mutable=["batch_stats"]
    )
    return out, upd["batch_stats"]

  def run_d(params, stats, x, mask):
    out, upd = disc.apply(
      {"params": params, "batch_stats": stats}, x, mask, train=True, mutable=["batch_stats"]
    )
    return out, upd["batch_stats"]

  return run_g, run_d


def _critic_steps(generate, run_d, opt_d, tc: TrainConfig):
  """(view, state, prevs, alphas) -> ((d_params, d_stats, d_opt, g_stats), (errD, gp) per
  step): Dsteps critic updates against fakes of the current generator."""

  def steps(v: _View, state: ScaleState, prevs, alphas):
    def d_loss(params, stats, fake, a):
      out_real, stats = run_d(params, stats, v.masked(v.real), v.known)
      out_fake, stats = run_d(params, stats, v.masked(fake), v.known)
      gp, stats = losses.gradient_penalty(
        lambda x: run_d(params, stats, x, v.known),
        v.masked(v.real),
        v.masked(fake),
        a,
        tc.lambda_grad,
      )
      err = -jnp.mean(out_real) + jnp.mean(out_fake) + gp
      return err, (stats, gp)

    def d_step(carry, xs):
      d_params, d_stats, d_opt_state, g_stats = carry
      prev, a = xs
      fake, g_stats = generate(state.g_params, g_stats, prev[None], v)
      fake = jax.lax.stop_gradient(fake)
      (err_d, (d_stats, gp)), grads = jax.value_and_grad(d_loss, has_aux=True)(
        d_params, d_stats, fake, a
      )
      updates, d_opt_state = opt_d.update(grads, d_opt_state, d_params)
      d_params = optax.apply_updates(d_params, updates)
      return (d_params, d_stats, d_opt_state, g_stats), (err_d, gp)

    carry = (state.d_params, state.d_stats, state.d_opt, state.g_stats)
    return _loop(d_step, carry, (prevs, alphas), tc.step_loop)

  return steps


def _generator_steps(generate, reconstruct, run_d, opt_g, tc: TrainConfig):
  """(view, (g_params, g_stats, d_stats, g_opt), d_params, prev) -> (that carry updated,
  (errG, rec) per step): Gsteps generator updates, adversarial + alpha x reconstruction."""

  def steps(v, carry, d_params, prev):
    def g_loss(params, stats, d_stats):
      fake, stats = generate(params, stats, prev, v)
      out, d_stats = run_d(d_params, d_stats, v.masked(fake), v.known)
      err = -jnp.mean(out)
      rec = jnp.zeros((), v.real.dtype)
      if tc.alpha != 0:
        rec_img, stats = reconstruct(params, stats, v)
        rec = losses.masked_mse(rec_img, v.real, v.known)
        err = err + tc.alpha * rec
      return err, (stats, d_stats, rec)

    def g_step(carry, _):
      g_params, g_stats, d_stats, g_opt_state = carry
      (err_g, (g_stats, d_stats, rec)), grads = jax.value_and_grad(g_loss, has_aux=True)(
        g_params, g_stats, d_stats
      )
      updates, g_opt_state = opt_g.update(grads, g_opt_state, g_params)
      g_params = optax.apply_updates(g_params, updates)
      return (g_params, g_stats, d_stats, g_opt_state), (err_g, rec)

    return _loop(g_step, carry, jnp.arange(tc.Gsteps), tc.step_loop)

  return steps


def resolve_step_loop(step_loop: str, conv_impl: str, backend: str | None = None) -> str:
  """'auto' -> 'scan' on a GPU or TPU (half the device memory of the unrolled steps in XLA's
  buffer assignment: 13 against 25 GiB at max_size 1024, docs/gpu.md) and where the
  convolutions are oneDNN's (a third less compiling and no slower: docs/performance.md);
  else 'unrolled' (XLA's convolutions ran 15-27x faster unrolled than in a loop on XLA:CPU).
  backend: jax's default backend unless given."""
  schema.check(schema.Training, "step_loop", step_loop)
  if step_loop != "auto":
    return step_loop
  if (backend or jax.default_backend()) != "cpu":
    return "scan"
  return "scan" if partial_conv.resolve_impl(conv_impl) == "onednn" else "unrolled"


def _loop(step, carry, xs, step_loop: str):
  """lax.scan(step, carry, xs) ('scan'), or the same loop unrolled in Python ('unrolled');
  step_loop is resolved (make_iteration_core)."""
  if step_loop == "scan":
    return jax.lax.scan(step, carry, xs)
  n = jax.tree.leaves(xs)[0].shape[0]
  outs = []
  for i in range(n):
    carry, out = step(carry, jax.tree.map(lambda x: x[i], xs))
    outs.append(out)
  return carry, jax.tree.map(lambda *o: jnp.stack(o), *outs)
