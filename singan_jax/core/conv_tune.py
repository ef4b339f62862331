"""Picks the fastest convolution formulation (conv_forms.py) per shape and processor.

As cuDNN's autotuner: the first time an op meets a (op, shapes, dtype, backend, processor,
jax version) key, every formulation is compiled and timed on concrete random arrays, and
the fastest is kept, in memory and in a small JSON file on disk, so every later trace (this
run, later runs, other processes) makes the same choice without measuring again, and the
persistent XLA compilation cache sees the same programs.

Choices are made while a jit traces (that is when shapes are known), but measuring never
runs inside the trace: it runs in a worker thread, whose JAX trace state is fresh, on
concrete arrays. A choice is a pure function of the key and the file's contents, so a
traced program is deterministic once its keys are on disk.

Location: $SINGAN_JAX_CONV_TUNE if set, else conv_tune.json beside the XLA compilation
cache (--config.compilation_cache_dir or $SINGAN_JAX_CACHE_DIR, as set by the trainer),
else ~/.cache/singan_jax/conv_tune.json ($XDG_CACHE_HOME respected).
"""

import concurrent.futures
import functools
import json
import os
import platform
import statistics
import tempfile
import threading
import time

from absl import logging
import jax
import jax.numpy as jnp
import numpy as np

from singan_jax.core import conv_forms

FILE_NAME = "conv_tune.json"
_ROUNDS = 5  # timed rounds; every formulation runs once per round (interleaved), median kept
_MARGIN = 0.9  # another formulation replaces native only when at most this fraction of its
# time: sub-ms ops on a loaded machine vary by more than 10%, and a near-tie is no gain


def cache_path() -> str:
  """Where the choices live (module docstring)."""
  explicit = os.environ.get("SINGAN_JAX_CONV_TUNE", "")
  if explicit:
    return explicit
  xla_dir = jax.config.jax_compilation_cache_dir
  if xla_dir:
    return os.path.join(xla_dir, FILE_NAME)
  base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
  return os.path.join(base, "singan_jax", FILE_NAME)


@functools.lru_cache(maxsize=1)
def processor() -> str:
  """The device the choice is for: CPU model, family/model and vector ISA; else device kind."""
  if jax.default_backend() != "cpu":
    return jax.devices()[0].device_kind
  fields, flags = {}, set()
  try:
    with open("/proc/cpuinfo", encoding="utf-8") as f:
      for line in f:
        name, _, value = line.partition(":")
        name = name.strip()
        if name == "flags":
          flags = set(value.split())
          break
        fields.setdefault(name, value.strip())
  except OSError:
    return platform.processor() or platform.machine()
  isa = next((i for i in ("avx512f", "avx2", "avx", "neon") if i in flags), "base")
  model = fields.get("model name", platform.machine())
  return f"{model} f{fields.get('cpu family', '?')} m{fields.get('model', '?')} {isa}"


def key(op: str, a_shape, b_shape, dtype) -> str:
  """The JSON key of one op at one shape on this processor and jax version (and whether the
  oneDNN extension is among the candidates: a choice made without it is not final with it)."""
  a, b = "x".join(map(str, a_shape)), "x".join(map(str, b_shape))
  dev = f"{jax.default_backend()}/{processor()}"
  extra = " +onednn" if "onednn" in conv_forms.candidates(op) else ""
  return f"{op} {a} {b} {jnp.dtype(dtype).name} {dev} jax{jax.__version__}{extra}"


class _Table:
  """The in-memory choices, loaded once from disk and written back after each measurement."""

  def __init__(self):
    self._lock = threading.Lock()
    self._path = None
    self._entries = {}
    self.measured_s = 0.0  # seconds spent measuring so far (bench conv reports it)

  def _load(self) -> None:
    path = cache_path()
    if path != self._path:
      self._path, self._entries = path, _read(path)

  def choose(self, op: str, a_shape, b_shape, dtype) -> str:
    with self._lock:
      self._load()
      k = key(op, a_shape, b_shape, dtype)
      if k not in self._entries:
        t0 = time.perf_counter()
        entry = _measure_isolated(op, tuple(a_shape), tuple(b_shape), jnp.dtype(dtype))
        self.measured_s += time.perf_counter() - t0
        self._entries = {**_read(self._path), k: entry}  # merge what others wrote meanwhile
        _write(self._path, self._entries)
      return self._entries[k]["choice"]


_TABLE = _Table()


def choose(op: str, a_shape, b_shape, dtype) -> str:
  """The fastest formulation name of op at these shapes here (measured once, then cached)."""
  return _TABLE.choose(op, a_shape, b_shape, dtype)


def measured_seconds() -> float:
  """Seconds this process has spent measuring formulations (the autotuner's cost)."""
  return _TABLE.measured_s


def _read(path: str) -> dict:
  try:
    with open(path, encoding="utf-8") as f:
      entries = json.load(f)
  except (OSError, ValueError):
    return {}
  return {k: v for k, v in entries.items() if isinstance(v, dict) and "choice" in v}


def _write(path: str, entries: dict) -> None:
  """Atomic write (a temp file renamed over the old one): readers never see half a file."""
  try:
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path) or ".", suffix=".tmp")
    with os.fdopen(fd, "w", encoding="utf-8") as f:
      json.dump(entries, f, indent=1, sort_keys=True)
    os.replace(tmp, path)
  except OSError as e:
    logging.warning("conv autotune: cannot write %s (%s); choices kept in memory only", path, e)


def _measure_isolated(op, a_shape, b_shape, dtype) -> dict:
  """measure() in a worker thread: outside any jit trace the caller may be inside."""
  with concurrent.futures.ThreadPoolExecutor(1) as pool:
    return pool.submit(measure, op, a_shape, b_shape, dtype).result()


def measure(op: str, a_shape, b_shape, dtype, rounds: int = _ROUNDS) -> dict:
  """{'choice': fastest name, 'ms': {name: median ms}} of every formulation of op."""
  rng = np.random.default_rng(0)
  a = jnp.asarray(rng.standard_normal(a_shape), dtype)
  b = jnp.asarray(rng.standard_normal(b_shape), dtype)
  # A fresh wrapper per measurement: its compiled programs are freed with it (jit caches
  # live as long as the function they are keyed on, here the module-level formulations).
  forms = conv_forms.candidates(op)
  fns = {name: jax.jit(lambda a, b, fn=fn: fn(a, b)) for name, fn in forms.items()}
  for fn in fns.values():
    fn(a, b).block_until_ready()  # compile + warm up
  times = {name: [] for name in fns}
  for _ in range(rounds):
    for name, fn in fns.items():
      t0 = time.perf_counter()
      fn(a, b).block_until_ready()
      times[name].append(time.perf_counter() - t0)
  ms = {name: 1e3 * statistics.median(t) for name, t in times.items()}
  best = min(ms, key=ms.get)
  choice = best if ms[best] <= _MARGIN * ms["native"] else "native"
  logging.info("conv autotune: %s -> %s (%s)", key(op, a_shape, b_shape, dtype), choice, ms)
  return {"choice": choice, "ms": ms}
