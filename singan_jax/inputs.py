"""What a run is given, checked before anything is trained: the config's fields, and one image
with its mask. Every input message lives here, so one image alone and in a batch hear the same.

validate_config lives here rather than beside get_config: config.py holds defaults and the
settings the library builds from them; refusing bad values with one-line UsageErrors is this
module's job, and the CLI, the pipeline and the converter run both checks together.
"""

import numpy as np

from singan_jax import config as config_lib
from singan_jax.core import errors
from singan_jax.core import partial_conv
from singan_jax.core import pyramid
from singan_jax.core import resize as resize_lib
from singan_jax.inpainting import blend as blend_lib
from singan_jax.inpainting import coherence
from singan_jax.inpainting import inpaint as inpaint_lib
from singan_jax.inpainting import seam as seam_lib
from singan_jax.inpainting import texture as texture_lib
from singan_jax.io import images as image_io
from singan_jax.training import pyramids as pyramids_lib
from singan_jax.training import step as train_step

FILL_METHODS = ("none", "mean", "local_means", "patchmatch")
MAX_GREY_SHARE = 0.05  # masks with more mid-grey pixels are refused, not silently thresholded
MIN_KNOWN_SHARE = 0.05  # SinGAN learns from the known pixels: keep at least 5% of an image
# Modes whose training image needs no hole mask (singan_jax/modes/): none given = all known.
MASK_OPTIONAL_MODES = ("harmonize", "edit", "paint2image", "animate", "super_resolve")


class UsageError(errors.Error):
  """Bad configuration or input, in the command line's words (--config.FIELD): reported as
  one line, exit status 2."""


# -- config fields -------------------------------------------------------------------------


def _one_of(field: str, choices: tuple):
  """The rule of a field whose value must be one of `choices`."""
  return (field, lambda c: c[field] in choices, "is unknown", f"use one of {choices}")


# (field named in the message, is the config fine?, problem, fix)
_RULES = (
  ("niter", lambda c: c.niter >= 1, "is not a positive iteration count", "use e.g. 2000"),
  ("scale_factor", lambda c: 0 < c.scale_factor < 1, "must lie in (0, 1)", "use e.g. 0.75"),
  (
    "min_size",
    lambda c: c.min_size >= 11,
    "is too small for five 3x3 layers",
    "use at least 11 (default 25)",
  ),
  ("max_size", lambda c: c.max_size >= c.min_size, "is below min_size", "raise max_size"),
  ("Dsteps", lambda c: c.Dsteps >= 1, "must be at least 1", "use 3"),
  ("Gsteps", lambda c: c.Gsteps >= 1, "must be at least 1", "use 3"),
  (
    "num_layer",
    lambda c: c.num_layer == 5,
    "is not supported (inputs are padded by a fixed 5 px, which five 3x3 layers consume)",
    "use 5",
  ),
  ("nfc", lambda c: c.nfc >= 1 and c.min_nfc >= 1, "must be positive", "use 32"),
  ("lr_g", lambda c: c.lr_g > 0 and c.lr_d > 0, "learning rates must be positive", "use 5e-4"),
  (
    "mask_threshold",
    lambda c: 0 < c.mask_threshold < 1,
    "must lie in (0, 1)",
    "use 0.5 (the default) or 0.01 (the 2019 code)",
  ),
  (
    "mask_mode",
    lambda c: c.mask_mode in ("threshold", "bbox"),
    "is unknown",
    "use 'threshold' or 'bbox'",
  ),
  _one_of("pconv_norm", partial_conv.NORMALIZATIONS),
  _one_of("step_loop", train_step.STEP_LOOPS),
  _one_of("fill", FILL_METHODS),
  ("fill_radius", lambda c: c.fill_radius >= 1, "must be at least 1", "use 4"),
  (
    "patch_size",
    lambda c: c.patch_size >= 3 and c.patch_size % 2 == 1,
    "must be an odd size >= 3",
    "use 7",
  ),
  (
    "inject_scale",
    lambda c: c.inject_scale == -1 or c.inject_scale >= 1,
    "is out of range",
    "use 1..N (N = number of scales - 1) or -1 for automatic",
  ),
  ("inject_fraction", lambda c: 0 <= c.inject_fraction <= 1, "must lie in [0, 1]", "use 0.4"),
  _one_of("blend", blend_lib.BLENDS),
  ("blend_feather", lambda c: c.blend_feather >= 0, "must be >= 0", "use 2 (px) or 0"),
  _one_of("upscale", coherence.UPSCALES),
  _one_of("texture", texture_lib.TEXTURES),
  (
    "texture_patch",
    lambda c: c.texture_patch >= 3 and c.texture_patch % 2 == 1,
    "must be an odd number >= 3",
    "use 7",
  ),
  ("texture_levels", lambda c: c.texture_levels >= 1, "must be at least 1", "use 3"),
  _one_of("texture_final", texture_lib.FINALS),
  ("texture_locality", lambda c: c.texture_locality >= 0, "must be >= 0", "use 0.5 (0: off)"),
  ("texture_guide", lambda c: c.texture_guide >= 0, "must be >= 0", "use 0 (off) or e.g. 1"),
  (
    "texture_diversity",
    lambda c: c.texture_diversity >= 0,
    "must be >= 0",
    "use 0 (off) or e.g. 0.1",
  ),
  (
    "texture_structure",
    lambda c: 0 <= c.texture_structure <= 1,
    "must be in [0, 1]",
    "use 0 (off) or e.g. 0.5",
  ),
  (
    "texture_structure_radius",
    lambda c: c.texture_structure_radius >= 1,
    "must be at least 1",
    "use 2",
  ),
  _one_of("seam", seam_lib.SEAMS),
  (
    "blend_radius",
    lambda c: c.blend_radius >= 0 and c.blend_sigma >= 0,
    "blend radius and sigma must be >= 0",
    "use 7 and 5",
  ),
  (
    "num_candidates",
    lambda c: c.num_candidates >= 1,
    "must be at least 1",
    "use 1 (one draw) or e.g. 4 (best of 4)",
  ),
  (
    "progressive_rings",
    lambda c: c.progressive_rings >= 1,
    "must be at least 1",
    "use 1 (off) or e.g. 3",
  ),
  (
    "progressive_share",
    lambda c: 0 <= c.progressive_share <= 1,
    "must lie in [0, 1]",
    "use e.g. 0.2",
  ),
  ("checkpoint_every", lambda c: c.checkpoint_every >= 0, "must be >= 0", "use 500 or 0"),
  ("log_every", lambda c: c.log_every >= 1, "must be >= 1", "use 100"),
  ("num_samples", lambda c: c.num_samples >= 1, "must be >= 1", "use 4"),
  ("sample_scale_h", lambda c: 0 < c.sample_scale_h <= 8, "must lie in (0, 8]", "use 1.0"),
  ("sample_scale_w", lambda c: 0 < c.sample_scale_w <= 8, "must lie in (0, 8]", "use 1.0"),
  # Application modes (singan_jax/modes/).
  (
    "ref_scale",
    lambda c: c.ref_scale == -1 or c.ref_scale >= 1,
    "is out of range",
    "use 1..N (N = number of scales - 1) or -1 for the mode's default",
  ),
  ("quantize_colors", lambda c: 2 <= c.quantize_colors <= 64, "must lie in 2..64", "use 5"),
  ("animate_frames", lambda c: 2 <= c.animate_frames <= 1000, "must lie in 2..1000", "use 30"),
  ("animate_alpha", lambda c: 0 <= c.animate_alpha <= 1, "must lie in [0, 1]", "use 0.1"),
  ("animate_beta", lambda c: 0 <= c.animate_beta < 1, "must lie in [0, 1)", "use 0.9"),
  ("animate_start_scale", lambda c: c.animate_start_scale >= 0, "must be >= 0", "use 0"),
  ("animate_fps", lambda c: 0 < c.animate_fps <= 100, "must lie in (0, 100]", "use 10"),
  ("sr_factor", lambda c: 1 < c.sr_factor <= 16, "must lie in (1, 16]", "use 4"),
  (
    "mask",
    lambda c: bool(c.image) or not c.mask,
    "is set without --config.image",
    "give both, or neither for the bundled example",
  ),
)


def validate_config(cfg) -> None:
  """Rejects configs that cannot give a meaningful run, naming the field and the fix."""
  for field, ok, problem, fix in _RULES:
    if not ok(cfg):
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
  if not mask_path and mode in MASK_OPTIONAL_MODES:
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
    inpaint_lib.resolve_inject_scale(cfg, plan)
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
