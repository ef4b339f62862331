"""Orbax checkpoints of a pyramid: one per finished scale, plus the newest in-scale state.

Layout under the workdir:
  run.json            what was trained (plan, networks, inputs' fingerprint): resume guard;
                      its "config" entry records the config fields (singan_jax/workdir.py)
  scales/<n>/         finished scale n: generator and critic variables, z_opt, noise_amp
  inscale/<n>/<it>/   the training state of unfinished scale n after `it` iterations
Orbax writes each step to `<step>.orbax-checkpoint-tmp` and renames it when complete, so an
interrupted save never looks finished; leftovers are removed when the workdir is reopened.

Test hook: SINGAN_JAX_TEST_KILL_AT=point:scale[:step] makes the process SIGKILL itself at a
named point (see `kill_point`), so tests can interrupt a real run exactly where they want.
"""

import glob
import hashlib
import json
import os
import shutil
import signal

from absl import logging
import jax
import numpy as np
import orbax.checkpoint as ocp

from singan_jax.core import errors
from singan_jax.core import sampling
from singan_jax.core import schema

KILL_ENV = "SINGAN_JAX_TEST_KILL_AT"
# run.json's record of the config a pyramid was trained with (singan_jax/workdir.py reads and
# adopts it); kept beside the identity and left out of the identity comparison.
RECORD_KEY = "config"
# Named points of `kill_point`: after run.json was first written (scale 0); after an
# iteration finished; while an in-scale or a finished-scale checkpoint is being written
# (orbax's temporary directory exists, not yet renamed); after a finished scale was saved
# but before its in-scale state was dropped.
KILL_POINTS = ("identity_written", "iteration", "inscale_write", "scale_write", "scale_saved")


class IncompatibleRunError(errors.Error):
  """The workdir holds a pyramid trained with different inputs or architecture."""


class CheckpointError(errors.Error):
  """A checkpoint in the workdir is inconsistent or cannot be read."""


def fingerprint(*arrays) -> str:
  """Short content hash of the training inputs, for the resume guard."""
  h = hashlib.sha256()
  for a in arrays:
    a = np.ascontiguousarray(a)
    h.update(str(a.shape).encode())
    h.update(a.tobytes())
  return h.hexdigest()[:16]


def run_identity(settings: schema.Settings, plan, images, holes) -> dict:
  """What a workdir's pyramid depends on; a resume with anything else is refused: the inputs,
  the plan, and the other FIXED fields of core/schema.py (compat and the concurrent schedule's
  only where set, so workdirs written before those fields existed still resume)."""
  return {"inputs": fingerprint(images, holes), "plan": plan.to_dict()} | (
    schema.identity_fields(settings)
  )


def kill_point(point: str, scale: int, step: int | None = None) -> None:
  """Test hook: SIGKILLs this process if SINGAN_JAX_TEST_KILL_AT names this point.

  The variable holds `point:scale` (any step) or `point:scale:step`, point in KILL_POINTS,
  e.g. `iteration:0:25` (after iteration 25 of scale 0) or `scale_write:1`. Unset: no-op.
  """
  spec = os.environ.get(KILL_ENV)
  if not spec:
    return
  parts = spec.split(":")
  if parts[0] not in KILL_POINTS or len(parts) not in (2, 3):
    raise ValueError(
      f"{KILL_ENV}={spec!r} is not point:scale[:step] with point in {KILL_POINTS}: fix or unset it"
    )
  if parts[0] != point or int(parts[1]) != scale:
    return
  if len(parts) == 3 and (step is None or int(parts[2]) != step):
    return
  logging.warning(
    "%s=%s: killing this process (SIGKILL) at %s, scale %d, step %s",
    KILL_ENV,
    spec,
    point,
    scale,
    step,
  )
  logging.flush()
  os.kill(os.getpid(), signal.SIGKILL)


def _manager(directory: str, max_to_keep):
  return ocp.CheckpointManager(
    os.path.abspath(directory),
    options=ocp.CheckpointManagerOptions(
      max_to_keep=max_to_keep, create=True, cleanup_tmp_directories=True
    ),
  )


def write_json_atomic(path: str, obj) -> None:
  """Writes JSON through a temporary file and a rename."""
  tmp = f"{path}.tmp-{os.getpid()}"
  with open(tmp, "w", encoding="utf-8") as f:
    json.dump(obj, f, indent=1, sort_keys=True)
    f.flush()
    os.fsync(f.fileno())
  os.replace(tmp, path)


def remove_stale_temps(workdir: str) -> list[str]:
  """Deletes temporary files a killed run left in workdir (call while holding its lock).

  Covers run.json.tmp-<pid> and image_io's `.<name>.<hex>.tmp` beside outputs.
  """
  patterns = ("run.json.tmp-*", ".*.tmp", os.path.join("*", ".*.tmp"))
  stale = sorted({p for pat in patterns for p in glob.glob(os.path.join(workdir, pat))})
  for path in stale:
    if os.path.isfile(path):
      os.remove(path)
      logging.info("removed %s, left by an interrupted run", path)
  return stale


def _first_difference(saved, now, path: str = ""):
  """Dotted path of the first field where two JSON-like values differ, or None."""
  if isinstance(saved, dict) and isinstance(now, dict):
    for key in sorted(set(saved) | set(now)):
      sub = f"{path}.{key}" if path else key
      if key not in saved or key not in now:
        return sub
      found = _first_difference(saved[key], now[key], sub)
      if found is not None:
        return found
    return None
  return None if saved == now else path


def _lookup(tree, dotted: str):
  for key in dotted.split("."):
    if not isinstance(tree, dict) or key not in tree:
      return "(absent)"
    tree = tree[key]
  return tree


class PyramidCheckpoints:
  """Finished scales and in-scale training state of one workdir."""

  def __init__(self, workdir: str):
    self.workdir = workdir
    self._scales_mngr = None
    self._inscale = {}

  @property
  def _scales(self):
    """Manager of scales/, created on first use so a refused run leaves no directory."""
    if self._scales_mngr is None:
      self._scales_mngr = _manager(os.path.join(self.workdir, "scales"), None)
    return self._scales_mngr

  # -- run identity ------------------------------------------------------------------------
  def check_or_write_identity(self, identity: dict, record: dict | None = None) -> None:
    """Refuses a workdir trained for something else; records the identity otherwise (with
    `record`, the config fields, under RECORD_KEY when given).

    Compares after a JSON round trip (tuples become lists), leaving the record out, and
    names the first differing field, e.g. `plan.shapes` or `inputs`.
    """
    identity = json.loads(json.dumps(identity, sort_keys=True))
    path = os.path.join(self.workdir, "run.json")
    if os.path.exists(path):
      try:
        with open(path, encoding="utf-8") as f:
          saved = json.load(f)
      except (OSError, ValueError) as e:
        raise CheckpointError(
          f"{path} cannot be read ({e}): it records what this workdir was trained on; "
          "use a new --workdir"
        ) from e
      if isinstance(saved, dict):
        saved = {k: v for k, v in saved.items() if k != RECORD_KEY}
      key = _first_difference(saved, identity)
      if key is not None:
        raise IncompatibleRunError(
          f"workdir {self.workdir} holds a pyramid trained with a different {key} "
          f"({_short(_lookup(saved, key))} there, {_short(_lookup(identity, key))} now): "
          "use a new --workdir, or restore the original setting"
        )
    else:
      if _has_entries(os.path.join(self.workdir, "scales")) or self._inscale_scales():
        raise CheckpointError(
          f"workdir {self.workdir} holds checkpoints but no run.json, so what they were "
          "trained on is unknown: use a new --workdir"
        )
      write_json_atomic(path, identity if record is None else {**identity, RECORD_KEY: record})
      kill_point("identity_written", 0)

  # -- finished scales ---------------------------------------------------------------------
  def finished_scales(self) -> list[int]:
    """Finished scales 0..k-1; a gap means the workdir was tampered with and is refused."""
    steps = sorted(self._scales.all_steps())
    if steps != list(range(len(steps))):
      raise CheckpointError(
        f"workdir {self.workdir} has finished scales {steps}, not a run 0..k from the "
        "coarsest: a scale directory was removed or copied in; use a new --workdir"
      )
    return steps

  def save_scale(
    self, n: int, frozen: sampling.FrozenScale, d_vars, meta: dict, retrained=None
  ) -> None:
    """Saves finished scale n; retrained: {k: g_vars} of coarser scales k that scale n's
    training changed (the concurrent schedule), applied over theirs when restoring."""
    tree = {
      "g_vars": frozen.g_vars,
      "z_opt": frozen.z_opt,
      "noise_amp": frozen.noise_amp,
      "d_vars": d_vars,
    }
    if retrained:
      tree["retrained"] = {str(k): g_vars for k, g_vars in retrained.items()}
    self._scales.save(
      n, args=ocp.args.Composite(state=ocp.args.StandardSave(tree), meta=ocp.args.JsonSave(meta))
    )
    kill_point("scale_write", n)
    self._scales.wait_until_finished()

  def restore_scale(self, n: int):
    """(FrozenScale, d_vars, meta, retrained) of finished scale n (retrained: save_scale's,
    {} when none)."""
    try:
      r = self._scales.restore(
        n, args=ocp.args.Composite(state=ocp.args.StandardRestore(), meta=ocp.args.JsonRestore())
      )
    except Exception as e:  # orbax raises many types for damaged files
      raise CheckpointError(
        f"finished scale {n} in {self.workdir}/scales/{n} cannot be read "
        f"({type(e).__name__}: {_first_line(e)}): delete that directory and every finer "
        "scale to retrain them"
      ) from e
    tree = jax.tree.map(np.asarray, r.state)
    frozen = sampling.FrozenScale(tree["g_vars"], tree["z_opt"], tree["noise_amp"])
    retrained = {int(k): g_vars for k, g_vars in tree.get("retrained", {}).items()}
    return frozen, tree["d_vars"], r.meta, retrained

  # -- in-scale state ----------------------------------------------------------------------
  def _inscale_scales(self) -> list[int]:
    root = os.path.join(self.workdir, "inscale")
    if not os.path.isdir(root):
      return []
    return sorted(int(d) for d in os.listdir(root) if d.isdigit())

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
    kill_point("inscale_write", n, it)
    mngr.wait_until_finished()

  def restore_inscale(self, n: int, it: int, target_state):
    try:
      return self._inscale_manager(n).restore(it, args=ocp.args.StandardRestore(target_state))
    except Exception as e:  # orbax raises many types for damaged files
      raise CheckpointError(
        f"in-scale checkpoint {self.workdir}/inscale/{n}/{it} cannot be read "
        f"({type(e).__name__}: {_first_line(e)}): delete {self.workdir}/inscale/{n} to "
        f"restart scale {n} from its first iteration"
      ) from e

  def clear_inscale(self, n: int) -> None:
    """Drops scale n's in-scale state once the scale is saved as finished."""
    mngr = self._inscale.pop(n, None)
    if mngr is not None:
      mngr.close()
    directory = os.path.join(self.workdir, "inscale", str(n))
    if os.path.isdir(directory):
      shutil.rmtree(directory)

  def clear_stale_inscale(self, finished: list[int]) -> None:
    """Drops in-scale state of scales that are already finished (a run killed between saving
    a scale and clearing its in-scale state leaves it)."""
    for n in self._inscale_scales():
      if n in finished:
        logging.info("scale %d is finished: removing its leftover in-scale checkpoint", n)
        self.clear_inscale(n)

  def close(self) -> None:
    if self._scales_mngr is not None:
      self._scales_mngr.close()
    for mngr in self._inscale.values():
      mngr.close()


def _has_entries(directory: str) -> bool:
  return os.path.isdir(directory) and bool(os.listdir(directory))


def _first_line(e: BaseException) -> str:
  lines = str(e).strip().splitlines()
  return lines[0][:200] if lines else ""


def _short(value) -> str:
  text = json.dumps(value, sort_keys=True)
  return text if len(text) <= 80 else text[:77] + "..."
