"""The workdir a run writes: its lock, the temporary files a killed run left, checks that
outputs can be written, and removing a workdir a failed run created but never used.

The run's identity (run.json: what a pyramid was trained from) stays with the checkpoints in
train/checkpoint.py, which writes and compares it.
"""

import contextlib
import fcntl
import glob
import os
import shutil

from singan_jax.inputs import UsageError
from singan_jax.train import checkpoint as ckpt_lib


class WorkdirLock:
  """An exclusive lock on the workdir so two runs never write the same pyramid."""

  def __init__(self, workdir: str):
    if os.path.exists(workdir) and not os.path.isdir(workdir):
      raise UsageError(f"--workdir {workdir} is a file: give a directory path")
    try:
      os.makedirs(workdir, exist_ok=True)
      self._file = open(os.path.join(workdir, ".lock"), "w")
    except OSError as e:
      raise UsageError(
        f"cannot create --workdir {workdir} ({e.strerror}): give a writable directory"
      ) from e
    try:
      fcntl.flock(self._file, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as e:
      self._file.close()
      raise UsageError(
        f"another singan-jax run is using --workdir {workdir}: wait for it or give another workdir"
      ) from e

  def release(self):
    fcntl.flock(self._file, fcntl.LOCK_UN)
    self._file.close()


def remove_if_unused(workdir: str) -> None:
  """Deletes a workdir this run created if the run failed before writing anything into it."""
  try:
    leftover = set(os.listdir(workdir)) - {".lock"}
  except OSError:
    return
  if not leftover:
    shutil.rmtree(workdir, ignore_errors=True)


def remove_stale_temps(workdir: str) -> list[str]:
  """Deletes the temporary files a killed run left in workdir and in its buckets' folders."""
  removed = ckpt_lib.remove_stale_temps(workdir)
  for bucket in sorted(glob.glob(os.path.join(workdir, "bucket_*"))):
    if os.path.isdir(bucket):
      removed += ckpt_lib.remove_stale_temps(bucket)
  return removed


def output_problem(path: str) -> str:
  """Why an output cannot be written to path, or '' when it can (checked before training)."""
  if os.path.isdir(path):
    return (
      f"output {path} is a directory, so the result cannot be written: "
      "remove or rename it, or give another --workdir"
    )
  return ""


@contextlib.contextmanager
def claimed(workdir: str, lead: bool = True):
  """Holds the workdir for a run: the lock and stale-temp cleanup (by the lead process only:
  one lock per workdir), and on failure removes the workdir if this run created it unused."""
  fresh = not os.path.lexists(workdir)
  lock = WorkdirLock(workdir) if lead else None
  try:
    if lead:
      remove_stale_temps(workdir)
    yield
  except BaseException:
    if fresh and lead:
      remove_if_unused(workdir)
    raise
  finally:
    if lock is not None:
      lock.release()
