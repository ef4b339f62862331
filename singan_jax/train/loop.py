"""The coarse-to-fine loop: build each scale, train it with one jit-compiled iteration,
checkpoint it, and freeze it before moving one scale finer.

Works on a batch of B images that share a scale plan: every per-image pytree carries a
leading image axis and the iteration is `jax.vmap`-ed over it (B = 1 for a single image).
"""

import dataclasses
import hashlib
import json
import os
import time

from absl import logging
import jax
from jax.experimental import multihost_utils
from jax.experimental.compilation_cache import compilation_cache
import jax.numpy as jnp
import numpy as np

from singan_jax import config as config_lib
from singan_jax.train import checkpoint as ckpt_lib
from singan_jax.io import images as image_io
from singan_jax.core import losses
from singan_jax.core import pyramid
from singan_jax.core import sampling
from singan_jax.train import step as train_step


class NonFiniteError(RuntimeError):
  """A loss or parameter stopped being finite."""


@dataclasses.dataclass
class TrainedPyramid:
  """A finished pyramid: static plan and settings plus per-scale frozen pytrees (batched)."""

  plan: pyramid.ScalePlan
  net: sampling.NetConfig
  frozen: list  # FrozenScale per scale, leaves with a leading image axis
  reals: list  # (B, 1, h, w, 3) per scale
  knowns: list  # (B, 1, h, w, 1) per scale

  def generators(self):
    return [
      self.net.generator(self.plan.nfc[k], self.plan.min_nfc[k])
      for k in range(self.plan.num_scales)
    ]


def enable_compilation_cache(cfg) -> str:
  """Turns on JAX's persistent compilation cache (cfg.compilation_cache_dir, else
  $SINGAN_JAX_CACHE_DIR) so a second run of the same shapes compiles nothing; returns the
  directory ("" = off). Every compiled program is cached, however fast it compiled."""
  path = cfg.get("compilation_cache_dir", "") or os.environ.get("SINGAN_JAX_CACHE_DIR", "")
  if path and path != jax.config.jax_compilation_cache_dir:
    os.makedirs(path, exist_ok=True)
    jax.config.update("jax_compilation_cache_dir", path)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
    compilation_cache.reset_cache()  # re-read the directory even if jax compiled before
  return path


def build_pyramids(cfg, plan, images: np.ndarray, holes: np.ndarray):
  """Per-scale reals (B, 1, h, w, 3) and known masks (B, 1, h, w, 1) of a batch."""
  levels = pyramid.image_pyramid(jnp.asarray(images), plan, cfg.compat)
  reals = [np.asarray(r)[:, None] for r in levels]
  per_image = [
    pyramid.mask_pyramid(hole, plan, cfg.mask_threshold, cfg.mask_mode) for hole in holes
  ]
  knowns = [np.stack([m[s] for m in per_image])[:, None] for s in range(plan.num_scales)]
  coarse_known = knowns[0].reshape(len(images), -1).sum(axis=1)
  if (coarse_known == 0).any():
    raise ValueError(
      f"the hole covers the whole coarsest scale {plan.shapes[0]} (mask threshold "
      f"{cfg.mask_threshold}), so there is nothing to learn from: use a smaller hole, a "
      "larger --config.mask_threshold, or --config.mask_mode=bbox"
    )
  return reals, knowns


def batch_pyramids(cfg, images, holes):
  """(plan, reals, knowns) of a batch: a (B, H, W, 3) array, or a list of (H_i, W_i, 3)
  images whose scale plans share their shapes (a bucket; the plan is the first image's)."""
  if isinstance(images, np.ndarray):
    plan = config_lib.scale_plan(cfg, *images.shape[1:3])
    return (plan, *build_pyramids(cfg, plan, images, holes))
  plans = [config_lib.scale_plan(cfg, *x.shape[:2]) for x in images]
  if any(p.shapes != plans[0].shapes for p in plans):
    raise ValueError(
      "a batch given as a list must share one pyramid shape: group the "
      "images into buckets first (singan_jax.parallel.make_buckets)"
    )
  per_image = [
    build_pyramids(cfg, p, x[None], hole[None]) for p, x, hole in zip(plans, images, holes)
  ]
  reals, knowns = (
    [np.concatenate(levels) for levels in zip(*[pyr[j] for pyr in per_image])] for j in (0, 1)
  )
  return plans[0], reals, knowns


def to_host(x) -> np.ndarray:
  """A numpy copy of x, gathered from every process when x spans several hosts (all
  processes must call it then)."""
  if isinstance(x, jax.Array) and not x.is_fully_addressable:
    return np.asarray(multihost_utils.process_allgather(x, tiled=True))
  return np.asarray(x)


def fingerprint(*arrays) -> str:
  """Short content hash of the training inputs, for the resume guard."""
  h = hashlib.sha256()
  for a in arrays:
    a = np.ascontiguousarray(a)
    h.update(str(a.shape).encode())
    h.update(a.tobytes())
  return h.hexdigest()[:16]


def run_identity(cfg, plan, images, holes) -> dict:
  """What a workdir's pyramid depends on; a resume with anything else is refused.

  compat enters only when set, so workdirs written before the field existed still resume."""
  identity = {
    "inputs": fingerprint(images, holes),
    "plan": plan.to_dict(),
    "num_layer": cfg.num_layer,
    "partial": bool(cfg.partial),
    "pconv_norm": cfg.pconv_norm,
    "mask_mode": cfg.mask_mode,
    "mask_threshold": cfg.mask_threshold,
    "seed": cfg.seed,
    # The in-scale state's step count and lr schedule depend on these.
    "niter": cfg.niter,
    "Dsteps": cfg.Dsteps,
    "Gsteps": cfg.Gsteps,
  }
  if cfg.compat not in ("", "none"):
    identity["compat"] = cfg.compat
  return identity


def scale_key(seed: int, image_index: int, n: int):
  """PRNG key of (seed, image, scale): independent of how the run was split or resumed."""
  return jax.random.fold_in(jax.random.fold_in(jax.random.PRNGKey(seed), image_index), n)


def init_networks(plan, n, net, keys, h, w, dtype=jnp.float32):
  """Fresh G and D variables for a batch of keys (B,) at scale n."""
  gen = net.generator(plan.nfc[n], plan.min_nfc[n])
  disc = net.discriminator(plan.nfc[n], plan.min_nfc[n])

  def one(key):
    kg, kd = jax.random.split(key)
    x = jnp.zeros((1, h + 2 * sampling.PAD, w + 2 * sampling.PAD, 3), dtype)
    m = jnp.ones(x.shape[:-1] + (1,), dtype) if net.partial else None
    xd = jnp.zeros((1, h, w, 3), dtype)
    md = jnp.ones((1, h, w, 1), dtype) if net.partial else None
    return gen.init(kg, x, x, m), disc.init(kd, xd, md)

  return jax.vmap(one)(keys)


class MetricsWriter:
  """Appends one JSON object per line to workdir/metrics.jsonl."""

  def __init__(self, workdir: str):
    self.path = os.path.join(workdir, "metrics.jsonl")

  def write(self, record: dict) -> None:
    if jax.process_index() != 0:  # multi-host: one writer
      return
    with open(self.path, "a", encoding="utf-8") as f:
      f.write(json.dumps(record) + "\n")


def _fmt_time(seconds: float) -> str:
  seconds = int(round(seconds))
  return f"{seconds // 60}m{seconds % 60:02d}s" if seconds >= 60 else f"{seconds}s"


class LocalDevices:
  """Default placement: arrays stay where jax puts them, the iteration runs as it is.
  (singan_jax.parallel.MeshDevices shards the image axis over a device mesh instead.)"""

  @staticmethod
  def place(tree):
    return tree

  @staticmethod
  def map(fn):
    return fn


def train(cfg, workdir: str, images, holes, image_ids=None, devices=None) -> TrainedPyramid:
  """Trains (or resumes) the pyramid of a batch of images that share one pyramid shape.

  images: (B, H, W, 3) float32 in [-1, 1], or a list of (H_i, W_i, 3) (see batch_pyramids);
  holes: (B, H, W) bool (or a list), True = hole. image_ids: (B,) ints that key each image's
  random draws (default 0..B-1), so an image trains the same alone or in any batch.
  devices: place(tree) puts per-image pytrees (leading image axis) on devices, map(fn) wraps
  the batched iteration (parallel.MeshDevices: sharded over a mesh); default LocalDevices.
  """
  os.makedirs(workdir, exist_ok=True)
  enable_compilation_cache(cfg)
  plan, reals, knowns = batch_pyramids(cfg, images, holes)
  b = len(reals[0])
  ids = np.arange(b) if image_ids is None else np.asarray(image_ids, np.int32)
  if ids.shape != (b,):
    raise ValueError(f"image_ids has shape {ids.shape}: give one id per image ({b})")
  devices = devices or LocalDevices()
  net, tc = config_lib.net_settings(cfg, b), config_lib.train_settings(cfg)
  ckpts = ckpt_lib.PyramidCheckpoints(workdir)
  flat = lambda xs: xs if isinstance(xs, np.ndarray) else np.concatenate([np.ravel(x) for x in xs])
  identity = run_identity(cfg, plan, flat(images), flat(holes))
  if image_ids is not None:
    identity["image_ids"] = ids.tolist()
  ckpts.check_or_write_identity(identity)
  metrics = MetricsWriter(workdir)
  gens = [net.generator(plan.nfc[k], plan.min_nfc[k]) for k in range(plan.num_scales)]
  frozen, d_vars_prev = [], None
  logging.info(
    "scale plan: %d scales %s, nfc %s, scale factor %.4f",
    plan.num_scales,
    plan.shapes,
    plan.nfc,
    plan.scale_factor,
  )
  try:
    finished = set(ckpts.finished_scales())
    ckpts.clear_stale_inscale(sorted(finished))
    if finished:
      logging.info(
        "resuming in %s: scales 0..%d are finished and will not be retrained",
        workdir,
        max(finished),
      )
    for n in range(plan.num_scales):
      if n in finished:
        fs, d_vars_prev, _ = ckpts.restore_scale(n)
        frozen.append(fs)
        logging.info("scale %d/%d: already trained, restored from %s", n, plan.stop_scale, workdir)
        continue
      fs, d_vars_prev = _train_scale(
        cfg,
        plan,
        n,
        net,
        tc,
        gens,
        frozen,
        d_vars_prev,
        reals[n],
        knowns[n],
        ckpts,
        metrics,
        workdir,
        ids,
        devices,
        coarser_known=knowns[:n],
      )
      frozen.append(fs)
  finally:
    ckpts.close()
  return TrainedPyramid(plan, net, frozen, reals, knowns)


def _train_scale(
  cfg,
  plan,
  n,
  net,
  tc,
  gens,
  frozen,
  d_vars_prev,
  real,
  known,
  ckpts,
  metrics,
  workdir,
  ids,
  devices,
  coarser_known=(),
):
  """Trains scale n of every image in the batch; returns (FrozenScale, D variables)."""
  b = real.shape[0]
  h, w = plan.shapes[n]
  sheet_real, place = real, devices.place
  real, known = place((jnp.asarray(real), jnp.asarray(known)))
  # The coarser scales' known maps, read only by the 2019 training draws (net.train_masks).
  frozen_known = place(tuple(jnp.asarray(k) for k in coarser_known)) if net.train_masks else ()
  keys = place(jax.vmap(lambda i: scale_key(cfg.seed, i, n))(jnp.asarray(ids)))
  k_init, k_zopt, k_iter = (
    jax.vmap(lambda k, s=s: jax.random.fold_in(k, s))(keys) for s in (0, 1, 2)
  )
  if n > 0 and plan.nfc[n] == plan.nfc[n - 1] and plan.min_nfc[n] == plan.min_nfc[n - 1]:
    # Weight inheritance (copied: the state buffers are donated to the iteration).
    g_vars, d_vars = jax.tree.map(jnp.array, (frozen[n - 1].g_vars, d_vars_prev))
  else:
    g_vars, d_vars = init_networks(plan, n, net, k_init, h, w)
  if n == 0:
    z_opt = jax.vmap(lambda k: sampling.noise(k, 1, h, w, single_channel=True))(k_zopt)
  else:
    z_opt = place(jnp.zeros((b, 1, h, w, 3), jnp.float32))
  masked = known if net.partial else None
  if n == 0:
    z_prev = jnp.zeros_like(z_opt)
    noise_amp = place(jnp.ones((b,), jnp.float32))
  else:
    z_prev = jax.vmap(
      lambda fr, kn: sampling.draw_prev(
        fr,
        gens[:n],
        plan.shapes,
        plan.scale_factor,
        "rec",
        partial=net.partial,
        masks=kn if net.train_masks else None,
        compat=net.compat,
      )
    )(tuple(frozen), frozen_known)
    rmse = jax.vmap(losses.masked_rmse)(
      z_prev, jnp.asarray(real), None if masked is None else jnp.asarray(masked)
    )
    noise_amp = cfg.noise_amp * rmse
  inputs = place(
    train_step.ScaleInputs(
      real, known, z_opt, z_prev, noise_amp, k_iter, tuple(frozen), frozen_known
    )
  )
  state = place(jax.vmap(lambda g, d: train_step.init_state(g, d, tc))(g_vars, d_vars))
  start = ckpts.latest_inscale_step(n)
  if start is not None:
    state = ckpts.restore_inscale(n, start, state)
    logging.info("scale %d: resuming inside the scale at iteration %d/%d", n, start, tc.niter)
  else:
    start = 0
  step_fn = jax.jit(
    devices.map(jax.vmap(train_step.make_iteration(plan, n, net, tc))), donate_argnums=0
  )
  logging.info(
    "scale %d/%d: %dx%d, nfc %d, noise_amp %s, %d iterations",
    n,
    plan.stop_scale,
    h,
    w,
    plan.nfc[n],
    np.round(to_host(noise_amp), 4).tolist(),
    tc.niter,
  )
  t_start = time.time()
  t_window, it_window = t_start, start
  compile_s = None
  for it in range(start, tc.niter):
    state, m = step_fn(state, inputs)
    values = {k: to_host(v) for k, v in m.items()}
    if compile_s is None:
      compile_s = time.time() - t_start
      t_window, it_window = time.time(), it + 1
    bad = [k for k, v in values.items() if not np.isfinite(v).all()]
    if bad:
      raise NonFiniteError(
        f"scale {n}, iteration {it + 1}: {', '.join(bad)} stopped being finite; the last good "
        f"checkpoint is kept in {workdir}: lower the learning rates (--config.lr_g, "
        "--config.lr_d) or check the input"
      )
    done = it + 1
    if done % cfg.log_every == 0 or done == tc.niter:
      now = time.time()
      rate = (done - it_window) / max(now - t_window, 1e-9) if done > it_window else 0.0
      eta = (tc.niter - done) / rate if rate > 0 else float("nan")
      logging.info(
        "scale %d/%d it %d/%d  %.1f it/s  ETA %s  errD %.4f errG %.4f rec %.4f",
        n,
        plan.stop_scale,
        done,
        tc.niter,
        rate,
        _fmt_time(eta) if rate else "?",
        values["errD"].mean(),
        values["errG"].mean(),
        values["rec"].mean(),
      )
      metrics.write(
        {
          "scale": n,
          "iter": done,
          "it_per_s": round(rate, 3),
          "compile_s": round(compile_s, 2),
          **{k: v.tolist() for k, v in values.items()},
        }
      )
    if cfg.checkpoint_every and done % cfg.checkpoint_every == 0 and done < tc.niter:
      _check_finite_state(state, n, done, workdir)
      ckpts.save_inscale(n, done, state)
    ckpt_lib.kill_point("iteration", n, done)
  _check_finite_state(state, n, tc.niter, workdir)
  elapsed = time.time() - t_start
  fs = sampling.FrozenScale(
    {"params": state.g_params, "batch_stats": state.g_stats}, z_opt, noise_amp
  )
  d_vars = {"params": state.d_params, "batch_stats": state.d_stats}
  meta = {
    "scale": n,
    "shape": [h, w],
    "iterations": tc.niter,
    "seconds": round(elapsed, 2),
    "compile_s": round(compile_s or 0.0, 2),
  }
  ckpts.save_scale(n, fs, d_vars, meta)
  ckpt_lib.kill_point("scale_saved", n)
  ckpts.clear_inscale(n)
  iters = tc.niter - start
  logging.info(
    "scale %d/%d done: %d iterations in %s (compile %.1fs, %.1f it/s)",
    n,
    plan.stop_scale,
    iters,
    _fmt_time(elapsed),
    compile_s or 0.0,
    max(iters - 1, 0) / max(elapsed - (compile_s or 0.0), 1e-9),
  )
  if cfg.sheets:
    write_sheets(
      workdir, plan, net, gens[: n + 1], frozen + [fs], sheet_real, n, cfg.seed, ids, place
    )
  return fs, d_vars


def _check_finite_state(state, n, it, workdir):
  leaves = jax.tree.leaves((state.g_params, state.d_params, state.g_stats, state.d_stats))
  if not all(bool(jnp.isfinite(x).all()) for x in leaves):
    raise NonFiniteError(
      f"scale {n}, iteration {it}: network parameters or statistics stopped being finite; "
      f"the last good checkpoint is kept in {workdir}: lower the learning rates or check "
      "the input"
    )


def write_sheets(workdir, plan, net, gens, frozen, real, n, seed, ids=None, place=None):
  """PNG per image: real | random sample | reconstruction at scale n (process 0 writes
  each image id once: a padded batch repeats ids)."""
  key = jax.random.fold_in(jax.random.PRNGKey(seed), 10_000 + n)
  h0, w0 = plan.shapes[0]

  def draws(fr, k):
    x0 = jnp.zeros((1, h0, w0, 3), jnp.float32)
    args = (fr, gens, plan.shapes, plan.scale_factor, x0, 0)
    rand = sampling.chain(*args, "rand", k, net.partial, compat=net.compat)
    rec = sampling.chain(*args, "rec", None, net.partial, compat=net.compat)
    return rand, rec

  b = real.shape[0]
  ids = np.arange(b) if ids is None else np.asarray(ids)
  keys = jax.random.split(key, b)
  rand, rec = jax.vmap(draws)(tuple(frozen), place(keys) if place else keys)
  rand, rec = to_host(rand), to_host(rec)
  if jax.process_index() != 0:
    return
  gap = np.ones((plan.shapes[n][0], 2, 3), np.float32)
  for i in sorted(set(np.unique(ids, return_index=True)[1].tolist())):
    sheet = np.concatenate([np.asarray(real[i, 0]), gap, rand[i, 0], gap, rec[i, 0]], axis=1)
    name = f"scale_{n}.png" if b == 1 else f"image_{ids[i]}_scale_{n}.png"
    image_io.write_image(os.path.join(workdir, "sheets", name), image_io.from_float(sheet))
