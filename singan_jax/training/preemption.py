"""Stopping a training run cleanly when its machine is taken away.

A cloud VM is stopped with SIGTERM and a grace period before SIGKILL. While `stop_on_sigterm`
is active, SIGTERM only sets a `StopRequest`; the loop reads it after every iteration, finishes
that iteration, saves an in-scale checkpoint and raises `Preempted`, which the CLI reports in
one line and turns into exit status 143 (EXIT_STATUS: 128 + SIGTERM, what a shell reports for
a process SIGTERM killed, so a supervisor treats it as the kill it was). Running the same
command again resumes at the saved iteration.

In a multi-host run the processes must stop at the same iteration (the save is collective),
so there the request comes from JAX's preemption sync point, read through orbax
(`ocp.multihost.reached_preemption`): JAX's preemption service owns SIGTERM in such a run and
agrees on the step with every process, so no Python handler is installed.
"""

import contextlib
import signal
import threading

from absl import logging
import jax
import orbax.checkpoint as ocp

EXIT_STATUS = 128 + signal.SIGTERM  # 143


class Preempted(BaseException):
  """Training stopped on request after saving where it stopped.

  A BaseException, like KeyboardInterrupt: the batch pipeline records `Exception`s per bucket
  and goes on with the next, but a stop request ends the whole run."""

  def __init__(self, reason: str, workdir: str, scale: int, iteration: int, niter: int):
    self.reason, self.workdir = reason, workdir
    self.scale, self.iteration, self.niter = scale, iteration, niter
    super().__init__(
      f"stopped on {reason} at scale {scale}, iteration {iteration}/{niter}, saved in "
      f"{workdir}: run the same command again to resume there"
    )


class StopRequest:
  """Whether the training loop should stop after the current iteration.

  `request(reason)` asks for it (the SIGTERM handler, or a caller); `due(step_id)` is what the
  loop reads after each iteration, step_id counting iterations over the whole run (contiguous,
  the same on every process); `due_between_scales()` is read after a finished scale. In a
  multi-host run only JAX's preemption sync point makes a stop due, on every process at once."""

  def __init__(self):
    self.reason = None  # why a stop was asked for, e.g. 'SIGTERM'; None: keep training
    self._agreed = False  # multi-host: the sync point was reached

  def request(self, reason: str) -> None:
    if self.reason is None:
      self.reason = reason

  def due(self, step_id: int) -> bool:
    if jax.process_count() == 1:
      return self.reason is not None
    if not self._agreed and ocp.multihost.reached_preemption(step_id):
      self._agreed = True
      self.request("a preemption notice")
    return self._agreed

  def due_between_scales(self) -> bool:
    return self.reason is not None if jax.process_count() == 1 else self._agreed


@contextlib.contextmanager
def stop_on_sigterm(stop: StopRequest):
  """Routes SIGTERM to stop.request while active, then restores the previous handler.

  Not installed in a multi-host run (see the module docstring) nor off the main thread, the
  only one Python lets install handlers; SIGTERM then does what it did before."""
  if jax.process_count() > 1 or threading.current_thread() is not threading.main_thread():
    yield stop
    return

  def on_sigterm(signum, frame):
    del signum, frame
    stop.request("SIGTERM")
    logging.warning("SIGTERM: finishing the current iteration, then saving and stopping")

  previous = signal.signal(signal.SIGTERM, on_sigterm)
  try:
    yield stop
  finally:
    signal.signal(signal.SIGTERM, previous)
