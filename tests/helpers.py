"""Scaffolding the tests share: the tiny config, test image pairs on disk, and the CLI as a
subprocess. Importable from test modules (pytest puts tests/ on sys.path) and from the
scripts they run in fresh interpreters (which put tests/ on sys.path themselves)."""

import os
import subprocess
import sys

import numpy as np

from singan_jax import config as defaults
from singan_jax.io import images as image_io
from singan_jax.training import checkpoint as ckpt_lib

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TESTS = os.path.join(REPO, "tests")


# The default config shrunk to seconds: a 2-scale pyramid (25x32, 29x36 of a 32x40 image) of
# narrow nets (nfc 8), 4 iterations per scale of one D and one G step, no checkpoints or sheets,
# the mean fill injected at scale 1.
TINY = dict(
  max_size=36,
  min_size=25,
  niter=4,
  nfc=8,
  min_nfc=8,
  Dsteps=1,
  Gsteps=1,
  checkpoint_every=0,
  log_every=4,
  sheets=False,
  fill="mean",
  inject_scale=1,
)


def tiny_config(**overrides):
  """The default config with TINY's fields; `overrides` (any config fields) replace them."""
  cfg = defaults.get_config()
  cfg.update(TINY)
  cfg.update(overrides)
  return cfg


def tiny_flags(**overrides) -> list:
  """TINY as command-line flags (`--config.FIELD=VALUE`), for runs of the real CLI;
  `overrides` replace or add fields, and an override of None drops that field (the config
  file's own value then holds)."""
  fields = {**TINY, **overrides}
  return [f"--config.{k}={v}" for k, v in fields.items() if v is not None]


# Two-scale pyramids of 16x20 (inputs 16x20 and 32x40 share them), 2 iterations per scale:
# for the batched runs, which train several pyramids.
SMALL_PYRAMID = {"max_size": 20, "min_size": 16, "niter": 2, "log_every": 1}

# The report's 7 px blend would cover most of a 32x40 image's hole: a narrow one keeps the
# generated pixels visible.
NARROW_BLEND = {"blend_radius": 1.0, "blend_sigma": 0.5}


def write_pair(folder, name, h, w, seed, hole=True):
  """NAME.png (smooth random colours) and NAME_mask.png (a white square: the hole)."""
  rng = np.random.default_rng(seed)
  x = rng.normal(size=(h, w, 3)).cumsum(0).cumsum(1)
  x = ((x - x.min()) / (x.max() - x.min() + 1e-9) * 255).astype(np.uint8)
  mask = np.zeros((h, w), np.uint8)
  if hole:
    mask[h // 3 : h // 2, w // 3 : w // 2] = 255
  image_io.write_image(os.path.join(folder, f"{name}.png"), x)
  image_io.write_image(os.path.join(folder, f"{name}_mask.png"), mask)
  return os.path.join(folder, f"{name}.png"), os.path.join(folder, f"{name}_mask.png")


def cli_env(cache_dir=None, kill_at=None):
  """The environment of a CLI subprocess: CPU only, the XLA compilation cache in cache_dir
  (None: the session's, set by conftest.py), fast compiles, the kill hook at kill_at only."""
  env = dict(os.environ, JAX_PLATFORMS="cpu")
  if cache_dir is not None:
    env.update(
      JAX_COMPILATION_CACHE_DIR=str(cache_dir),
      JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS="0",
      JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES="0",
    )
  # Halves XLA:CPU compile time; every run in a comparison uses the same flags.
  flags = os.environ.get("XLA_FLAGS", "") + " --xla_backend_optimization_level=0"
  env["XLA_FLAGS"] = flags.strip()
  env.pop(ckpt_lib.KILL_ENV, None)
  if kill_at:
    env[ckpt_lib.KILL_ENV] = kill_at
  return env


def run_cli(args, cache_dir=None, kill_at=None):
  """Runs `python -m singan_jax.main args` to completion (or to its self-kill at kill_at, see
  singan_jax/training/checkpoint.py); returns the CompletedProcess."""
  return subprocess.run(
    [sys.executable, "-m", "singan_jax.main", *args],
    cwd=REPO,
    env=cli_env(cache_dir, kill_at),
    capture_output=True,
    text=True,
    timeout=900,
  )
