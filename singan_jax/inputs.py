"""What a run is given, checked before anything is trained: the config's fields, and one image
with its mask. Every input message lives here, so one image alone and in a batch hear the same.

validate_config tells core/schema.py's rules in the command line's words (`--config.FIELD`,
one-line UsageErrors); the CLI, the pipeline and the converter run both checks together.
"""

import numpy as np

from singan_jax import config as config_lib
from singan_jax.core import applications
from singan_jax.core import errors
from singan_jax.core import pyramid
from singan_jax.core import resize as resize_lib
from singan_jax.core import schema
from singan_jax.inpainting import inpaint as inpaint_lib
from singan_jax.io import images as image_io
from singan_jax.training import pyramids as pyramids_lib

MAX_GREY_SHARE = 0.05  # masks with more mid-grey pixels are refused, not silently thresholded
MIN_KNOWN_SHARE = 0.05  # SinGAN learns from the known pixels: keep at least 5% of an image


class UsageError(errors.Error):
  """Bad configuration or input, in the command line's words (--config.FIELD): reported as
  one line, exit status 2."""


# -- config fields -------------------------------------------------------------------------


def validate_config(cfg) -> None:
  """Rejects configs that cannot give a meaningful run (the first rule of core/schema.py it
  breaks), naming the field and the fix."""
  broken = next(schema.problems(cfg), None)
  if broken:
    field, problem, fix = broken
    raise UsageError(f"--config.{field}={cfg[field]!r} {problem}: {fix}")
  parse_size(cfg.common_size)


def parse_size(text: str) -> tuple[int, int] | None:
  """--config.common_size 'HxW' -> (H, W); '' -> None."""
  if not text:
    return None
  try:
    h, w = (int(v) for v in text.lower().split("x"))
  except ValueError:
    h = w = 0
  if h < 1 or w < 1:
    raise UsageError(
      f"--config.common_size={text!r} is not a size: use HxW, e.g. 192x256, "
      "or '' to keep each image's size"
    )
  return h, w


def common_size(cfg) -> tuple[int, int] | None:
  """The (H, W) a batch's images train at (--config.common_size), or None: their own size.
  A single --config.image always trains at its own size, as it always has."""
  return parse_size(cfg.common_size) if cfg.images else None


# -- one image and its mask ----------------------------------------------------------------


def read_pair(image_path: str, mask_path: str) -> tuple[np.ndarray, np.ndarray]:
  """(pixels (H, W, 3) uint, hole (H, W) bool) of an image and its mask (white = hole)."""
  if not mask_path:
    raise UsageError(
      f"no mask for {image_path}, which needs a hole mask (white = hole): give "
      "--config.mask=MASK.png, or with --config.images put NAME_mask.png beside the image "
      "or fill the manifest's mask column"
    )
  pixels = image_io.read_image(image_path)
  hole = image_io.read_mask(mask_path, pixels.shape[:2], image_path, max_grey_share=MAX_GREY_SHARE)
  return pixels, hole


def load_inputs(cfg):
  """(pixels, hole, image path, mask path) of --config.image/--config.mask or the example."""
  image_path, mask_path = (cfg.image, cfg.mask) if cfg.image else image_io.example_paths()
  return (*read_pair(image_path, mask_path), image_path, mask_path)


def train_inputs(pixels: np.ndarray, hole: np.ndarray, size=None):
  """(image (h, w, 3) float32 in [-1, 1], hole (h, w) bool) that the pyramid learns from:
  the image's own, or resized to size (a resized hole covers every pixel it touches)."""
  x = image_io.to_float(pixels)
  if size is None:
    return x, hole
  small = np.asarray(resize_lib.resize_to(hole[..., None].astype(np.float32), size))
  x = np.asarray(resize_lib.resize_to(x, size))
  return np.clip(x, -1.0, 1.0).astype(np.float32), small[..., 0] > 1e-3


def check_known_share(hole: np.ndarray, mask_path: str) -> None:
  """Refuses masks that leave (almost) nothing to learn from."""
  if 1.0 - hole.mean() < MIN_KNOWN_SHARE:
    raise UsageError(
      f"mask {mask_path} marks {100 * hole.mean():.1f}% of the image as hole: SinGAN learns "
      f"from the known pixels, keep at least {100 * MIN_KNOWN_SHARE:.0f}% of the image known"
    )


def contradicts_pyramid(workdir: str, field: str, there, given, converted_from="") -> str:
  """The message for an explicit --config.FIELD that contradicts the pyramid in workdir
  (workdir.adopt_record; the identity guard's wording, with the flag and the fix). A pyramid
  converted from a 2019 run (converted_from: its folder) is converted again instead."""
  problem = (
    f"workdir {workdir} holds a pyramid {'converted' if converted_from else 'trained'} with "
    f"a different {field} ({there!r} there, --config.{field}={given!r} given)"
  )
  if converted_from:
    return (
      f"{problem}: drop --config.{field} to use the pyramid's, or convert again into a new "
      f"workdir: python -m singan_jax.convert --src={converted_from} --workdir=NEW_DIR "
      f"--config.{field}={given!r} (with the image and mask flags of the first conversion)"
    )
  fix = f"drop --config.{field} to use the pyramid's, or use a new --workdir to train another"
  return f"{problem}: {fix}"


def check_image(cfg, mode: str, image_path: str, mask_path: str, size=None):
  """Reads one image + mask and runs every check that needs no training: (pixels, hole, plan),
  plan None when the run needs no pyramid for it (inpainting a mask without a hole). The
  application modes train on a whole image when no mask is given."""
  if not mask_path and mode in applications.NAMES:  # no mask: the whole image is known
    pixels = image_io.read_image(image_path)
    hole = np.zeros(pixels.shape[:2], bool)
  else:
    pixels, hole = read_pair(image_path, mask_path)
  if mode == "inpaint" and not hole.any():
    return pixels, hole, None  # nothing to inpaint: the output is the input
  check_known_share(hole, mask_path)
  x, small_hole = train_inputs(pixels, hole, size)
  try:
    plan = config_lib.scale_plan(cfg, *x.shape[:2])
  except errors.Error as e:
    raise type(e)(f"{image_path}: {e}", *e.settings) from e
  coarsest = pyramid.mask_pyramid(small_hole, plan, cfg.mask_threshold, cfg.mask_mode, cfg.compat)[
    0
  ]
  if not coarsest.any():
    raise pyramids_lib.no_known_at_coarsest(f"mask {mask_path}", plan, cfg.mask_threshold)
  if mode == "inpaint":
    inpaint_lib.resolve_inject_scale(schema.Inpainting.from_config(cfg), plan)
  return pixels, hole, plan


# -- application modes (singan_jax/modes/) -------------------------------------------------


def reference_missing(mode: str, field: str, what: str) -> str:
  """The message for an application mode run without its reference file."""
  return f"--mode={mode} needs --config.{field}: give {what}"


def reference_size(mode: str, path: str, got, want, field: str = "ref_image") -> str:
  """The message for a reference whose size differs from the training image's."""
  return (
    f"--config.{field}={path} is {got[0]}x{got[1]} but --mode={mode} needs the training "
    f"image's size {want[0]}x{want[1]}: resize or crop it to {want[0]}x{want[1]}"
  )


def reference_aspect(path: str, got, want) -> str:
  """The message for a painting whose aspect ratio differs from the training image's."""
  return (
    f"--config.ref_image={path} is {got[0]}x{got[1]}, another shape than the training image "
    f"({want[0]}x{want[1]}): paint on a canvas of the training image's aspect ratio"
  )


def reference_mask_empty(mode: str, path: str) -> str:
  """The message for a region mask without any white pixel."""
  return (
    f"--config.ref_mask={path} marks no region: for --mode={mode} paint the pasted or edited "
    "region white (the rest black)"
  )


def mode_scale(mode: str, field: str, value: int, lo: int, plan: pyramid.ScalePlan) -> str:
  """The message for an application mode's scale beyond the pyramid."""
  auto = " (or -1 for the mode's default)" if field == "ref_scale" else ""
  return (
    f"--config.{field}={value} is out of range for this {plan.num_scales}-scale pyramid: "
    f"--mode={mode} takes {lo}..{plan.stop_scale}{auto}"
  )
