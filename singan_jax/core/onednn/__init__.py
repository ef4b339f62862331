"""oneDNN convolutions for conv_impl='onednn' on CPU: a small C++ extension (dnnl_conv.cc)
of three XLA FFI handlers (forward, input gradient, weight gradient of conv_forms.py's ops).

XLA:CPU's weight-gradient convolution ran several times slower than oneDNN's here
(docs/performance.md), and torch's CPU convolutions are oneDNN's. The extension is built at
first use, not at install: with the C++ compiler the machine has ($CXX, else g++), against
the oneDNN wheels (onednn-cpu-gomp, onednn-devel-cpu-gomp: installed with the package on x86-64
Linux, else `pip install 'singan_jax[onednn]'`) and jaxlib's FFI headers, into a cache
directory keyed by a hash of the source, compiler, oneDNN and jax versions, so later processes
only load it. Cache directory: $SINGAN_JAX_ONEDNN_DIR if set, else ~/.cache/singan_jax/onednn
($XDG_CACHE_HOME respected).

load() builds / loads / registers once per process and returns None when that cannot be
done, after ONE warning naming why and the fix; conv_forms.py then serves XLA's forms.
"""

import ctypes
import functools
import hashlib
import importlib.metadata
import os
import shutil
import subprocess
import tempfile

from absl import logging
import jax
import numpy as np

SOURCE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "dnnl_conv.cc")
RUNTIME, DEVEL = "onednn-cpu-gomp", "onednn-devel-cpu-gomp"
FIX = "pip install 'singan_jax[onednn]' (the oneDNN wheels) and a C++ compiler (g++ or $CXX)"
TARGETS = {  # op -> FFI target name = the handler's symbol in dnnl_conv.cc
  "valid": "SinganDnnlValid",
  "input_grad": "SinganDnnlInputGrad",
  "kernel_grad": "SinganDnnlKernelGrad",
}
_OP_INDEX = {"valid": 0, "input_grad": 1, "kernel_grad": 2}


class Unavailable(RuntimeError):
  """The extension cannot be built or loaded here (the message says why)."""


def _wheel_file(dist: str, suffix: str) -> str:
  """The installed file of wheel dist whose path ends with suffix."""
  try:
    files = importlib.metadata.files(dist) or []
  except importlib.metadata.PackageNotFoundError as e:
    raise Unavailable(f"the {dist} wheel is not installed") from e
  for f in files:
    if str(f).endswith(suffix):
      return str(f.locate())
  raise Unavailable(f"the {dist} wheel has no {suffix}")


def _compiler() -> str:
  cxx = os.environ.get("CXX", "g++")
  path = shutil.which(cxx)
  if path is None:
    raise Unavailable(f"no C++ compiler {cxx!r} on PATH")
  return path


def cache_dir() -> str:
  """Where built extensions live (module docstring)."""
  explicit = os.environ.get("SINGAN_JAX_ONEDNN_DIR", "")
  if explicit:
    return explicit
  base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
  return os.path.join(base, "singan_jax", "onednn")


def _build_inputs():
  """(compiler, oneDNN include dir, oneDNN lib dir, the hash keying the built file)."""
  cxx = _compiler()
  header = _wheel_file(DEVEL, "oneapi/dnnl/dnnl.hpp")
  lib = _wheel_file(RUNTIME, "libdnnl.so.3")
  include = os.path.dirname(os.path.dirname(os.path.dirname(header)))
  version = subprocess.run([cxx, "--version"], capture_output=True, text=True, check=False)
  digest = hashlib.sha256()
  with open(SOURCE, "rb") as f:
    digest.update(f.read())
  for part in (version.stdout, importlib.metadata.version(RUNTIME), jax.__version__, lib):
    digest.update(part.encode())
  return cxx, include, os.path.dirname(lib), digest.hexdigest()[:16]


def build() -> str:
  """The path of the built extension, compiling it first if the cache lacks it."""
  cxx, include, libdir, digest = _build_inputs()
  out_dir = os.path.join(cache_dir(), digest)
  target = os.path.join(out_dir, "dnnl_conv.so")
  if os.path.exists(target):
    return target
  os.makedirs(out_dir, exist_ok=True)
  fd, tmp = tempfile.mkstemp(dir=out_dir, suffix=".so.tmp")  # concurrent builders each own one
  os.close(fd)
  cmd = [cxx, "-O2", "-std=c++17", "-shared", "-fPIC", "-w", f"-I{jax.ffi.include_dir()}"]
  cmd += [f"-I{include}", SOURCE, "-o", tmp, f"-L{libdir}", "-l:libdnnl.so.3"]
  cmd += [f"-Wl,-rpath,{libdir}"]
  logging.info("oneDNN convolutions: building %s", " ".join(cmd))
  done = subprocess.run(cmd, capture_output=True, text=True, check=False)
  if done.returncode != 0:
    os.unlink(tmp)
    tail = done.stderr.strip().splitlines()[-3:]
    raise Unavailable(f"building {SOURCE} failed ({cxx}): {' | '.join(tail)}")
  os.replace(tmp, target)  # atomic: loaders never see half a file
  return target


def _load_and_register() -> ctypes.CDLL:
  """Builds (if needed), loads and registers the FFI targets; raises Unavailable."""
  if jax.default_backend() != "cpu":
    raise Unavailable(f"the backend is {jax.default_backend()}, not cpu")
  path = build()
  # Before libgomp starts (it reads this once): OpenMP threads spin-waiting between calls
  # took the cores XLA's own threads needed (small convolutions ran ~100x slower on a loaded
  # machine, docs/performance.md). An explicit setting, or a libgomp already started (torch),
  # is left as it is.
  os.environ.setdefault("OMP_WAIT_POLICY", "passive")
  try:
    lib = ctypes.cdll.LoadLibrary(path)
  except OSError as e:
    raise Unavailable(f"loading {path} failed: {e}") from e
  for name in TARGETS.values():
    jax.ffi.register_ffi_target(name, jax.ffi.pycapsule(getattr(lib, name)), platform="cpu")
  lib.SinganDnnlImpl.argtypes = [ctypes.c_int64, ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int64]
  return lib


@functools.cache
def load():
  """The loaded extension (ctypes library, FFI targets registered), or None after one warning
  saying why it is unavailable and how to fix that. Once per process."""
  try:
    return _load_and_register()
  except (Unavailable, OSError, subprocess.SubprocessError) as e:
    logging.warning(
      "oneDNN convolutions unavailable (%s): XLA's formulations serve instead "
      "(conv_impl='onednn' runs XLA's native form, 'auto' leaves oneDNN out). Fix: %s",
      e,
      FIX,
    )
    return None


def available() -> bool:
  """Whether load() succeeds (building the extension on first call)."""
  return load() is not None


def _result_shape(op: str, a_shape, b_shape):
  """The result shape of op on (a, b) (conv_forms.py's layouts)."""
  if op == "valid":
    return (a_shape[0], a_shape[1] - b_shape[0] + 1, a_shape[2] - b_shape[1] + 1, b_shape[3])
  if op == "input_grad":
    return (a_shape[0], a_shape[1] + b_shape[0] - 1, a_shape[2] + b_shape[1] - 1, b_shape[2])
  return (a_shape[1] - b_shape[1] + 1, a_shape[2] - b_shape[2] + 1, a_shape[3], b_shape[3])


def conv(op: str, a, b):
  """op (conv_forms.OPS) of two float32 arrays through oneDNN; load() must have succeeded.
  Under jax.vmap it runs once per element (partial_conv's own vmap rule comes first). Inside
  shard_map a and b must vary over the same mesh axes, and the result comes typed invariant:
  conv_forms casts it to vary as they do (left invariant, JAX's transposes of the implicit
  casts after it would psum its cotangents across devices)."""
  shape = jax.ShapeDtypeStruct(_result_shape(op, a.shape, b.shape), a.dtype)
  return jax.ffi.ffi_call(TARGETS[op], shape, vmap_method="sequential")(a, b)


def impl_name(op: str, conv_shape) -> str:
  """oneDNN's name of the implementation it runs for op on the forward convolution
  conv_shape = (n, h, w, cin, cout, kh, kw), e.g. 'brg:avx512_core' (tests, benchmarks)."""
  lib = load()
  if lib is None:
    return "unavailable"
  dims = np.asarray(conv_shape, np.int64)
  buf = ctypes.create_string_buffer(256)
  status = lib.SinganDnnlImpl(_OP_INDEX[op], dims.ctypes.data, buf, len(buf))
  name = buf.value.decode()
  if status != 0:
    raise RuntimeError(f"oneDNN {op} at {conv_shape}: {name}")
  return name
