r"""singan-jax command line: train a pyramid, inpaint, or sample.

  python -m singan_jax.main --mode=inpaint --config=configs/demo.py \
      --config.image=IMG.png --config.mask=MASK.png --workdir=DIR

Modes: train (train or resume the pyramid in DIR), inpaint (train if DIR has no finished
pyramid, then write DIR/inpainted.png), sample (random samples from DIR's pyramid).
Without --config.image/--config.mask the bundled example is used.
"""

import fcntl
import logging as pylogging
import os
import shutil
import sys

from absl import app
from absl import flags
from absl import logging
import jax
import numpy as np
from ml_collections import config_flags

from singan_jax.train import checkpoint as ckpt_lib
from singan_jax import config as defaults
from singan_jax.io import images as image_io
from singan_jax.inpaint import inpaint as inpaint_lib
from singan_jax import parallel
from singan_jax.core import partial_conv
from singan_jax.core import pyramid
from singan_jax.core import sampling
from singan_jax.train import loop as trainer

MODES = ("train", "inpaint", "sample")
FILL_METHODS = ("none", "mean", "local_means", "patchmatch")
MAX_GREY_SHARE = 0.05  # masks with more mid-grey pixels are refused, not silently thresholded

_CONFIG = config_flags.DEFINE_config_file(
  "config",
  defaults.__file__,
  "Config file (configs/*.py); fields override with --config.field=value. Default: paper defaults.",
  lock_config=True,
)
_WORKDIR = flags.DEFINE_string("workdir", None, "Directory for checkpoints and outputs.")
_MODE = flags.DEFINE_enum("mode", "inpaint", MODES, "What to do.")
_MULTIHOST = flags.DEFINE_bool(
  "multihost",
  False,
  "Multi-host run (one process per host): call "
  "jax.distributed.initialize() first. TPU pod slices detect the arguments below.",
)
_COORDINATOR = flags.DEFINE_string(
  "coordinator_address", None, "With --multihost elsewhere: host:port of process 0."
)
_NUM_PROCESSES = flags.DEFINE_integer(
  "num_processes", None, "With --multihost elsewhere: number of processes."
)
_PROCESS_ID = flags.DEFINE_integer(
  "process_id", None, "With --multihost elsewhere: this process's index."
)


class UsageError(ValueError):
  """Bad configuration or input: reported as one line, exit status 2."""


def validate_config(cfg) -> None:
  """Rejects configs that cannot give a meaningful run, naming the field and the fix."""

  def need(ok, field, problem, fix):
    if not ok:
      raise UsageError(f"--config.{field}={cfg[field]!r} {problem}: {fix}")

  need(cfg.niter >= 1, "niter", "is not a positive iteration count", "use e.g. 2000")
  need(0 < cfg.scale_factor < 1, "scale_factor", "must lie in (0, 1)", "use e.g. 0.75")
  need(
    cfg.min_size >= 11,
    "min_size",
    "is too small for five 3x3 layers",
    "use at least 11 (default 25)",
  )
  need(cfg.max_size >= cfg.min_size, "max_size", "is below min_size", "raise max_size")
  need(cfg.Dsteps >= 1, "Dsteps", "must be at least 1", "use 3")
  need(cfg.Gsteps >= 1, "Gsteps", "must be at least 1", "use 3")
  need(
    cfg.num_layer == 5,
    "num_layer",
    "is not supported (inputs are padded by a fixed 5 px, which five 3x3 layers consume)",
    "use 5",
  )
  need(cfg.nfc >= 1 and cfg.min_nfc >= 1, "nfc", "must be positive", "use 32")
  need(cfg.lr_g > 0 and cfg.lr_d > 0, "lr_g", "learning rates must be positive", "use 5e-4")
  need(
    0 < cfg.mask_threshold < 1,
    "mask_threshold",
    "must lie in (0, 1)",
    "use 0.5 (the default) or 0.01 (the 2019 code)",
  )
  need(
    cfg.mask_mode in ("threshold", "bbox"), "mask_mode", "is unknown", "use 'threshold' or 'bbox'"
  )
  need(
    cfg.pconv_norm in partial_conv.NORMALIZATIONS,
    "pconv_norm",
    "is unknown",
    f"use one of {partial_conv.NORMALIZATIONS}",
  )
  need(cfg.fill in FILL_METHODS, "fill", "is unknown", f"use one of {FILL_METHODS}")
  need(cfg.fill_radius >= 1, "fill_radius", "must be at least 1", "use 4")
  need(
    cfg.patch_size >= 3 and cfg.patch_size % 2 == 1,
    "patch_size",
    "must be an odd size >= 3",
    "use 7",
  )
  need(
    cfg.inject_scale == -1 or cfg.inject_scale >= 1,
    "inject_scale",
    "is out of range",
    "use 1..N (N = number of scales - 1) or -1 for automatic",
  )
  need(0 <= cfg.inject_fraction <= 1, "inject_fraction", "must lie in [0, 1]", "use 0.4")
  need(
    cfg.blend_radius >= 0 and cfg.blend_sigma >= 0,
    "blend_radius",
    "blend radius and sigma must be >= 0",
    "use 7 and 5",
  )
  need(
    cfg.num_candidates >= 1,
    "num_candidates",
    "must be at least 1",
    "use 1 (one draw) or e.g. 4 (best of 4)",
  )
  need(
    cfg.progressive_rings >= 1, "progressive_rings", "must be at least 1", "use 1 (off) or e.g. 3"
  )
  need(0 <= cfg.progressive_share <= 1, "progressive_share", "must lie in [0, 1]", "use e.g. 0.2")
  need(cfg.checkpoint_every >= 0, "checkpoint_every", "must be >= 0", "use 500 or 0")
  need(cfg.log_every >= 1, "log_every", "must be >= 1", "use 100")
  need(cfg.num_samples >= 1, "num_samples", "must be >= 1", "use 4")
  need(0 < cfg.sample_scale_h <= 8, "sample_scale_h", "must lie in (0, 8]", "use 1.0")
  need(0 < cfg.sample_scale_w <= 8, "sample_scale_w", "must lie in (0, 8]", "use 1.0")
  need(
    bool(cfg.image) == bool(cfg.mask) or bool(cfg.image),
    "mask",
    "is set without --config.image",
    "give both, or neither for the bundled example",
  )


def load_inputs(cfg):
  """(pixels (H, W, 3) uint, hole (H, W) bool, image path) from the config or the example."""
  if cfg.image and not cfg.mask:
    raise UsageError(
      f"--config.image={cfg.image} needs a hole mask: give --config.mask=MASK.png (white = hole)"
    )
  image_path, mask_path = (cfg.image, cfg.mask) if cfg.image else image_io.example_paths()
  pixels = image_io.read_image(image_path)
  hole = image_io.read_mask(mask_path, pixels.shape[:2], image_path, max_grey_share=MAX_GREY_SHARE)
  return pixels, hole, image_path, mask_path


def check_hole(hole: np.ndarray, mask_path: str) -> None:
  """Refuses masks that leave (almost) nothing to learn from."""
  known_share = 1.0 - hole.mean()
  if known_share < 0.05:
    raise UsageError(
      f"mask {mask_path} marks {100 * hole.mean():.1f}% of the image as hole: "
      "SinGAN learns from the known pixels, keep at least 5% of the image known"
    )


def preflight(
  cfg, mode: str, pixels: np.ndarray, hole: np.ndarray, image_path: str, mask_path: str
) -> None:
  """Every input check that needs no training, run before the workdir is touched."""
  if mode == "inpaint" and not hole.any():
    return  # nothing to inpaint: run_inpaint writes the input unchanged
  check_hole(hole, mask_path)
  try:
    plan = defaults.scale_plan(cfg, *pixels.shape[:2])
  except ValueError as e:
    raise UsageError(f"{image_path}: {e}") from e
  coarsest = pyramid.mask_pyramid(hole, plan, cfg.mask_threshold, cfg.mask_mode)[0]
  if not coarsest.any():
    raise UsageError(
      f"mask {mask_path} leaves no known pixel at the coarsest scale {plan.shapes[0]} (mask "
      f"threshold {cfg.mask_threshold}), so there is nothing to learn from: use a smaller "
      "hole, a larger --config.mask_threshold, or --config.mask_mode=bbox"
    )
  if mode == "inpaint":
    inpaint_lib.resolve_inject_scale(cfg, plan)


def check_outputs(workdir: str, mode: str) -> None:
  """Refuses before training when an output path is taken by a directory."""
  names = (
    ("inpainted.png", "filled.png", "generated.png", "soft_mask.png") if mode == "inpaint" else ()
  )
  for name in names:
    path = os.path.join(workdir, name)
    if os.path.isdir(path):
      raise UsageError(
        f"output {path} is a directory, so the result cannot be written: "
        "remove or rename it, or give another --workdir"
      )


def remove_if_unused(workdir: str) -> None:
  """Deletes a workdir this run created if the run failed before writing anything into it."""
  try:
    leftover = set(os.listdir(workdir)) - {".lock"}
  except OSError:
    return
  if not leftover:
    shutil.rmtree(workdir, ignore_errors=True)


class WorkdirLock:
  """An exclusive lock on the workdir so two runs never write the same pyramid."""

  def __init__(self, workdir: str):
    if os.path.exists(workdir) and not os.path.isdir(workdir):
      raise UsageError(f"--workdir {workdir} is a file: give a directory path")
    try:
      os.makedirs(workdir, exist_ok=True)
      self._file = open(os.path.join(workdir, ".lock"), "w")
    except OSError as e:
      raise UsageError(
        f"cannot create --workdir {workdir} ({e.strerror}): give a writable directory"
      ) from e
    try:
      fcntl.flock(self._file, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as e:
      raise UsageError(
        f"another singan-jax run is using --workdir {workdir}: wait for it or give another workdir"
      ) from e

  def release(self):
    fcntl.flock(self._file, fcntl.LOCK_UN)
    self._file.close()


def write_float_image(path, x, dtype=np.uint8):
  image_io.write_image(path, image_io.from_float(np.asarray(x), dtype))


def run_train(cfg, workdir, pixels, hole):
  images = image_io.to_float(pixels)[None]
  return trainer.train(cfg, workdir, images, hole[None])


def run_inpaint(cfg, workdir, pixels, hole, mask_path):
  out_path = os.path.join(workdir, "inpainted.png")
  if not hole.any():
    logging.warning(
      "mask %s has no hole: nothing to inpaint, writing the input unchanged to %s",
      mask_path,
      out_path,
    )
    image_io.write_image(out_path, pixels)
    return out_path
  check_hole(hole, mask_path)
  pyr = run_train(cfg, workdir, pixels, hole)
  result = inpaint_lib.inpaint(pyr, pixels, hole, cfg)
  write_float_image(os.path.join(workdir, "filled.png"), result["filled"], pixels.dtype)
  write_float_image(os.path.join(workdir, "generated.png"), result["generated"], pixels.dtype)
  image_io.write_image(
    os.path.join(workdir, "soft_mask.png"), np.round(result["soft"] * 255).astype(np.uint8)
  )
  image_io.write_image(out_path, result["output"])
  logging.info(
    "inpainted (fill %s, injection at scale %d of 0..%d): %s",
    cfg.fill,
    result["n"],
    pyr.plan.stop_scale,
    out_path,
  )
  return out_path


def run_batch(cfg, workdir: str, mode: str) -> int:
  """--config.images: every image of a glob or manifest, bucketed and sharded; prints the
  per-image status. Returns 0 when every image is done, 3 when some failed."""
  if mode == "sample":
    raise UsageError(
      "--mode=sample draws from one pyramid: give --config.image, not --config.images"
    )
  if cfg.image:
    raise UsageError(
      f"both --config.image={cfg.image} and --config.images={cfg.images} are "
      "set: give one image, or a glob/manifest of many"
    )
  lock = WorkdirLock(workdir) if jax.process_index() == 0 else None  # one lock per workdir
  try:
    jobs = parallel.run(cfg, workdir, mode)
  finally:
    if lock is not None:
      lock.release()
  if jax.process_index() == 0:
    print(parallel.report(jobs), flush=True)
  return 0 if all(j.status == "done" for j in jobs) else 3


def run_sample(cfg, workdir, pixels, hole):
  pyr = run_train(cfg, workdir, pixels, hole)
  frozen = inpaint_lib.select_image(pyr.frozen, 0)
  key = jax.random.fold_in(jax.random.PRNGKey(cfg.seed), 30_000)
  # The nets are fully convolutional: any output size is a rescaled plan (SinGAN's
  # scale_v / scale_h), e.g. --config.sample_scale_w=2 for a panorama twice as wide.
  shapes = sampling.scaled_shapes(pyr.plan.shapes, cfg.sample_scale_h, cfg.sample_scale_w)
  x = sampling.sample(
    frozen,
    pyr.generators(),
    shapes,
    pyr.plan.scale_factor,
    key,
    cfg.num_samples,
    pyr.net.partial,
    compat=pyr.net.compat,
  )
  for i in range(cfg.num_samples):
    write_float_image(os.path.join(workdir, "samples", f"sample_{i}.png"), x[i])
  logging.info("wrote %d samples to %s", cfg.num_samples, os.path.join(workdir, "samples"))


class _QuietLibraries(pylogging.Filter):
  """Drops orbax's per-save INFO chatter; its warnings and errors still show."""

  def filter(self, record):
    return record.levelno >= pylogging.WARNING or "/orbax/" not in record.pathname


def main(argv):
  logging.get_absl_handler().addFilter(_QuietLibraries())
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
  cfg = _CONFIG.value if _CONFIG.value is not None else defaults.get_config()
  workdir = _WORKDIR.value
  if not workdir:
    sys.exit(
      "singan-jax: error: --workdir is required: give a directory for checkpoints and outputs"
    )
  if _MULTIHOST.value:
    parallel.initialize_distributed(_COORDINATOR.value, _NUM_PROCESSES.value, _PROCESS_ID.value)
  elif (_COORDINATOR.value, _NUM_PROCESSES.value, _PROCESS_ID.value) != (None, None, None):
    sys.exit(
      "singan-jax: error: --coordinator_address/--num_processes/--process_id only "
      "apply to multi-host runs: add --multihost"
    )
  try:
    validate_config(cfg)
    if cfg.images:
      sys.exit(run_batch(cfg, workdir, _MODE.value))
    pixels, hole, image_path, mask_path = load_inputs(cfg)
    preflight(cfg, _MODE.value, pixels, hole, image_path, mask_path)
    fresh = not os.path.lexists(workdir)
    lock = WorkdirLock(workdir)
    try:
      ckpt_lib.remove_stale_temps(workdir)
      check_outputs(workdir, _MODE.value)
      if _MODE.value == "train":
        check_hole(hole, mask_path)
        run_train(cfg, workdir, pixels, hole)
      elif _MODE.value == "inpaint":
        run_inpaint(cfg, workdir, pixels, hole, mask_path)
      else:
        check_hole(hole, mask_path)
        run_sample(cfg, workdir, pixels, hole)
    except BaseException:
      if fresh:
        remove_if_unused(workdir)
      raise
    finally:
      lock.release()
  except (
    image_io.ImageError,
    UsageError,
    ckpt_lib.IncompatibleRunError,
    trainer.NonFiniteError,
    ValueError,
  ) as e:
    logging.debug("error details", exc_info=True)
    print(f"singan-jax: error: {e}", file=sys.stderr)
    sys.exit(2)
  except OSError as e:
    logging.debug("error details", exc_info=True)
    print(
      f"singan-jax: error: {e}: check that --workdir {workdir} is writable and has free space",
      file=sys.stderr,
    )
    sys.exit(2)


def run():
  """Console-script entry point (`singan-jax`)."""
  app.run(main)


if __name__ == "__main__":
  run()
