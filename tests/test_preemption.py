"""Preemption: a stop request (SIGTERM, or a multi-host preemption notice) makes the trainer
finish the current iteration, save an in-scale checkpoint, say where it stopped and exit 143;
the same command then resumes there and ends bit-identical to an uninterrupted run (resume is
bit-exact on one machine: tests/test_resume.py).

In process, a StopRequest that asks for the stop at a chosen run-wide iteration pins the exact
iteration; through the CLI, a real SIGTERM is sent to a training process mid-scale.
"""

import os
import re
import signal
import subprocess
import sys

import jax
import numpy as np
import pytest

from singan_jax.training import checkpoint as ckpt_lib
from singan_jax.training import loop as trainer
from singan_jax.training import preemption
from singan_jax import config as config_lib
from helpers import REPO, cli_env, run_cli, tiny_config
from test_resume import TINY, make_inputs


class StopAt(preemption.StopRequest):
  """Asks for a stop once the run-wide iteration `at` has finished (as SIGTERM would)."""

  def __init__(self, at: int):
    super().__init__()
    self.at = at

  def due(self, step_id: int) -> bool:
    if step_id == self.at:
      self.request("a test request")
    return super().due(step_id)


def tiny_batch():
  """One 32x40 image with a 6x8 hole: a 2-scale pyramid under tiny_config."""
  rng = np.random.default_rng(0)
  x = np.tanh(rng.normal(size=(1, 32, 40, 3))).astype(np.float32)
  hole = np.zeros((1, 32, 40), bool)
  hole[:, 12:18, 16:24] = True
  return x, hole


def _inscale_steps(workdir, n):
  folder = os.path.join(workdir, "inscale", str(n))
  return sorted(int(d) for d in os.listdir(folder) if d.isdigit()) if os.path.isdir(folder) else []


def test_sigterm_sets_the_request_only_while_routed():
  before = signal.getsignal(signal.SIGTERM)
  with preemption.stop_on_sigterm(preemption.StopRequest()) as stop:
    assert not stop.due(1)
    os.kill(os.getpid(), signal.SIGTERM)  # handled at once, in this (the main) thread
    assert stop.reason == "SIGTERM" and stop.due(2) and stop.due_between_scales()
  assert signal.getsignal(signal.SIGTERM) is before


@pytest.mark.slow
def test_a_stop_saves_the_iteration_it_finished_and_the_rerun_matches(tmp_path):
  cfg = tiny_config()
  cfg.update(niter=12, checkpoint_every=5, log_every=5)
  x, hole = tiny_batch()
  ref = trainer.train(
    config_lib.settings(cfg), str(tmp_path / "ref"), x, hole, stop=preemption.StopRequest()
  )
  work = str(tmp_path / "work")
  # Inside scale 0, between checkpoints: nothing after iteration 7 ran, 7 is saved.
  with pytest.raises(preemption.Preempted) as stopped:
    trainer.train(config_lib.settings(cfg), work, x, hole, stop=StopAt(7))
  assert (stopped.value.scale, stopped.value.iteration, stopped.value.niter) == (0, 7, 12)
  assert "stopped on a test request at scale 0, iteration 7/12" in str(stopped.value)
  assert _inscale_steps(work, 0) == [7]
  # At scale 0's last iteration (run-wide 12): scale 0 is saved as finished, then it stops
  # before compiling scale 1.
  with pytest.raises(preemption.Preempted) as stopped:
    trainer.train(config_lib.settings(cfg), work, x, hole, stop=StopAt(12))
  assert (stopped.value.scale, stopped.value.iteration) == (0, 12)
  ckpts = ckpt_lib.PyramidCheckpoints(work)
  assert ckpts.finished_scales() == [0] and _inscale_steps(work, 0) == []
  ckpts.close()
  # Inside scale 1 (run-wide 12 + 3), on a checkpoint iteration: saved once.
  with pytest.raises(preemption.Preempted) as stopped:
    trainer.train(config_lib.settings(cfg), work, x, hole, stop=StopAt(15))
  assert (stopped.value.scale, stopped.value.iteration) == (1, 3)
  assert _inscale_steps(work, 1) == [3]
  done = trainer.train(config_lib.settings(cfg), work, x, hole, stop=preemption.StopRequest())
  for a, b in zip(jax.tree.leaves(ref.frozen), jax.tree.leaves(done.frozen), strict=True):
    np.testing.assert_array_equal(a, b)


@pytest.mark.slow
def test_sigterm_mid_scale_exits_143_and_the_rerun_resumes_to_the_same_result(tmp_path):
  cache = tmp_path / "jax_cache"
  image, mask = make_inputs(tmp_path)
  niter = 150  # long enough a scale that the signal, sent at iteration 5, lands inside it
  args = ["--mode=train", f"--config.image={image}", f"--config.mask={mask}", *TINY]
  args += [f"--config.niter={niter}", "--config.checkpoint_every=0", "--config.log_every=5"]
  ref = run_cli([*args, f"--workdir={tmp_path / 'ref'}"], cache)
  assert ref.returncode == 0, ref.stderr[-3000:]

  work = tmp_path / "work"
  proc = subprocess.Popen(
    [sys.executable, "-m", "singan_jax.main", *args, f"--workdir={work}"],
    cwd=REPO,
    env=cli_env(cache),
    stderr=subprocess.PIPE,
    text=True,
  )
  lines = []
  for line in proc.stderr:  # the first progress line of scale 0: it is training
    lines.append(line)
    if f"scale 0/1 it 5/{niter}" in line:
      proc.send_signal(signal.SIGTERM)
      break
  lines += proc.stderr.readlines()
  assert proc.wait(timeout=300) == preemption.EXIT_STATUS, "".join(lines)[-3000:]
  err = "".join(lines)
  found = re.search(rf"singan-jax: stopped on SIGTERM at scale 0, iteration (\d+)/{niter}", err)
  assert found, err[-3000:]
  stopped_at = int(found.group(1))
  # Every iteration finished before the signal is kept: the checkpoint is at the last one.
  assert 5 <= stopped_at < niter and _inscale_steps(work, 0) == [stopped_at]
  assert "Traceback" not in err

  p = run_cli([*args, f"--workdir={work}"], cache)
  assert p.returncode == 0, p.stderr[-3000:]
  assert f"scale 0: resuming inside the scale at iteration {stopped_at}/{niter}" in p.stderr
  trees = [
    jax.tree.leaves(ckpt_lib.PyramidCheckpoints(str(w)).restore_scale(n)[:2])
    for w in (tmp_path / "ref", work)
    for n in (0, 1)
  ]
  for a, b in zip(trees[:2], trees[2:]):
    for x, y in zip(a, b, strict=True):
      np.testing.assert_array_equal(x, y)
