"""The workdir a run writes: its lock, the temporary files a killed run left, checks that
outputs can be written, removing a workdir a failed run created but never used, and the
record of the config its pyramid was trained with (run.json's "config" entry).

The run's identity (run.json: what a pyramid was trained from) stays with the checkpoints in
training/checkpoint.py, which writes and compares it; this module adds the record beside it and
lets a run on an existing pyramid adopt the recorded settings (`adopt_record`).
"""

import contextlib
import fcntl
import glob
import json
import os
import shutil

from absl import logging

from singan_jax import inputs
from singan_jax.core import schema
from singan_jax.inputs import UsageError
from singan_jax.training import checkpoint as ckpt_lib

# Every config field a pyramid is trained with, {field: kind} (core/schema.py's `pyramid`
# metadata): 'fixed', the pyramid is made of it, so an explicit change is refused; 'tunable':
# recorded and adopted, but a value given explicitly trains the remaining scales (e.g. lower
# learning rates to resume a diverged run).
RECORDED_FIELDS = schema.recorded_fields()
# The single image the pyramid learnt (absolute paths), adopted together when neither is given
# (so `--mode=sample --workdir=DIR` needs no --config.image); the identity guard compares the
# pixels, so another path to the same image is fine.
INPUT_FIELDS = ("image", "mask")


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


# -- the record of the config (run.json's "config" entry) ----------------------------------


def record_of(cfg) -> dict:
  """The config fields a pyramid trained with `cfg` is made of (RECORDED_FIELDS, and the
  single image's absolute paths): what run.json records."""
  record = {field: cfg[field] for field in RECORDED_FIELDS}
  if not cfg.images:
    record.update({f: os.path.abspath(cfg[f]) if cfg[f] else "" for f in INPUT_FIELDS})
  return record


def _run_json_record(path: str) -> dict | None:
  try:
    with open(path, encoding="utf-8") as f:
      saved = json.load(f)
  except (OSError, ValueError):
    return None
  record = saved.get(ckpt_lib.RECORD_KEY) if isinstance(saved, dict) else None
  return record if isinstance(record, dict) else None


def read_record(workdir: str) -> dict | None:
  """The config record of workdir's run.json, or of a batch workdir's buckets when they all
  agree; None without one (no run.json, one written before the record existed, unreadable:
  the identity check reports that; or buckets trained with different settings)."""
  if os.path.exists(os.path.join(workdir, "run.json")):
    return _run_json_record(os.path.join(workdir, "run.json"))
  paths = sorted(glob.glob(os.path.join(workdir, "bucket_*", "run.json")))
  records = [_run_json_record(p) for p in paths]
  if not records or any(r is None or r != records[0] for r in records):
    return None
  return records[0]


def _adopted_values(cfg, record: dict, workdir: str, explicit) -> dict:
  """{field: recorded value} to set in cfg; raises UsageError for a contradicting flag."""
  out = {}
  for field, kind in RECORDED_FIELDS.items():
    if field not in record or record[field] == cfg[field]:
      continue  # a field newer than the record keeps the config's value
    if field not in explicit:
      out[field] = record[field]
    elif kind == "fixed":
      raise UsageError(
        inputs.contradicts_pyramid(
          workdir, field, record[field], cfg[field], record.get("converted_from", "")
        )
      )
    else:
      logging.warning(
        "--config.%s=%r given: the remaining scales train with it (the pyramid's was %r)",
        field,
        cfg[field],
        record[field],
      )
  given = [f for f in INPUT_FIELDS if f in explicit]
  if not cfg.images and not given and record.get("image"):
    out.update({f: record.get(f, "") for f in INPUT_FIELDS if record.get(f, "") != cfg[f]})
  return out


def adopt_record(cfg, workdir: str, explicit=()):
  """cfg with the settings of the pyramid already in workdir (run.json's record): a run on an
  existing pyramid (inpaint, sample, resumed training) needs none of its training flags.

  explicit: the config fields the user gave (--config.FIELD=...); one that contradicts a fixed
  field of the pyramid is refused (UsageError naming the field, both values and the fix).
  Without a record (a new workdir, or one written before the record) cfg is returned as is,
  and the identity guard compares its fields as before.
  """
  record = read_record(workdir)
  if record is None:
    return cfg
  changed = _adopted_values(cfg, record, workdir, frozenset(explicit))
  if not changed:
    return cfg
  cfg = cfg.copy_and_resolve_references()
  for field, value in changed.items():
    try:
      cfg[field] = value
    except (TypeError, ValueError) as e:
      raise UsageError(
        f"{os.path.join(workdir, 'run.json')} records {field}={value!r}, which this config "
        f"cannot take ({e}): the file was edited; use a new --workdir"
      ) from e
  logging.info(
    "workdir %s: using its pyramid's settings %s",
    workdir,
    ", ".join(f"{f}={v!r}" for f, v in sorted(changed.items())),
  )
  return cfg


def record_run(workdir: str, cfg, identity: dict) -> None:
  """Checks workdir's run identity, or writes it with the config record (before training, so
  an interrupted run keeps its record). A run.json without a record is left as it is."""
  ckpt_lib.PyramidCheckpoints(workdir).check_or_write_identity(identity, record_of(cfg))
