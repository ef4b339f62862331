"""Compiling the next scale's iteration while this scale trains.

XLA spends 10-40 s compiling each scale's iteration on a CPU, a quarter to a third of a short
run's wall time (docs/performance.md). Its shapes are known before it runs, so one worker thread
lowers and compiles scale n + 1 from abstract arguments while scale n trains; scale n + 1 then
starts on the finished executable. Single-process runs on one device only: a mesh's shardings
are not rebuilt abstractly here, so there every scale compiles at its first call as before.
"""

from __future__ import annotations

import threading
import time
from typing import Any, Callable

from absl import logging
import jax

from singan_jax.core import sampling
from singan_jax.training import concurrent
from singan_jax.training import step as train_step


def abstract(tree, shape=None):
  """ShapeDtypeStructs of tree's arrays or structs (placement and weak types kept; shape:
  replaces the trailing dims (h, w, c) of every leaf, for the next scale's image inputs)."""

  def one(x):
    s = x.shape if shape is None else x.shape[: x.ndim - len(shape)] + tuple(shape)
    return jax.ShapeDtypeStruct(s, x.dtype, sharding=x.sharding, weak_type=x.weak_type)

  return jax.tree.map(one, tree)


def next_scale_args(plan, net, tc, n: int, state, inputs, health, init_networks) -> tuple:
  """Abstract (state, inputs, health) of scale n + 1's iteration, built from scale n's
  (arrays or their abstract() shapes; init_networks: loop.init_networks, a scale's fresh G
  and D variables: inherited weights have the same shapes when the widths match)."""
  h, w = plan.shapes[n + 1]
  chain = tc.schedule == "concurrent"
  # The concurrent chain's stages j..n as they are now: g_params etc. are tuples, scale n last.
  stages = [
    {"params": p, "batch_stats": s}
    for p, s in (zip(state.g_params, state.g_stats) if chain else [(state.g_params, state.g_stats)])
  ]
  j, j_next = concurrent.first_stage(n, tc), concurrent.first_stage(n + 1, tc)
  kept = tuple(stages[j_next - j :]) if chain else ()

  def fresh_state(keys, kept):
    g_vars, d_vars = init_networks(plan, n + 1, net, keys, h, w)
    if chain:
      return jax.vmap(lambda s, d: concurrent.init_state(s, d, tc, n + 1))(kept + (g_vars,), d_vars)
    return jax.vmap(lambda g, d: train_step.init_state(g, d, tc))(g_vars, d_vars)

  frozen_n = sampling.FrozenScale(stages[-1], inputs.z_opt, inputs.noise_amp)
  image, known = abstract(inputs.real, (h, w, 3)), abstract(inputs.known, (h, w, 1))
  coarser = inputs.frozen_known + (inputs.known,) if net.train_masks else ()
  stage_known = (tuple(inputs.stage_known) + (inputs.known,))[j_next - j :] if chain else ()
  z_prev = abstract(inputs.real, (*plan.shapes[j_next if chain else n + 1], 3))
  nxt = train_step.ScaleInputs(
    image,
    known,
    image,  # z_opt: zeros of the image's shape past scale 0
    z_prev,  # the coarser reconstruction, upsampled (concurrent: at the chain's first scale)
    abstract(inputs.noise_amp),
    abstract(inputs.key),
    abstract(tuple(inputs.frozen) + (frozen_n,)),
    abstract(coarser),
    abstract(stage_known),
  )
  return jax.eval_shape(fresh_state, inputs.key, kept), nxt, abstract(health)


class Ahead:
  """At most one background compile at a time: start(n, ...) then take(n) (None when nothing
  was compiled for n or it failed: the caller compiles at first call, as without it)."""

  def __init__(self):
    self._thread: threading.Thread | None = None
    self._scale: int | None = None
    self._result: Any = None
    self._error: BaseException | None = None
    self._seconds = 0.0

  def start(self, n: int, jitted, args_fn: Callable[[], tuple]) -> None:
    """Compiles jitted for the arguments args_fn() returns (abstract) in a worker thread."""
    self.join()
    self._scale, self._result, self._error = n, None, None

    def work():
      t = time.perf_counter()
      try:
        self._result = jitted.lower(*args_fn()).compile()
      except Exception as e:  # pylint: disable=broad-except  # logged, then compiled as before
        self._error = e
      self._seconds = time.perf_counter() - t

    self._thread = threading.Thread(target=work, name=f"compile-scale-{n}", daemon=True)
    self._thread.start()

  def join(self) -> None:
    """Waits for the compile in flight (a run that ends or stops waits for it: no thread
    is left inside XLA at exit)."""
    if self._thread is not None:
      self._thread.join()
      self._thread = None

  def take(self, n: int):
    """Scale n's compiled iteration (waiting for it), or None."""
    if self._scale != n:
      return None
    self.join()
    self._scale, result = None, self._result
    if self._error is not None:
      logging.warning(
        "scale %d: compiling ahead failed (%s); compiling at first call", n, self._error
      )
      return None
    logging.info("scale %d: compiled ahead, in the background (%.1fs)", n, self._seconds)
    return result


def first_call_checked(compiled, jitted, n: int):
  """compiled, whose first call falls back to jitted (logged) if its arguments do not match
  the abstract ones it was compiled for: a bug (the tests check that each scale traces once),
  never a wrong result."""
  state = {"fn": None}

  def step(*args):
    if state["fn"] is not None:
      return state["fn"](*args)
    try:
      out = compiled(*args)
      state["fn"] = compiled
    except (TypeError, ValueError) as e:
      logging.warning("scale %d: the ahead-compiled iteration does not fit (%s)", n, e)
      state["fn"] = jitted
      out = jitted(*args)
    return out

  return step
