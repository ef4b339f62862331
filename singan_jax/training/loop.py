"""The coarse-to-fine loop: per scale, prepare it (keys, weight inheritance, z_opt,
noise_amp, resume), fit it (one jit-compiled iteration run niter times, progress, in-scale
checkpoints) and freeze it (save, sheets) before moving one scale finer.

Works on a batch of B images that share a scale plan: every per-image pytree carries a
leading image axis and the iteration is `jax.vmap`-ed over it (B = 1 for a single image).
"""

import dataclasses
from typing import Any

from absl import logging
import jax
import jax.numpy as jnp
import numpy as np

from singan_jax import rng
from singan_jax.core import losses
from singan_jax.core import pyramid
from singan_jax.core import sampling
from singan_jax.core import schema
from singan_jax.training import ahead as ahead_lib
from singan_jax.training import checkpoint as ckpt_lib
from singan_jax.training import compile_cache
from singan_jax.training import concurrent
from singan_jax.training import curves as curves_lib
from singan_jax.training import monitor
from singan_jax.training import preemption
from singan_jax.training import run as run_lib
from singan_jax.training import pyramids
from singan_jax.training import sheets as sheets_lib
from singan_jax.training import step as train_step


@dataclasses.dataclass
class TrainedPyramid:
  """A finished pyramid: static plan and settings plus per-scale frozen pytrees (batched)."""

  plan: pyramid.ScalePlan
  net: sampling.NetConfig
  frozen: list  # FrozenScale per scale, leaves with a leading image axis
  reals: list  # (B, 1, h, w, 3) per scale
  knowns: list  # (B, 1, h, w, 1) per scale

  def generators(self) -> sampling.Generators:
    """Every scale's generator module and the drawing's static settings."""
    return sampling.Generators.of(self.plan, self.net)


def init_networks(plan, n, net, keys, h, w, dtype=jnp.float32):
  """Fresh G and D variables for a batch of keys (B,) at scale n, in one jit-compiled program
  (op by op, flax's init of the demo's scale 0 took 25 s of small compiles; jitted 7 s)."""
  gen = net.generator(plan.nfc[n], plan.min_nfc[n])
  disc = net.discriminator(plan.nfc[n], plan.min_nfc[n])

  def one(key):
    kg, kd = jax.random.split(key)
    x = jnp.zeros((1, h + 2 * sampling.PAD, w + 2 * sampling.PAD, 3), dtype)
    m = jnp.ones(x.shape[:-1] + (1,), dtype) if net.partial else None
    xd = jnp.zeros((1, h, w, 3), dtype)
    md = jnp.ones((1, h, w, 1), dtype) if net.partial else None
    return gen.init(kg, x, x, m), disc.init(kd, xd, md)

  return jax.jit(jax.vmap(one))(keys)


@dataclasses.dataclass
class Scale:
  """A scale ready to fit: its training state, its inputs, the iteration it starts from."""

  n: int
  state: train_step.ScaleState
  inputs: train_step.ScaleInputs
  start: int
  real_host: Any  # (B, 1, h, w, 3) as built, for the sheets


def train(
  settings: schema.Settings,
  workdir: str,
  images,
  holes,
  image_ids=None,
  devices=None,
  stop=None,
  record=None,
) -> TrainedPyramid:
  """Trains (or resumes) the pyramid of a batch of images that share one pyramid shape.

  images: (B, H, W, 3) float32 in [-1, 1], or a list of (H_i, W_i, 3) (pyramids.py);
  holes: (B, H, W) bool (or a list), True = hole. image_ids: (B,) ints that key each image's
  random draws (default 0..B-1), so an image trains the same alone or in any batch.
  devices: place(tree) puts per-image pytrees (leading image axis) on devices, map(fn) wraps
  the batched iteration (distributed.MeshDevices: sharded over a mesh); default LocalDevices.
  stop: a preemption.StopRequest read after every iteration; default one that SIGTERM sets
  while this call runs. Raises preemption.Preempted after saving where it stopped.
  record: called with the run identity before the resume guard compares it (the pipeline
  writes run.json's config record there, so a conflict is told in flags).
  """
  if stop is None:
    with preemption.stop_on_sigterm(preemption.StopRequest()) as stop:
      return train(settings, workdir, images, holes, image_ids, devices, stop, record)
  compile_cache.enable(settings.runtime)
  plan, reals, knowns = pyramids.batch_pyramids(settings, images, holes)
  run = run_lib.open_run(settings, workdir, plan, images, holes, image_ids, devices, stop, record)
  frozen, d_vars = [], None
  try:
    finished = run_lib.finished_scales(run)
    for n in range(plan.num_scales):
      if n in finished:
        fs, d_vars, _, retrained = run.ckpts.restore_scale(n)
        _adopt_retrained(frozen, retrained)
        logging.info("scale %d/%d: already trained, restored from %s", n, plan.stop_scale, workdir)
      else:
        fs, d_vars = train_scale(run, n, frozen, d_vars, reals[n], knowns[: n + 1])
      frozen.append(fs)
      if n < plan.stop_scale and stop.due_between_scales():  # before compiling scale n + 1
        raise _stopped(run, n, run.tc.niter)
  finally:
    run.ckpts.close()  # first: the checkpoints are safe before waiting for a compile
    run.ahead.join()
  if isinstance(run.devices, run_lib.LocalDevices):
    # On the host, as a restored pyramid is: the inpainting then compiles the same programs
    # (device arrays key the compilation cache by their placement), so a re-run on this
    # workdir finds every one in the cache.
    frozen = [jax.tree.map(np.asarray, fs) for fs in frozen]
  return TrainedPyramid(plan, run.net, frozen, reals, knowns)


def _adopt_retrained(frozen: list, retrained: dict) -> None:
  """Puts the generators a finer scale's concurrent training changed ({k: g_vars}) in
  frozen, in place: restored in scale order, each scale ends as its last trainer left it."""
  for k, g_vars in retrained.items():
    frozen[k] = frozen[k].replace(g_vars=g_vars)


def _stopped(run: run_lib.Run, n: int, done: int) -> preemption.Preempted:
  """Logs where a stopped run stopped (its state is saved); the exception to raise."""
  stopped = preemption.Preempted(run.stop.reason, run.workdir, n, done, run.tc.niter)
  logging.warning("%s", stopped)
  return stopped


def train_scale(run: run_lib.Run, n: int, frozen: list, d_vars_prev, real, knowns):
  """Trains scale n of every image in the batch (knowns: the known maps of scales 0..n);
  returns (FrozenScale, D variables)."""
  scale = prepare_scale(run, n, frozen, d_vars_prev, real, knowns)
  try:
    state, clock = fit_scale(run, scale)
  except jax.errors.JaxRuntimeError as e:  # out of device memory: say what to change
    if not monitor.is_out_of_memory(e):
      raise
    loop = train_step.resolve_step_loop(run.tc.step_loop, run.net.conv_impl)
    raise monitor.out_of_memory(e, n, run.plan, len(run.ids), loop, run.workdir) from e
  return freeze_scale(run, scale, state, clock, frozen)


def prepare_scale(run: run_lib.Run, n: int, frozen: list, d_vars_prev, real, knowns) -> Scale:
  """Keys, weight inheritance, z_opt and noise_amp, and the optimizer state (restored when
  an interrupted run saved one inside this scale)."""
  place = run.devices.place
  real_dev, known_dev = place((jnp.asarray(real), jnp.asarray(knowns[n])))
  # The coarser scales' known maps, read only by the 2019 training draws (net.train_masks).
  coarser = place(tuple(jnp.asarray(k) for k in knowns[:n])) if run.net.train_masks else ()
  k_init, k_zopt, k_iter = place(
    jax.vmap(lambda i: rng.train_keys(run.settings.inputs.seed, i, n))(jnp.asarray(run.ids))
  )
  g_vars, d_vars = _initial_variables(run, n, frozen, d_vars_prev, k_init)
  z_opt, z_prev, noise_amp = _reconstruction_inputs(
    run, n, frozen, coarser, real_dev, known_dev, k_zopt
  )
  stage_known = ()
  if run.tc.schedule == "concurrent":  # the chain j..n: its generators, z_prev at scale j
    j = concurrent.first_stage(n, run.tc)
    stage_vars = tuple(jax.tree.map(jnp.array, frozen[k].g_vars) for k in range(j, n))
    stage_vars += (g_vars,)
    state = jax.vmap(lambda s, d: concurrent.init_state(s, d, run.tc, n))(stage_vars, d_vars)
    if j == 0:  # the chain starts at the coarsest scale: from zeros, as scale 0 does
      z_prev = jnp.zeros((len(run.ids), 1, *run.plan.shapes[0], 3), jnp.float32)
    elif j < n:
      z_prev = _coarser_reconstruction(run, j, frozen, coarser)
    stage_known = place(tuple(jnp.asarray(k) for k in knowns[j:n]))
  else:
    state = jax.vmap(lambda g, d: train_step.init_state(g, d, run.tc))(g_vars, d_vars)
  inputs = place(
    train_step.ScaleInputs(
      real_dev, known_dev, z_opt, z_prev, noise_amp, k_iter, tuple(frozen), coarser, stage_known
    )
  )
  state = place(state)
  start = run.ckpts.latest_inscale_step(n)
  if start is not None:
    state = run.ckpts.restore_inscale(n, start, state)
    logging.info("scale %d: resuming inside the scale at iteration %d/%d", n, start, run.tc.niter)
  return Scale(n, state, inputs, start or 0, real)


def _initial_variables(run: run_lib.Run, n: int, frozen: list, d_vars_prev, k_init):
  """(G, D) variables: the coarser scale's when the widths match (weight inheritance,
  copied: the state buffers are donated to the iteration), else fresh ones."""
  plan = run.plan
  if n > 0 and plan.nfc[n] == plan.nfc[n - 1] and plan.min_nfc[n] == plan.min_nfc[n - 1]:
    return jax.tree.map(jnp.array, (frozen[n - 1].g_vars, d_vars_prev))
  h, w = plan.shapes[n]
  return init_networks(plan, n, run.net, k_init, h, w)


def _reconstruction_inputs(run: run_lib.Run, n: int, frozen: list, coarser, real, known, k_zopt):
  """(z_opt, z_prev, noise_amp): scale 0 reconstructs from fixed noise at amplitude 1; finer
  scales from the coarser reconstruction, amplitude noise_amp x its RMSE to the real."""
  plan, b = run.plan, len(run.ids)
  h, w = plan.shapes[n]
  if n == 0:
    z_opt = jax.vmap(lambda k: sampling.noise(k, 1, h, w, single_channel=True))(k_zopt)
    return z_opt, jnp.zeros_like(z_opt), run.devices.place(jnp.ones((b,), jnp.float32))
  z_opt = run.devices.place(jnp.zeros((b, 1, h, w, 3), jnp.float32))
  z_prev = _coarser_reconstruction(run, n, frozen, coarser)
  rmse = jax.vmap(losses.masked_rmse)(z_prev, real, known if run.net.partial else None)
  return z_opt, z_prev, run.tc.noise_amp * rmse


def _coarser_reconstruction(run: run_lib.Run, n: int, frozen: list, coarser):
  """(B, 1, h_n, w_n, 3): scales 0..n-1's reconstruction, upsampled to scale n."""
  gens, train_masks = run.generators(n), run.net.train_masks
  return jax.vmap(
    lambda fr, kn: sampling.draw_prev(gens, fr, "rec", masks=kn[:n] if train_masks else None)
  )(tuple(frozen[:n]), coarser)


def compile_iteration(run: run_lib.Run, n: int):
  """Scale n's batched iteration, jit-compiled once, the state donated, finiteness watched
  on device: (state, inputs, health) -> (state, metrics, health)."""
  schedule = concurrent if run.tc.schedule == "concurrent" else train_step
  one = schedule.make_iteration(run.plan, n, run.net, run.tc)
  batched = jax.vmap(monitor.watched(one, train_step.METRICS))
  return jax.jit(run.devices.map(batched), donate_argnums=0)


def _compile_next_ahead(run: run_lib.Run, n: int, state, inputs, health) -> None:
  """Starts compiling scale n + 1's iteration in the background (runtime.compile_ahead; a
  single-device run that has a next scale), from abstract arguments built from scale n's."""
  single = isinstance(run.devices, run_lib.LocalDevices) and jax.device_count() == 1
  if not (run.settings.runtime.compile_ahead and single and n < run.plan.stop_scale):
    return
  # Shapes taken now: the worker may run after the next iteration has donated state's buffers.
  snap = ahead_lib.abstract((state, inputs, health))
  args = lambda: ahead_lib.next_scale_args(run.plan, run.net, run.tc, n, *snap, init_networks)
  run.ahead.start(n + 1, compile_iteration(run, n + 1), args)


def fit_scale(run: run_lib.Run, scale: Scale):
  """Runs the scale's iterations from scale.start; syncs with the host only at the sync
  points (every log_every, in-scale checkpoints, the end). Returns (state, clock)."""
  runtime, n, niter = run.settings.runtime, scale.n, run.tc.niter
  clock = monitor.Clock(scale.start)  # its compile time includes waiting for the ahead one
  step_fn = compile_iteration(run, n)
  compiled = run.ahead.take(n)
  if compiled is not None:
    step_fn = ahead_lib.first_call_checked(compiled, step_fn, n)
  logging.info(
    "scale %d/%d: %dx%d, nfc %d, noise_amp %s, %d iterations",
    n,
    run.plan.stop_scale,
    *run.plan.shapes[n],
    run.plan.nfc[n],
    monitor.fmt_amps(scale.inputs.noise_amp),
    niter,
  )
  state, inputs = scale.state, scale.inputs
  health = run.devices.place(monitor.healthy(len(run.ids), train_step.METRICS))
  for it in range(scale.start, niter):
    state, metrics, health = step_fn(state, inputs, health)
    done = it + 1
    if it == scale.start:
      clock.first_call(metrics, done)
      _compile_next_ahead(run, n, state, scale.inputs, health)
    # Run-wide iteration ids are contiguous across scales (scale n ends at (n + 1) * niter).
    stop = run.stop.due(n * niter + done) and done < niter  # at niter: freeze, then stop
    log = done % runtime.log_every == 0 or done == niter or stop
    save = runtime.checkpoint_every and done % runtime.checkpoint_every == 0 and done < niter
    if log or save or stop:
      monitor.raise_if_unhealthy(health, train_step.METRICS, n, run.ids, run.workdir)
    if log:
      monitor.log_iteration(run.metrics, n, run.plan.stop_scale, done, niter, metrics, clock)
    if save or stop:
      monitor.check_finite_state(state, n, done, run.workdir)
      run.ckpts.save_inscale(n, done, state)
    if stop:
      raise _stopped(run, n, done)
    ckpt_lib.kill_point("iteration", n, done)
  return state, clock


def freeze_scale(run: run_lib.Run, scale: Scale, state, clock: monitor.Clock, frozen: list):
  """Checks and saves the finished scale, drops its in-scale state, logs it and writes its
  sheets and the run's curves so far; returns (FrozenScale, D variables). Under the
  concurrent schedule the coarser generators it trained replace theirs in frozen."""
  n, niter = scale.n, run.tc.niter
  monitor.check_finite_state(state, n, niter, run.workdir)
  if run.tc.schedule == "concurrent":
    g_vars, retrained = concurrent.trained_generators(state, n, run.tc)
  else:
    g_vars, retrained = {"params": state.g_params, "batch_stats": state.g_stats}, {}
  fs = sampling.FrozenScale(g_vars, scale.inputs.z_opt, scale.inputs.noise_amp)
  d_vars = {"params": state.d_params, "batch_stats": state.d_stats}
  record = monitor.scale_record(n, run.plan.shapes[n], niter, clock)
  run.ckpts.save_scale(n, fs, d_vars, record, retrained)
  _adopt_retrained(frozen, retrained)
  ckpt_lib.kill_point("scale_saved", n)
  run.ckpts.clear_inscale(n)
  monitor.log_scale_done(record, run.plan.stop_scale, niter - scale.start)
  if run.settings.runtime.sheets:
    sheets = sheets_lib.write_sheets(
      run.workdir,
      run.generators(n + 1),
      frozen + [fs],
      scale.real_host,
      n,
      run.settings.inputs.seed,
      run.ids,
      run.devices.place,
    )
    run.metrics.write_sheets(n, sheets)
    if jax.process_index() == 0:  # the one that writes metrics.jsonl
      curves_lib.redraw(run.workdir, niter)
  return fs, d_vars
