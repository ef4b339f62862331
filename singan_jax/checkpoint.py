"""Orbax checkpoints of a pyramid: one per finished scale, plus the newest in-scale state.

Layout under the workdir:
  run.json            what was trained (plan, networks, inputs' fingerprint): resume guard
  scales/<n>/         finished scale n: generator and critic variables, z_opt, noise_amp
  inscale/<n>/<it>/   the training state of unfinished scale n after `it` iterations
Orbax writes each step to a temporary directory and renames it when complete, so an
interrupted save never looks finished.
"""
import json
import os

import jax
import numpy as np
import orbax.checkpoint as ocp

from singan_jax import sampling


class IncompatibleRunError(ValueError):
  """The workdir holds a pyramid trained with different inputs or architecture."""


def _manager(directory: str, max_to_keep):
  return ocp.CheckpointManager(
      os.path.abspath(directory),
      options=ocp.CheckpointManagerOptions(max_to_keep=max_to_keep, create=True))


def write_json_atomic(path: str, obj) -> None:
  """Writes JSON through a temporary file and a rename."""
  tmp = f"{path}.tmp-{os.getpid()}"
  with open(tmp, "w", encoding="utf-8") as f:
    json.dump(obj, f, indent=1, sort_keys=True)
    f.flush()
    os.fsync(f.fileno())
  os.replace(tmp, path)


class PyramidCheckpoints:
  """Finished scales and in-scale training state of one workdir."""

  def __init__(self, workdir: str):
    self.workdir = workdir
    self._scales = _manager(os.path.join(workdir, "scales"), None)
    self._inscale = {}

  # -- run identity ------------------------------------------------------------------------
  def check_or_write_identity(self, identity: dict) -> None:
    """Refuses a workdir trained for something else; records the identity otherwise."""
    path = os.path.join(self.workdir, "run.json")
    if os.path.exists(path):
      with open(path, encoding="utf-8") as f:
        saved = json.load(f)
      for key in sorted(set(saved) | set(identity)):
        if saved.get(key) != identity.get(key):
          raise IncompatibleRunError(
              f"workdir {self.workdir} holds a pyramid trained with a different {key} "
              f"({_short(saved.get(key))} there, {_short(identity.get(key))} now): use a new "
              "--workdir, or restore the original setting")
    else:
      write_json_atomic(path, identity)

  # -- finished scales ---------------------------------------------------------------------
  def finished_scales(self) -> list[int]:
    return sorted(self._scales.all_steps())

  def save_scale(self, n: int, frozen: sampling.FrozenScale, d_vars, meta: dict) -> None:
    tree = {"g_vars": frozen.g_vars, "z_opt": frozen.z_opt, "noise_amp": frozen.noise_amp,
            "d_vars": d_vars}
    self._scales.save(n, args=ocp.args.Composite(state=ocp.args.StandardSave(tree),
                                                 meta=ocp.args.JsonSave(meta)))
    self._scales.wait_until_finished()

  def restore_scale(self, n: int):
    """(FrozenScale, d_vars, meta) of finished scale n."""
    r = self._scales.restore(n, args=ocp.args.Composite(state=ocp.args.StandardRestore(),
                                                        meta=ocp.args.JsonRestore()))
    tree = jax.tree.map(np.asarray, r.state)
    frozen = sampling.FrozenScale(tree["g_vars"], tree["z_opt"], tree["noise_amp"])
    return frozen, tree["d_vars"], r.meta

  # -- in-scale state ----------------------------------------------------------------------
  def _inscale_manager(self, n: int):
    if n not in self._inscale:
      self._inscale[n] = _manager(os.path.join(self.workdir, "inscale", str(n)), 1)
    return self._inscale[n]

  def latest_inscale_step(self, n: int):
    if not os.path.isdir(os.path.join(self.workdir, "inscale", str(n))):
      return None
    return self._inscale_manager(n).latest_step()

  def save_inscale(self, n: int, it: int, state) -> None:
    mngr = self._inscale_manager(n)
    mngr.save(it, args=ocp.args.StandardSave(state))
    mngr.wait_until_finished()

  def restore_inscale(self, n: int, it: int, target_state):
    return self._inscale_manager(n).restore(it, args=ocp.args.StandardRestore(target_state))

  def clear_inscale(self, n: int) -> None:
    """Drops scale n's in-scale state once the scale is saved as finished."""
    mngr = self._inscale.pop(n, None)
    if mngr is not None:
      mngr.close()
    directory = os.path.join(self.workdir, "inscale", str(n))
    if os.path.isdir(directory):
      import shutil
      shutil.rmtree(directory)

  def close(self) -> None:
    self._scales.close()
    for mngr in self._inscale.values():
      mngr.close()


def _short(value) -> str:
  text = json.dumps(value, sort_keys=True)
  return text if len(text) <= 80 else text[:77] + "..."
