"""Shared pytest setup: markers, and parity tests that may not silently skip in CI. The
helpers the tests share (tiny_config, write_pair, run_cli) live in tests/helpers.py, which the
scripts the tests run in fresh interpreters import too."""

import os
import shutil
import tempfile

import pytest

# One persistent XLA compilation cache for the whole test session, shared with the CLI
# subprocesses and xdist workers the tests start (they inherit the variable): the same tiny
# scale compiled twice costs one compile. Set before any test module imports jax; removed
# at the end by the process that made it (tens of MB each run otherwise stay in /tmp).
_OWN_CACHE = None
if "JAX_COMPILATION_CACHE_DIR" not in os.environ:
  _OWN_CACHE = tempfile.mkdtemp(prefix="singan-jax-test-xla-cache-")
  os.environ["JAX_COMPILATION_CACHE_DIR"] = _OWN_CACHE
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0")
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES", "0")


def pytest_configure(config):
  config.addinivalue_line("markers", "slow: end-to-end runs (seconds to minutes); CI runs them")
  config.addinivalue_line("markers", "parity: JAX vs the PyTorch port in singan_jax/reference")


def pytest_unconfigure(config):
  """The session's XLA cache goes with the session (xdist workers leave it to the controller,
  which made it and outlives them)."""
  if _OWN_CACHE and not hasattr(config, "workerinput"):
    shutil.rmtree(_OWN_CACHE, ignore_errors=True)


def pytest_collection_modifyitems(config, items):
  """In CI (CI=true) parity tests must run: torch missing fails the run instead of skipping."""
  if os.environ.get("CI", "").lower() != "true":
    return
  if not any("parity" in item.keywords for item in items):
    return
  try:
    import torch  # noqa: F401
  except ImportError as e:
    raise pytest.UsageError(
      "CI=true but torch is not installed, so the parity tests cannot "
      "run: pip install -e .[test] (torch==2.13.0 CPU)"
    ) from e
