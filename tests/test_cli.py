"""Workdir safety through the real CLI (lock, identity guard) and the checkpoint helpers that
make resuming safe (test hook, identity diff, gap and leftover detection)."""

import fcntl
import json
import logging
import os
import shutil
import signal
import subprocess
import sys

import numpy as np
import orbax.checkpoint as ocp
import pytest
from PIL import Image

from singan_jax import workdir as workdir_lib
from singan_jax.training import checkpoint as ckpt_lib
from singan_jax import cli
from singan_jax.core import errors
from helpers import REPO, cli_env, run_cli, tiny_flags
from singan_jax.bench import __main__ as bench_main

TINY = tiny_flags(niter=30, checkpoint_every=10, log_every=None, inject_scale=None)


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
  tmp_path = tmp_path_factory.mktemp("inputs")
  rng = np.random.default_rng(0)
  img = rng.integers(0, 256, (32, 40, 3)).astype(np.uint8)
  hole = np.zeros((32, 40), np.uint8)
  hole[10:20, 12:26] = 255
  Image.fromarray(img).save(tmp_path / "i.png")
  Image.fromarray(hole).save(tmp_path / "m.png")
  return [f"--config.image={tmp_path / 'i.png'}", f"--config.mask={tmp_path / 'm.png'}"]


def _error_line(proc):
  lines = [ln for ln in proc.stderr.splitlines() if ln.startswith("singan-jax: error:")]
  assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr[-2000:]
  return lines[0]


def test_second_run_on_a_locked_workdir_is_refused(tmp_path, inputs):
  work = tmp_path / "work"
  work.mkdir()
  with open(work / ".lock", "w") as held:  # what a running singan-jax holds
    fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
    p = run_cli(["--mode=train", *TINY, *inputs, f"--workdir={work}"])
  assert p.returncode == 2
  assert "another singan-jax run is using --workdir" in _error_line(p)
  assert os.listdir(work) == [".lock"]  # nothing written


@pytest.fixture(scope="module")
def recorded(tmp_path_factory, inputs):
  """A workdir where a real run recorded run.json, killed before its first compile."""
  work = tmp_path_factory.mktemp("recorded") / "work"
  p = run_cli(["--mode=train", *TINY, *inputs, f"--workdir={work}"], kill_at="identity_written:0")
  assert p.returncode == -signal.SIGKILL, p.stderr[-2000:]
  assert sorted(os.listdir(work)) == [".lock", "run.json"]
  return work


@pytest.mark.slow
@pytest.mark.parametrize(
  "change, field",
  [
    (["--config.seed=1"], "seed"),
    (["--config.max_size=38"], "max_size"),
    (["--config.partial=False"], "partial"),
    (["--config.niter=40"], "niter"),
    ("other_mask", "inputs"),
  ],
)
def test_incompatible_workdir_is_refused_naming_the_field(
  tmp_path, inputs, recorded, change, field
):
  work = tmp_path / "work"
  shutil.copytree(recorded, work)
  base = ["--mode=train", *TINY, f"--workdir={work}"]
  saved = (work / "run.json").read_text()
  if change == "other_mask":
    hole = np.zeros((32, 40), np.uint8)
    hole[2:8, 2:8] = 255
    Image.fromarray(hole).save(tmp_path / "m2.png")
    change = [f"--config.mask={tmp_path / 'm2.png'}"]
  p = run_cli([*base, *inputs, *change])
  assert p.returncode == 2, p.stderr[-2000:]
  line = _error_line(p)
  assert f"holds a pyramid trained with a different {field}" in line, line
  assert "use a new --workdir" in line
  assert (work / "run.json").read_text() == saved
  assert not (work / "scales").exists() and not (work / "inscale").exists()


def test_identity_compares_after_a_json_round_trip(tmp_path):
  ckpts = ckpt_lib.PyramidCheckpoints(str(tmp_path))
  identity = {"plan": {"shapes": ((3, 4), (5, 6))}, "seed": 0}
  ckpts.check_or_write_identity(identity)
  ckpts.check_or_write_identity(identity)  # tuples vs saved lists: still the same run
  with pytest.raises(ckpt_lib.IncompatibleRunError, match=r"different plan\.shapes"):
    ckpts.check_or_write_identity({"plan": {"shapes": ((3, 4), (5, 7))}, "seed": 0})
  with pytest.raises(ckpt_lib.IncompatibleRunError, match=r"different extra \(\"\(absent\)"):
    ckpts.check_or_write_identity({**identity, "extra": 1})


def test_checkpoints_without_run_json_are_refused(tmp_path):
  (tmp_path / "scales" / "0").mkdir(parents=True)
  ckpts = ckpt_lib.PyramidCheckpoints(str(tmp_path))
  with pytest.raises(ckpt_lib.CheckpointError, match="no run.json"):
    ckpts.check_or_write_identity({"seed": 0})


def test_a_gap_in_the_finished_scales_is_refused(tmp_path):
  with ocp.CheckpointManager(
    str(tmp_path / "scales"), options=ocp.CheckpointManagerOptions(create=True)
  ) as mngr:
    for step in (0, 2):
      mngr.save(step, args=ocp.args.StandardSave({"x": np.zeros(2)}))
    mngr.wait_until_finished()
  ckpts = ckpt_lib.PyramidCheckpoints(str(tmp_path))
  with pytest.raises(ckpt_lib.CheckpointError, match=r"finished scales \[0, 2\]"):
    ckpts.finished_scales()


def test_stale_in_scale_state_of_finished_scales_is_dropped(tmp_path):
  for n in (0, 1):
    (tmp_path / "inscale" / str(n) / "10").mkdir(parents=True)
  ckpts = ckpt_lib.PyramidCheckpoints(str(tmp_path))
  ckpts.clear_stale_inscale([0])
  assert sorted(os.listdir(tmp_path / "inscale")) == ["1"]


def test_remove_stale_temps(tmp_path):
  keep = ["run.json", "inpainted.png", "notes.tmp"]
  stale = [
    "run.json.tmp-123",
    ".inpainted.png.0123456789ab.tmp",
    os.path.join("samples", ".sample_0.png.abcdefabcdef.tmp"),
  ]
  (tmp_path / "samples").mkdir()
  for name in keep + stale:
    (tmp_path / name).write_text("x")
  removed = ckpt_lib.remove_stale_temps(str(tmp_path))
  assert sorted(removed) == sorted(str(tmp_path / s) for s in stale)
  assert all((tmp_path / k).exists() for k in keep)


def test_workdir_cleanup_covers_the_buckets_of_a_batch(tmp_path):
  bucket = tmp_path / "bucket_16x20_2s_0123456789"
  bucket.mkdir()
  for name in ("run.json", "run.json.tmp-7"):
    (bucket / name).write_text("x")
  (tmp_path / "run.json.tmp-8").write_text("x")
  removed = workdir_lib.remove_stale_temps(str(tmp_path))
  assert sorted(removed) == [str(bucket / "run.json.tmp-7"), str(tmp_path / "run.json.tmp-8")]
  assert (bucket / "run.json").exists()


def test_kill_hook_ignores_other_points_and_rejects_bad_specs(monkeypatch):
  monkeypatch.setenv(ckpt_lib.KILL_ENV, "iteration:1:20")
  ckpt_lib.kill_point("iteration", 0, 20)  # other scale
  ckpt_lib.kill_point("iteration", 1, 19)  # other step
  ckpt_lib.kill_point("scale_saved", 1)  # other point
  monkeypatch.setenv(ckpt_lib.KILL_ENV, "explode:0")
  with pytest.raises(ValueError, match="is not point:scale"):
    ckpt_lib.kill_point("iteration", 0, 1)
  monkeypatch.delenv(ckpt_lib.KILL_ENV)
  ckpt_lib.kill_point("iteration", 0, 1)  # unset: nothing happens


def test_run_json_keeps_its_fields(tmp_path):
  ckpt_lib.write_json_atomic(str(tmp_path / "r.json"), {"b": 1, "a": [1, 2]})
  assert json.loads((tmp_path / "r.json").read_text()) == {"a": [1, 2], "b": 1}
  assert os.listdir(tmp_path) == ["r.json"]


@pytest.mark.parametrize(
  "command",
  [
    "singan_jax.main",
    "singan_jax.convert",
    "singan_jax.evaluate",
    "singan_jax.evaluate.variants",
    "singan_jax.evaluate.mask_choice",
    "singan_jax.evaluate.time_to_quality",
    "singan_jax.bench",
    *(f"singan_jax.bench {sub}" for sub in bench_main.SUBCOMMANDS),
    "singan_jax.training.curves",
  ],
)
def test_every_command_answers_help_with_exit_status_0(command):
  done = subprocess.run(
    [sys.executable, "-m", *command.split(), "--help"],
    cwd=REPO,
    env=cli_env(None, None),
    capture_output=True,
    text=True,
    timeout=300,
  )
  assert done.returncode == 0, done.stderr[-2000:]
  assert "usage" in (done.stdout + done.stderr).lower() or "--" in done.stdout


def test_a_bad_flag_still_fails():
  with pytest.raises(SystemExit) as e:
    cli.run(lambda argv: None, ["prog", "--no_such_flag_anywhere"])
  assert e.value.code == 1


def test_a_refusal_names_the_flags_of_the_settings_it_names():
  e = errors.SettingError(
    "scale 7 is out of range: use inject_scale in 1..3 (or -1 for round(inject_fraction * N))",
    "inject_scale",
  )
  assert cli.message(e) == (
    "scale 7 is out of range: use --config.inject_scale in 1..3 (or -1 for "
    "round(inject_fraction * N))"
  )
  already = errors.InputError("use a larger --config.mask_threshold or mask_mode=bbox",
                              "mask_threshold", "mask_mode")  # fmt: skip
  assert cli.message(already) == ("use a larger --config.mask_threshold or --config.mask_mode=bbox")
  assert cli.message(ValueError("inject_scale")) == "inject_scale"  # not a refusal: as it is


def test_an_internal_error_keeps_its_traceback(tmp_path):
  """A bare ValueError from inside the run is a bug, not bad input: traceback, not one line."""
  script = (
    "from singan_jax import main, pipeline\n"
    "def broken(*args, **kwargs):\n"
    "  raise ValueError('an internal bug')\n"
    "pipeline.run = broken\n"
    "main.run()\n"
  )
  done = subprocess.run(
    [sys.executable, "-c", script, "--mode=train", f"--workdir={tmp_path / 'w'}"],
    cwd=REPO,
    env=cli_env(None, None),
    capture_output=True,
    text=True,
    timeout=300,
  )
  assert done.returncode == 1, done.stderr[-2000:]
  assert "Traceback" in done.stderr and "ValueError: an internal bug" in done.stderr
  assert "singan-jax: error:" not in done.stderr


def test_library_info_chatter_is_dropped_and_their_warnings_kept():
  """QuietLibraries: orbax's and JAX's INFO lines go (backend probing, per-save chatter),
  their warnings and every line of ours stay."""
  quiet = cli.QuietLibraries()

  def record(path, level):
    return logging.LogRecord("x", level, path, 1, "message", None, None)

  site = "/venv/lib/python3.11/site-packages"
  assert not quiet.filter(record(f"{site}/jax/_src/xla_bridge.py", logging.INFO))
  assert not quiet.filter(record(f"{site}/orbax/checkpoint/checkpointer.py", logging.INFO))
  assert quiet.filter(record(f"{site}/jax/_src/xla_bridge.py", logging.WARNING))
  assert quiet.filter(record("/work/singan_jax/training/loop.py", logging.INFO))
