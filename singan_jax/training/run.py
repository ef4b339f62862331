"""What every scale of one training run shares (Run) and how a run opens: its settings, its
checkpoints with the resume guard's identity checked (or written), its metrics file and the
devices it runs on."""

import dataclasses
import os
from typing import Any

from absl import logging
import numpy as np

from singan_jax.core import pyramid
from singan_jax.core import sampling
from singan_jax.core import schema
from singan_jax.training import ahead as ahead_lib
from singan_jax.training import checkpoint as ckpt_lib
from singan_jax.training import monitor
from singan_jax.training import preemption
from singan_jax.training import step as train_step


class LocalDevices:
  """Default placement: arrays stay where jax puts them, the iteration runs as it is.
  (singan_jax.distributed.MeshDevices shards the image axis over a device mesh instead.)"""

  @staticmethod
  def place(tree):
    return tree

  @staticmethod
  def map(fn):
    return fn


@dataclasses.dataclass
class Run:
  """What every scale of one training run shares."""

  settings: schema.Settings  # the run's config sections (plan, networks, training, runtime)
  workdir: str
  plan: pyramid.ScalePlan
  net: sampling.NetConfig
  tc: train_step.TrainConfig
  ids: np.ndarray  # (B,) image ids: they key each image's draws (rng.train_keys)
  devices: Any  # LocalDevices or parallel.MeshDevices
  ckpts: ckpt_lib.PyramidCheckpoints
  metrics: monitor.MetricsWriter
  stop: preemption.StopRequest  # read after every iteration (SIGTERM, preemption notice)
  ahead: ahead_lib.Ahead  # the next scale's iteration, compiled while this one trains

  def generators(self, upto: int) -> sampling.Generators:
    """Scales 0..upto-1's generators, for drawing through the trained scales."""
    return sampling.Generators.of(self.plan, self.net, upto)


def open_run(settings, workdir, plan, images, holes, image_ids, devices, stop, record) -> Run:
  """The run's settings, its checkpoints (the identity checked or written) and metrics file."""
  b = len(images)
  ids = np.arange(b) if image_ids is None else np.asarray(image_ids, np.int32)
  if ids.shape != (b,):
    raise ValueError(f"image_ids has shape {ids.shape}: give one id per image ({b})")
  os.makedirs(workdir, exist_ok=True)
  ckpts = ckpt_lib.PyramidCheckpoints(workdir)
  flat = lambda xs: xs if isinstance(xs, np.ndarray) else np.concatenate([np.ravel(x) for x in xs])
  identity = ckpt_lib.run_identity(settings, plan, flat(images), flat(holes))
  if image_ids is not None:
    identity["image_ids"] = ids.tolist()
  if record is not None:
    record(identity)
  ckpts.check_or_write_identity(identity)
  logging.info(
    "scale plan: %d scales %s, nfc %s, scale factor %.4f",
    plan.num_scales,
    plan.shapes,
    plan.nfc,
    plan.scale_factor,
  )
  net, tc = sampling.NetConfig.of(settings.networks, b), settings.training
  devices = devices or LocalDevices()
  metrics = monitor.MetricsWriter(workdir)
  return Run(
    settings, workdir, plan, net, tc, ids, devices, ckpts, metrics, stop, ahead_lib.Ahead()
  )


def finished_scales(run: Run) -> set:
  """Scales a previous run finished (kept); stale in-scale states of those are dropped."""
  finished = set(run.ckpts.finished_scales())
  run.ckpts.clear_stale_inscale(sorted(finished))
  if finished:
    logging.info(
      "resuming in %s: scales 0..%d are finished and will not be retrained",
      run.workdir,
      max(finished),
    )
  return finished
