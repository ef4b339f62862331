"""Watching a scale train: finiteness tracked on device, progress logs, metrics.jsonl and
TensorBoard.

The compiled iteration carries a small `Health` pytree: the first iteration whose metrics
stopped being finite (-1: none yet) and which metrics they were. The host reads it only at
sync points (every log_every iterations, in-scale checkpoints, the scale's end), so the loop
never waits on the device just to test for NaN, and the error still names the exact
iteration.
"""

import json
import os
import time

from absl import logging
import flax
import jax
from jax.experimental import multihost_utils
import jax.numpy as jnp
import numpy as np

from singan_jax.training import tensorboard_writer as tb_lib


class NonFiniteError(RuntimeError):
  """A loss or parameter stopped being finite."""


class OutOfMemoryError(RuntimeError):
  """A scale's iteration needed more device memory than the device has."""


def is_out_of_memory(error: Exception) -> bool:
  """Whether a JAX runtime error is XLA's out-of-memory one (RESOURCE_EXHAUSTED)."""
  return isinstance(error, jax.errors.JaxRuntimeError) and "RESOURCE_EXHAUSTED" in str(error)


def out_of_memory(error, n: int, plan, images: int, step_loop: str, workdir: str):
  """The OutOfMemoryError for scale n of plan (images: the batch) that says what is kept and
  what to change; the trainer's resolved step_loop decides the first hint."""
  shape, nfc, device = plan.shapes[n], plan.nfc[n], jax.local_devices()[0]
  limit = (device.memory_stats() or {}).get("bytes_limit")
  has = f" ({limit / 2**30:.1f} GiB)" if limit else ""
  fixes = ["--config.step_loop=scan (half the memory)"] if step_loop == "unrolled" else []
  fixes += [  # by what they save (docs/gpu.md): bf16 convolutions only ~9%
    "fewer images per run",
    "a smaller --config.max_size (in a new --workdir)",
    "--config.compute_dtype=bfloat16",
  ]
  return OutOfMemoryError(
    f"scale {n} ({shape[0]}x{shape[1]}, nfc {nfc}, {images} image(s)) ran out of memory on "
    f"{device.device_kind}{has}; scales 0..{n - 1} are saved in {workdir} and a rerun resumes "
    f"there: rerun with {', or '.join(fixes)} [XLA: {str(error).splitlines()[0][:160]}]"
  )


def to_host(x) -> np.ndarray:
  """A numpy copy of x, gathered from every process when x spans several hosts (all
  processes must call it then)."""
  if isinstance(x, jax.Array) and not x.is_fully_addressable:
    if x.sharding.is_fully_replicated:
      return np.asarray(x.addressable_data(0))
    return np.asarray(multihost_utils.process_allgather(x, tiled=True))
  return np.asarray(x)


@flax.struct.dataclass
class Health:
  """Device-side finiteness record of one image's iterations at a scale."""

  first_bad: jax.Array  # () int32: first iteration (1-based) with a non-finite metric, or -1
  bad: jax.Array  # (len(names),) bool: which metrics were non-finite at that iteration


def healthy(batch: int, names) -> Health:
  """The record of a batch before its first iteration (leading image axis)."""
  return Health(jnp.full((batch,), -1, jnp.int32), jnp.zeros((batch, len(names)), bool))


def watched(iteration, names):
  """Wraps one image's (state, inputs) -> (state, metrics) into (state, inputs, health) ->
  (state, metrics, health), updating the record on device (no host sync)."""

  def fn(state, inputs, health: Health):
    state, metrics = iteration(state, inputs)
    bad = jnp.stack([~jnp.all(jnp.isfinite(metrics[k])) for k in names])
    first = (health.first_bad < 0) & jnp.any(bad)
    health = Health(
      jnp.where(first, state.step, health.first_bad), jnp.where(first, bad, health.bad)
    )
    return state, metrics, health

  return fn


def raise_if_unhealthy(health: Health, names, n: int, ids, workdir: str) -> None:
  """Raises NonFiniteError naming scale n, the first bad iteration, its metrics and (in a
  batch) the images; a host sync, so called only every log_every iterations."""
  first = to_host(health.first_bad)
  if (first < 0).all():
    return
  it = int(first[first >= 0].min())
  rows = np.flatnonzero(first == it)
  bad = to_host(health.bad)[rows].any(axis=0)
  which = ", ".join(k for k, b in zip(names, bad) if b)
  images = "" if len(first) == 1 else f" (image {', '.join(str(ids[r]) for r in rows)})"
  raise NonFiniteError(
    f"scale {n}, iteration {it}: {which} stopped being finite{images}; the last good "
    f"checkpoint is kept in {workdir}: lower the learning rates (--config.lr_g, "
    "--config.lr_d) or check the input"
  )


def check_finite_state(state, n: int, it: int, workdir: str) -> None:
  """Raises NonFiniteError when a network parameter or statistic is not finite. Checked on
  host copies: a reduction over an image-sharded array would be a cross-device all-reduce,
  whose rendezvous XLA:CPU aborts after 40 s when its virtual devices are starved of cores."""
  leaves = jax.tree.leaves((state.g_params, state.d_params, state.g_stats, state.d_stats))
  if not all(np.isfinite(to_host(x)).all() for x in leaves):
    raise NonFiniteError(
      f"scale {n}, iteration {it}: network parameters or statistics stopped being finite; "
      f"the last good checkpoint is kept in {workdir}: lower the learning rates or check "
      "the input"
    )


class MetricsWriter:
  """Appends one JSON object per iteration record to workdir/metrics.jsonl and writes the
  same values, and the scales' sheets, to TensorBoard under workdir/tb (process 0 only)."""

  def __init__(self, workdir: str):
    self.path = os.path.join(workdir, "metrics.jsonl")
    self.tensorboard = tb_lib.TensorBoardWriter(os.path.join(workdir, tb_lib.TB_DIR))

  def write(self, record: dict) -> None:
    if jax.process_index() != 0:  # multi-host: one writer
      return
    with open(self.path, "a", encoding="utf-8") as f:
      f.write(json.dumps(record) + "\n")
    self.tensorboard.write_scalars(record["iter"], tb_lib.iteration_scalars(record))

  def write_sheets(self, n: int, sheets: dict) -> None:
    """sheets: tag -> (H, W, 3) uint8 sheet of scale n (the step of TensorBoard's slider)."""
    if jax.process_index() == 0 and sheets:
      self.tensorboard.write_images(n, sheets)


def peak_device_bytes() -> int | None:
  """The high-water mark of device memory in use, bytes, the largest over this process's
  devices; None where the backend reports none (XLA:CPU). XLA has no reset, so read at the
  end of scale n it covers scales 0..n: scale n's own peak, as the scales grow coarse to fine."""
  stats = [d.memory_stats() for d in jax.local_devices()]
  peaks = [s["peak_bytes_in_use"] for s in stats if s and "peak_bytes_in_use" in s]
  return max(peaks) if peaks else None


def fmt_time(seconds: float) -> str:
  seconds = int(round(seconds))
  return f"{seconds // 60}m{seconds % 60:02d}s" if seconds >= 60 else f"{seconds}s"


def fmt_amps(noise_amp) -> str:
  """Noise amplitudes as a short list, e.g. [0.0188, 0.021]."""
  return "[" + ", ".join(f"{a:.4g}" for a in np.ravel(to_host(noise_amp))) + "]"


def log_progress(n, stop, done, niter, rate, values) -> None:
  eta = (niter - done) / rate if rate > 0 else float("nan")
  logging.info(
    "scale %d/%d it %d/%d  %.1f it/s  ETA %s  errD %.4f errG %.4f rec %.4f",
    n,
    stop,
    done,
    niter,
    rate,
    fmt_time(eta) if rate else "?",
    values["errD"].mean(),
    values["errG"].mean(),
    values["rec"].mean(),
  )


class Clock:
  """Compile time (the first call, the one sync outside the sync points) and the rate since."""

  def __init__(self, start: int):
    self.t0 = time.time()
    self.compile_s, self.window = None, (self.t0, start)

  def first_call(self, metrics, done: int) -> None:
    jax.block_until_ready(metrics)
    now = time.time()
    self.compile_s, self.window = now - self.t0, (now, done)

  def rate(self, done: int) -> float:
    t, it = self.window
    return (done - it) / max(time.time() - t, 1e-9) if done > it else 0.0


def log_iteration(writer: MetricsWriter, n, stop, done, niter, metrics: dict, clock: Clock):
  """The progress line and the metrics.jsonl record of iteration `done` (a host sync)."""
  values = {k: to_host(v) for k, v in metrics.items()}
  rate = clock.rate(done)
  log_progress(n, stop, done, niter, rate, values)
  writer.write(
    {
      "scale": n,
      "iter": done,
      "it_per_s": round(rate, 3),
      "compile_s": round(clock.compile_s, 2),
      **{k: v.tolist() for k, v in values.items()},
    }
  )


def scale_record(n: int, shape, niter: int, clock: Clock) -> dict:
  """What a finished scale took, saved with it (checkpoint meta): shape, iterations, seconds,
  compile seconds and, where the backend reports it, the peak device memory in bytes."""
  record = {
    "scale": n,
    "shape": list(shape),
    "iterations": niter,
    "seconds": round(time.time() - clock.t0, 2),
    "compile_s": round(clock.compile_s or 0.0, 2),
  }
  peak = peak_device_bytes()
  if peak is not None:
    record["peak_device_bytes"] = peak
  return record


def log_scale_done(record: dict, stop: int, iters: int) -> None:
  """The finished scale's log line; iters: the iterations this process ran (after a resume,
  fewer than the scale's)."""
  elapsed, compile_s = record["seconds"], record["compile_s"]
  peak = record.get("peak_device_bytes")
  logging.info(
    "scale %d/%d done: %d iterations in %s (compile %.1fs, %.1f it/s%s)",
    record["scale"],
    stop,
    iters,
    fmt_time(elapsed),
    compile_s,
    max(iters - 1, 0) / max(elapsed - compile_s, 1e-9),
    "" if peak is None else f", peak device memory {peak / 2**20:.0f} MiB",
  )
