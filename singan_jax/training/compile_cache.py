"""The persistent XLA compilation cache: where it lives and turning it on, so a second run of
the same shapes (a re-run of inpainting, a new workdir of the same image size) compiles
nothing. Used by the trainer, before anything is compiled."""

import os

import jax
from jax.experimental.compilation_cache import compilation_cache

# compilation_cache_dir's value that turns the persistent cache off.
CACHE_OFF = "off"
# The per-user cache's size cap: JAX evicts the least recently used programs past it.
CACHE_MAX_BYTES = 2 << 30


def default_cache_dir() -> str:
  """The per-user cache folder: $XDG_CACHE_HOME/singan_jax/xla, else ~/.cache/singan_jax/xla."""
  base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
  return os.path.join(base, "singan_jax", "xla")


def compilation_cache_path(runtime) -> str:
  """Where compiled programs are kept: the Runtime section's compilation_cache_dir, else
  $SINGAN_JAX_CACHE_DIR, else a folder JAX was already given (JAX_COMPILATION_CACHE_DIR), else
  default_cache_dir(); "" when any of these says CACHE_OFF."""
  path = (
    runtime.compilation_cache_dir
    or os.environ.get("SINGAN_JAX_CACHE_DIR", "")
    or jax.config.jax_compilation_cache_dir
    or default_cache_dir()
  )
  return "" if path == CACHE_OFF else path


def enable(runtime) -> str:
  """Turns on JAX's persistent compilation cache at compilation_cache_path(runtime), so a second
  run of the same shapes compiles nothing; returns the directory ("" = off). Every compiled
  program is cached, however fast it compiled; the per-user default is capped in size."""
  path = compilation_cache_path(runtime)
  jax.config.update("jax_enable_compilation_cache", bool(path))
  if not path:
    return path
  if path != jax.config.jax_compilation_cache_dir:
    os.makedirs(path, exist_ok=True)
    jax.config.update("jax_compilation_cache_dir", path)
    if path == default_cache_dir():
      jax.config.update("jax_compilation_cache_max_size", CACHE_MAX_BYTES)
    compilation_cache.reset_cache()  # re-read the directory even if jax compiled before
  jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
  jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
  return path
