"""SinGAN's other applications on a trained pyramid, one module per mode, each a thin function
over the sampling and injection code (docs/applications.md):

  harmonize, edit   modes/harmonize.py    paint2image   modes/paint.py
  animate           modes/animate.py      super_resolve modes/super_resolve.py

`check` runs a mode's input checks before anything is trained or written; `run` writes the
mode's output (its core/applications.py file in the workdir for one image; a batch's jobs
name their own, jobs.output_name) from one image's slot of a trained (batched) pyramid.
"""

import importlib

from singan_jax import cli
from singan_jax import inputs
from singan_jax import rng
from singan_jax.core import applications
from singan_jax.core import errors
from singan_jax.modes import common

NAMES = applications.NAMES  # the one table of modes: core/applications.py


def _module(mode: str):
  return importlib.import_module(f"singan_jax.modes.{applications.BY_NAME[mode].module}")


def check_batch(cfg, mode: str, size) -> None:
  """Refuses what no image of the run could do: references with --config.common_size."""
  if size is not None and mode in applications.REFERENCE_MODES:
    raise inputs.UsageError(
      f"--mode={mode} reads references of each image's own size, but "
      f"--config.common_size={cfg.common_size} trains the images resized: drop "
      "--config.common_size (images of one pyramid shape still train together)"
    )


def job_config(cfg, job):
  """cfg with the job's references (a manifest row's ref_image / ref_mask, else the config's):
  the mode's other settings stay the run's."""
  if (job.ref_image, job.ref_mask) == (cfg.ref_image, cfg.ref_mask):
    return cfg
  own = cfg.copy_and_resolve_references()
  own.ref_image, own.ref_mask = job.ref_image, job.ref_mask
  return own


def check(cfg, mode: str, plan) -> str:
  """Why the mode cannot run on an image of this plan (its reference, region, scale), or '':
  the message of the first problem (the output's is the pipeline's, Job.outputs)."""
  try:
    _module(mode).check(cfg, mode, plan)
  except (errors.Error, OSError) as e:  # usage and image errors among the refusals
    return cli.message(e)
  return ""


def run(cfg, mode: str, pyr, path: str, slot: int = 0, plan=None, key_id: int = 0) -> str:
  """Runs the mode on image `slot` of the trained pyramid (plan: that image's own, default
  the pyramid's; key_id: the id its draws derive from) and writes its output to path."""
  one = common.one_image(pyr, slot, plan)
  module = _module(mode)
  if mode == "animate":
    module.write(path, module.apply(cfg, mode, one, key_id), cfg.animate_fps)
  else:
    module.write(path, module.apply(cfg, mode, one, key_id))
  return path
