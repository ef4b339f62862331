"""Shared benchmark helpers: thread pinning, robust timing, machine ceilings, JSON output.

Benchmarks run JAX and PyTorch in ONE process on the same cores, so ratios are meaningful on
a shared, noisy machine even when absolute times are not.
"""

import json
import os
import resource
import statistics
import time


def pin_threads(cores: int | None = None) -> int:
  """Pins this process to `cores` CPUs (default: all it may use) for XLA and torch alike.

  Must run before the JAX backend and torch start (XLA reads XLA_FLAGS once, OpenMP reads
  OMP_WAIT_POLICY once). OpenMP threads that spin-wait between ops made eager torch 20-100x
  slower at small scales on this shared machine (load 9 on 2 cores: 25x38 iteration 8-18 s
  spinning, 82-99 ms passive), so torch runs with passive waiting unless told otherwise.
  Returns the core count.
  """
  allowed = sorted(os.sched_getaffinity(0))
  cores = len(allowed) if cores is None else min(cores, len(allowed))
  os.sched_setaffinity(0, allowed[:cores])
  os.environ.setdefault("OMP_WAIT_POLICY", "passive")
  flags = os.environ.get("XLA_FLAGS", "")
  if "intra_op_parallelism_threads" not in flags:
    os.environ["XLA_FLAGS"] = (
      flags + f" --xla_cpu_multi_thread_eigen=true intra_op_parallelism_threads={cores}"
    ).strip()
  try:
    import torch  # pylint: disable=g-import-not-at-top

    torch.set_num_threads(cores)
    torch.set_num_interop_threads(1)
  except (ImportError, RuntimeError):
    pass
  return cores


def time_calls(fn, iters: int, warmup: int = 1) -> list[float]:
  """Seconds per call of fn() (which must block until its result is ready), after warmup."""
  for _ in range(warmup):
    fn()
  times = []
  for _ in range(iters):
    t0 = time.perf_counter()
    fn()
    times.append(time.perf_counter() - t0)
  return times


def best_and_median(times: list[float]) -> tuple[float, float]:
  """(min, median): min is the least noisy estimate on a shared machine, median the typical."""
  return min(times), statistics.median(times)


def compiled_flops(compiled) -> float:
  """FLOPs of one call of a jax Compiled, from XLA's cost analysis (nan when it has none)."""
  cost = compiled.cost_analysis()
  cost = cost[0] if isinstance(cost, (list, tuple)) else cost
  return float(cost.get("flops", float("nan"))) if cost else float("nan")


def peak_rss_mb() -> float:
  """Peak resident memory of this process so far, MiB (Linux ru_maxrss is KiB)."""
  return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def block(tree):
  """Blocks until every jax array in tree is computed; returns tree."""
  import jax  # pylint: disable=g-import-not-at-top

  return jax.block_until_ready(tree)


def print_table(header: list[str], rows: list[list]) -> None:
  """Prints a markdown table (so it can be pasted into the README as is)."""
  print("| " + " | ".join(header) + " |")
  print("|" + "|".join("---" for _ in header) + "|")
  for row in rows:
    print("| " + " | ".join(_fmt(v) for v in row) + " |")


def _fmt(v) -> str:
  if isinstance(v, float):
    return f"{v:.3g}" if abs(v) < 100 else f"{v:.0f}"
  return str(v)


def print_json(record: dict) -> None:
  """The benchmark's last line: one JSON object."""
  print(json.dumps(record, sort_keys=True), flush=True)
