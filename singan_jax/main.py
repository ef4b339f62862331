r"""singan-jax command line: train a pyramid, inpaint, or sample.

  python -m singan_jax.main --mode=inpaint --config=configs/demo.py \
      --config.image=IMG.png --config.mask=MASK.png --workdir=DIR

Modes: train (train or resume the pyramid in DIR), inpaint (train if DIR has no finished
pyramid, then write DIR/inpainted.png), sample (random samples from DIR's pyramid).
Without --config.image/--config.mask the bundled example is used.
"""
import fcntl
import os
import sys

from absl import app
from absl import flags
from absl import logging
import jax
import numpy as np
from ml_collections import config_flags

from singan_jax import checkpoint as ckpt_lib
from singan_jax import defaults
from singan_jax import fill as fill_lib
from singan_jax import image_io
from singan_jax import inpaint as inpaint_lib
from singan_jax import partial_conv
from singan_jax import sampling
from singan_jax import trainer

MODES = ("train", "inpaint", "sample")
FILL_METHODS = ("none", "mean", "local_means", "patchmatch")

_CONFIG = config_flags.DEFINE_config_file(
    "config", None, "Config file (configs/*.py); fields override with --config.field=value. "
    "Default: paper defaults.", lock_config=True)
_WORKDIR = flags.DEFINE_string("workdir", None, "Directory for checkpoints and outputs.")
_MODE = flags.DEFINE_enum("mode", "inpaint", MODES, "What to do.")


class UsageError(ValueError):
  """Bad configuration or input: reported as one line, exit status 2."""


def validate_config(cfg) -> None:
  """Rejects configs that cannot give a meaningful run, naming the field and the fix."""
  def need(ok, field, problem, fix):
    if not ok:
      raise UsageError(f"--config.{field}={cfg[field]!r} {problem}: {fix}")
  need(cfg.niter >= 1, "niter", "is not a positive iteration count", "use e.g. 2000")
  need(0 < cfg.scale_factor < 1, "scale_factor", "must lie in (0, 1)", "use e.g. 0.75")
  need(cfg.min_size >= 11, "min_size", "is too small for five 3x3 layers",
       "use at least 11 (default 25)")
  need(cfg.max_size >= cfg.min_size, "max_size", "is below min_size", "raise max_size")
  need(cfg.Dsteps >= 1, "Dsteps", "must be at least 1", "use 3")
  need(cfg.Gsteps >= 1, "Gsteps", "must be at least 1", "use 3")
  need(cfg.num_layer >= 3, "num_layer", "must be at least 3", "use 5")
  need(cfg.nfc >= 1 and cfg.min_nfc >= 1, "nfc", "must be positive", "use 32")
  need(cfg.lr_g > 0 and cfg.lr_d > 0, "lr_g", "learning rates must be positive", "use 5e-4")
  need(0 < cfg.mask_threshold < 1, "mask_threshold", "must lie in (0, 1)", "use 0.01")
  need(cfg.mask_mode in ("threshold", "bbox"), "mask_mode", "is unknown",
       "use 'threshold' or 'bbox'")
  need(cfg.pconv_norm in partial_conv.NORMALIZATIONS, "pconv_norm", "is unknown",
       f"use one of {partial_conv.NORMALIZATIONS}")
  need(cfg.fill in FILL_METHODS, "fill", "is unknown", f"use one of {FILL_METHODS}")
  need(cfg.fill_radius >= 1, "fill_radius", "must be at least 1", "use 4")
  need(cfg.patch_size >= 3 and cfg.patch_size % 2 == 1, "patch_size",
       "must be an odd size >= 3", "use 7")
  need(cfg.inject_scale == -1 or cfg.inject_scale >= 1, "inject_scale",
       "is out of range", "use 1..N (N = number of scales - 1) or -1 for automatic")
  need(0 <= cfg.inject_fraction <= 1, "inject_fraction", "must lie in [0, 1]", "use 0.4")
  need(cfg.blend_radius >= 0 and cfg.blend_sigma >= 0, "blend_radius",
       "blend radius and sigma must be >= 0", "use 7 and 5")
  need(cfg.checkpoint_every >= 0, "checkpoint_every", "must be >= 0", "use 500 or 0")
  need(cfg.log_every >= 1, "log_every", "must be >= 1", "use 100")
  need(cfg.num_samples >= 1, "num_samples", "must be >= 1", "use 4")
  need(bool(cfg.image) == bool(cfg.mask) or bool(cfg.image), "mask",
       "is set without --config.image", "give both, or neither for the bundled example")


def load_inputs(cfg):
  """(pixels (H, W, 3) uint, hole (H, W) bool, image path) from the config or the example."""
  if cfg.image and not cfg.mask:
    raise UsageError(f"--config.image={cfg.image} needs a hole mask: give --config.mask="
                     "MASK.png (white = hole)")
  image_path, mask_path = (cfg.image, cfg.mask) if cfg.image else image_io.example_paths()
  pixels = image_io.read_image(image_path)
  hole = image_io.read_mask(mask_path, pixels.shape[:2], image_path)
  return pixels, hole, image_path, mask_path


def check_hole(hole: np.ndarray, mask_path: str) -> None:
  """Refuses masks that leave (almost) nothing to learn from."""
  known_share = 1.0 - hole.mean()
  if known_share < 0.05:
    raise UsageError(f"mask {mask_path} marks {100 * hole.mean():.1f}% of the image as hole: "
                     "SinGAN learns from the known pixels, keep at least 5% of the image known")


class WorkdirLock:
  """An exclusive lock on the workdir so two runs never write the same pyramid."""

  def __init__(self, workdir: str):
    if os.path.exists(workdir) and not os.path.isdir(workdir):
      raise UsageError(f"--workdir {workdir} is a file: give a directory path")
    try:
      os.makedirs(workdir, exist_ok=True)
      self._file = open(os.path.join(workdir, ".lock"), "w")
    except OSError as e:
      raise UsageError(f"cannot create --workdir {workdir} ({e.strerror}): give a writable "
                       "directory") from e
    try:
      fcntl.flock(self._file, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as e:
      raise UsageError(f"another singan-jax run is using --workdir {workdir}: wait for it "
                       "or give another workdir") from e

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
    logging.warning("mask %s has no hole: nothing to inpaint, writing the input unchanged to "
                    "%s", mask_path, out_path)
    image_io.write_image(out_path, pixels)
    return out_path
  check_hole(hole, mask_path)
  pyr = run_train(cfg, workdir, pixels, hole)
  result = inpaint_lib.inpaint(pyr, pixels, hole, cfg)
  write_float_image(os.path.join(workdir, "filled.png"), result["filled"], pixels.dtype)
  write_float_image(os.path.join(workdir, "generated.png"), result["generated"],
                    pixels.dtype)
  image_io.write_image(os.path.join(workdir, "soft_mask.png"),
                       np.round(result["soft"] * 255).astype(np.uint8))
  image_io.write_image(out_path, result["output"])
  logging.info("inpainted (fill %s, injection at scale %d of 0..%d): %s", cfg.fill,
               result["n"], pyr.plan.stop_scale, out_path)
  return out_path


def run_sample(cfg, workdir, pixels, hole):
  pyr = run_train(cfg, workdir, pixels, hole)
  frozen = inpaint_lib.select_image(pyr.frozen, 0)
  key = jax.random.fold_in(jax.random.PRNGKey(cfg.seed), 30_000)
  x = sampling.sample(frozen, pyr.generators(), pyr.plan.shapes, pyr.plan.scale_factor, key,
                      cfg.num_samples, pyr.net.partial)
  for i in range(cfg.num_samples):
    write_float_image(os.path.join(workdir, "samples", f"sample_{i}.png"), x[i])
  logging.info("wrote %d samples to %s", cfg.num_samples, os.path.join(workdir, "samples"))


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
  cfg = _CONFIG.value if _CONFIG.value is not None else defaults.get_config()
  workdir = _WORKDIR.value
  if not workdir:
    sys.exit("singan-jax: error: --workdir is required: give a directory for checkpoints "
             "and outputs")
  try:
    validate_config(cfg)
    pixels, hole, _, mask_path = load_inputs(cfg)
    lock = WorkdirLock(workdir)
    try:
      if _MODE.value == "train":
        check_hole(hole, mask_path)
        run_train(cfg, workdir, pixels, hole)
      elif _MODE.value == "inpaint":
        run_inpaint(cfg, workdir, pixels, hole, mask_path)
      else:
        check_hole(hole, mask_path)
        run_sample(cfg, workdir, pixels, hole)
    finally:
      lock.release()
  except (image_io.ImageError, UsageError, ckpt_lib.IncompatibleRunError,
          trainer.NonFiniteError, ValueError) as e:
    logging.debug("error details", exc_info=True)
    print(f"singan-jax: error: {e}", file=sys.stderr)
    sys.exit(2)


def run():
  """Console-script entry point (`singan-jax`)."""
  app.run(main)


if __name__ == "__main__":
  run()
