"""Shared benchmark helpers: thread pinning, robust timing, machine ceilings, JSON output.

Benchmarks run JAX and PyTorch in ONE process on the same cores, so ratios are meaningful on
a shared, noisy machine even when absolute times are not.
"""

import json
import os
import resource
import statistics
import time

import numpy as np

from singan_jax import config as config_lib


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


def override(cfg, items):
  """Applies the --set FIELD=VALUE flags to a config, each value read as the field's type
  (e.g. --set nfc=8 --set Dsteps=1 for tiny shapes); returns cfg."""
  for item in items:
    key, _, value = item.partition("=")
    try:
      cfg[key] = config_lib.typed_value(cfg, key, value)
    except KeyError:
      raise SystemExit(
        f"--set {item}: {key!r} is not a config field (singan_jax/config.py)"
      ) from None
  return cfg


def hole_box(h: int, w: int):
  """A known mask (h, w) with a central rectangular hole of ~6% of the pixels."""
  known = np.ones((h, w), np.float32)
  known[int(0.35 * h) : int(0.6 * h), int(0.4 * w) : int(0.65 * w)] = 0
  return known


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
  """Prints a markdown table (so it can be pasted into docs/ as is)."""
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


def ceilings(cores: int) -> dict:
  """GFLOP/s of a large matmul, a large 3x3 conv forward and its weight gradient (best of
  JAX and torch): what this machine can do at all, measured now."""
  import jax  # pylint: disable=g-import-not-at-top
  import jax.numpy as jnp  # pylint: disable=g-import-not-at-top
  import torch  # pylint: disable=g-import-not-at-top
  from jax import lax  # pylint: disable=g-import-not-at-top

  out = {}
  m = 1536
  a = jnp.ones((m, m), jnp.float32)
  mm = jax.jit(lambda a: a @ a)
  t = min(time_calls(lambda: block(mm(a)), 5))
  ta = torch.ones(m, m)
  tt = min(time_calls(lambda: ta @ ta, 5))
  out["matmul"] = 2 * m**3 / min(t, tt) / 1e9
  h, w, c = 167, 250, 64
  x = jnp.ones((1, h, w, c), jnp.float32)
  k = jnp.ones((3, 3, c, c), jnp.float32) * 0.01
  dn = ("NHWC", "HWIO", "NHWC")
  fwd = jax.jit(lambda x, k: lax.conv_general_dilated(x, k, (1, 1), "SAME", dimension_numbers=dn))
  dw = jax.jit(
    jax.grad(
      lambda k, x: jnp.sum(lax.conv_general_dilated(x, k, (1, 1), "SAME", dimension_numbers=dn))
    )
  )
  conv_flops = 2 * h * w * c * c * 9
  tf = min(time_calls(lambda: block(fwd(x, k)), 5))
  tw = min(time_calls(lambda: block(dw(k, x)), 5))
  tx = torch.ones(1, c, h, w)
  tk = torch.full((c, c, 3, 3), 0.01, requires_grad=True)
  tff = min(time_calls(lambda: torch.nn.functional.conv2d(tx, tk, padding=1), 5))

  def torch_dw():
    tk.grad = None
    torch.nn.functional.conv2d(tx, tk, padding=1).sum().backward()

  tfw = min(time_calls(torch_dw, 5)) - tff
  out["conv_fwd"] = conv_flops / min(tf, tff) / 1e9
  out["conv_dw"] = conv_flops / max(min(tw, tfw), 1e-9) / 1e9
  out["conv_fwd_jax"], out["conv_fwd_torch"] = conv_flops / tf / 1e9, conv_flops / tff / 1e9
  out["conv_dw_jax"], out["conv_dw_torch"] = conv_flops / tw / 1e9, conv_flops / tfw / 1e9
  return out
