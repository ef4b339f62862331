"""Interrupted runs: a real `python -m singan_jax.main` process is SIGKILLed at named points
(test hook SINGAN_JAX_TEST_KILL_AT, see singan_jax/training/checkpoint.py), restarted, and must
finish with exactly the output of an uninterrupted run, without retraining finished scales.

The tiny run: a 32x40 image, max_size 36 and min_size 25 give a 2-scale pyramid (25x32, 29x36);
30 iterations per scale, in-scale checkpoints every 10. A persistent XLA compilation cache
shared by the session's runs keeps the repeated compiles cheap.
"""

import collections
import glob
import json
import os
import re
import signal

import jax
import numpy as np
import orbax.checkpoint as ocp
import pytest
from PIL import Image

from singan_jax.training import checkpoint as ckpt_lib
from helpers import run_cli, tiny_flags

TINY = tiny_flags(niter=30, checkpoint_every=10, log_every=10, inject_scale=None)


def make_inputs(folder):
  """A smooth-plus-noise grey-valued 32x40 image and a 6x8 rectangular hole."""
  rng = np.random.default_rng(0)
  yy, xx = np.mgrid[0:32, 0:40]
  grey = 60 + 3 * xx + 2 * yy + rng.integers(0, 30, (32, 40))
  img = np.repeat(np.clip(grey, 0, 255).astype(np.uint8)[..., None], 3, axis=2)
  hole = np.zeros((32, 40), np.uint8)
  hole[12:18, 16:24] = 255
  image, mask = os.path.join(folder, "img.png"), os.path.join(folder, "mask.png")
  Image.fromarray(img).save(image)
  Image.fromarray(hole).save(mask)
  return image, mask


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory):
  return tmp_path_factory.getbasetemp() / "jax_cache"


def _read(path):
  return np.asarray(Image.open(path))


def _metric_points(workdir):
  with open(os.path.join(workdir, "metrics.jsonl"), encoding="utf-8") as f:
    return collections.Counter((r["scale"], r["iter"]) for r in map(json.loads, f))


def _scale_trees(workdir):
  ckpts = ckpt_lib.PyramidCheckpoints(str(workdir))
  try:
    return [ckpts.restore_scale(n)[:2] for n in ckpts.finished_scales()]
  finally:
    ckpts.close()


def _leftovers(workdir):
  return glob.glob(os.path.join(workdir, "**", "*orbax-checkpoint-tmp*"), recursive=True)


@pytest.mark.slow
def test_killed_run_resumes_to_the_uninterrupted_result(tmp_path, cache_dir):
  image, mask = make_inputs(tmp_path)
  args = ["--mode=inpaint", f"--config.image={image}", f"--config.mask={mask}", *TINY]
  ref = tmp_path / "ref"
  done = run_cli([*args, f"--workdir={ref}"], cache_dir)
  assert done.returncode == 0, done.stderr[-3000:]
  assert "resuming" not in done.stderr

  work = tmp_path / "killed"
  wargs = [*args, f"--workdir={work}"]
  # 1. Inside the first scale, between checkpoints: iterations 21..25 are lost.
  p = run_cli(wargs, cache_dir, kill_at="iteration:0:25")
  assert p.returncode == -signal.SIGKILL, p.stderr[-3000:]
  assert not (work / "inpainted.png").exists()
  # 2. At the scale boundary: scale 0 saved, its in-scale state not yet dropped.
  p = run_cli(wargs, cache_dir, kill_at="scale_saved:0")
  assert p.returncode == -signal.SIGKILL, p.stderr[-3000:]
  assert "scale 0: resuming inside the scale at iteration 20/30" in p.stderr
  assert (work / "scales" / "0").is_dir() and (work / "inscale" / "0").is_dir()
  # 3. During the write of scale 1's in-scale checkpoint at iteration 20.
  p = run_cli(wargs, cache_dir, kill_at="inscale_write:1:20")
  assert p.returncode == -signal.SIGKILL, p.stderr[-3000:]
  assert "scale 0/1: already trained" in p.stderr
  assert "scale 0/1 it " not in p.stderr  # scale 0 was not retrained
  assert not (work / "inscale" / "0").exists()  # the stale in-scale state was dropped
  # Orbax renames the temporary directory from a background thread; the kill lands before
  # that in practice, but should the rename win the race the checkpoint at 20 is complete.
  mid_write = bool(_leftovers(work))
  resume_at = 10 if mid_write else 20
  # 4. Uninterrupted to the end: resumes scale 1 from the last COMPLETE checkpoint.
  p = run_cli(wargs, cache_dir)
  assert p.returncode == 0, p.stderr[-3000:]
  assert "scales 0..0 are finished and will not be retrained" in p.stderr
  assert f"scale 1: resuming inside the scale at iteration {resume_at}/30" in p.stderr
  assert "scale 0/1 it " not in p.stderr

  assert not _leftovers(work) and not (work / "inscale" / "1").exists()
  # Every logged (scale, iteration) once, except scale 1's iteration 20, logged before the
  # kill during its checkpoint and again after resuming from 10.
  expected = collections.Counter({(s, i): 1 for s in (0, 1) for i in (10, 20, 30)})
  expected[(1, 20)] = 2 if mid_write else 1
  assert _metric_points(work) == expected
  assert _metric_points(ref) == collections.Counter({k: 1 for k in expected})
  # Bit-identical to the uninterrupted run: outputs and every saved array.
  for name in ("inpainted.png", "generated.png", "filled.png"):
    np.testing.assert_array_equal(_read(work / name), _read(ref / name), err_msg=name)
  ref_trees, work_trees = _scale_trees(ref), _scale_trees(work)
  assert len(ref_trees) == len(work_trees) == 2
  for a, b in zip(ref_trees, work_trees):
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
      np.testing.assert_array_equal(x, y)


@pytest.mark.slow
def test_a_concurrent_run_killed_inside_a_scale_resumes_to_the_same_pyramid(tmp_path, cache_dir):
  """Scale 1 also trains scale 0's generator: its in-scale state holds both, and scale 0's
  retrained generator reaches the output through scales/1."""
  image, mask = make_inputs(tmp_path)
  concurrent = ["--config.schedule=concurrent", "--config.train_depth=2"]
  args = ["--mode=inpaint", f"--config.image={image}", f"--config.mask={mask}", *TINY, *concurrent]
  ref, work = tmp_path / "ref", tmp_path / "killed"
  done = run_cli([*args, f"--workdir={ref}"], cache_dir)
  assert done.returncode == 0, done.stderr[-3000:]
  p = run_cli([*args, f"--workdir={work}"], cache_dir, kill_at="iteration:1:25")
  assert p.returncode == -signal.SIGKILL, p.stderr[-3000:]
  p = run_cli([*args, f"--workdir={work}"], cache_dir)
  assert p.returncode == 0, p.stderr[-3000:]
  assert "scale 1: resuming inside the scale at iteration 20/30" in p.stderr
  for name in ("inpainted.png", "generated.png"):
    np.testing.assert_array_equal(_read(work / name), _read(ref / name), err_msg=name)
  ckpts = ckpt_lib.PyramidCheckpoints(str(work))
  try:
    own, retrained = ckpts.restore_scale(0)[0], ckpts.restore_scale(1)[3]
  finally:
    ckpts.close()
  moved = [np.abs(a - b).max() for a, b in zip(*map(jax.tree.leaves, (own.g_vars, retrained[0])))]
  assert max(moved) > 0  # scale 0's generator changed while scale 1 trained
  p = run_cli([*args, f"--workdir={work}", "--config.schedule=singan"], cache_dir)
  assert p.returncode == 2 and "different schedule" in p.stderr, p.stderr[-2000:]


def test_non_finite_stops_and_keeps_the_last_good_checkpoint(tmp_path, cache_dir):
  image, mask = make_inputs(tmp_path)
  work = tmp_path / "nan"
  args = [
    "--mode=train",
    f"--config.image={image}",
    f"--config.mask={mask}",
    *TINY,
    f"--workdir={work}",
  ]
  p = run_cli(args, cache_dir, kill_at="iteration:0:15")
  assert p.returncode == -signal.SIGKILL, p.stderr[-3000:]
  # Learning rates are not part of the run's identity (so a diverged run can be resumed
  # with lower ones): an absurd rate makes the resumed run diverge at once.
  p = run_cli([*args, "--config.lr_g=1e30", "--config.lr_d=1e30"], cache_dir)
  assert p.returncode == 2, p.stderr[-3000:]
  last = p.stderr.strip().splitlines()[-1]
  found = re.match(r"singan-jax: error: scale 0, iteration (\d+): ", last)
  assert found and 10 < int(found.group(1)) <= 30, last  # after the checkpoint it resumed from
  assert "stopped being finite" in last and "lower" in last
  assert "Traceback" not in p.stderr
  # The last good checkpoint (iteration 10) is intact; nothing non-finite was saved.
  assert sorted(os.listdir(work / "inscale" / "0")) == ["10"]
  assert not (work / "scales").exists() or not os.listdir(work / "scales")
  with ocp.CheckpointManager(str(work / "inscale" / "0")) as mngr:
    state = mngr.restore(10, args=ocp.args.StandardRestore())
  leaves = jax.tree.leaves(state)
  assert leaves and all(np.isfinite(np.asarray(x)).all() for x in leaves)
  assert int(np.asarray(state["step"]).reshape(-1)[0]) == 10
