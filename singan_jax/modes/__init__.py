"""SinGAN's other applications on a trained pyramid, one module per mode, each a thin function
over the sampling and injection code (docs/applications.md):

  harmonize, edit   modes/harmonize.py    paint2image   modes/paint.py
  animate           modes/animate.py      super_resolve modes/super_resolve.py

`check` runs a mode's input checks before anything is trained or written; `run` writes the
mode's output (common.OUTPUTS) into the workdir.
"""

import importlib

from singan_jax import rng
from singan_jax import workdir as workdir_lib
from singan_jax.modes import common

NAMES = rng.APPLICATIONS
_MODULES = {
  "harmonize": "harmonize",
  "edit": "harmonize",
  "paint2image": "paint",
  "animate": "animate",
  "super_resolve": "super_resolve",
}


def _module(mode: str):
  return importlib.import_module(f"singan_jax.modes.{_MODULES[mode]}")


def check(cfg, mode: str, plan, workdir: str) -> str:
  """Why the mode cannot run on this image (its reference, scale, output), or '': the
  message of the first problem."""
  problem = workdir_lib.output_problem(common.output_path(workdir, mode))
  if problem:
    return problem
  try:
    _module(mode).check(cfg, mode, plan)
  except (ValueError, OSError) as e:  # UsageError and image_io.ImageError are ValueErrors
    return str(e)
  return ""


def run(cfg, mode: str, pyr, workdir: str) -> str:
  """Runs the mode on the trained pyramid and writes its output; returns the output's path."""
  path = common.output_path(workdir, mode)
  module = _module(mode)
  if mode == "animate":
    module.write(path, module.apply(cfg, mode, pyr), cfg.animate_fps)
  else:
    module.write(path, module.apply(cfg, mode, pyr))
  return path
