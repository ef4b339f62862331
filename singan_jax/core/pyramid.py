"""The scale plan (number of scales, per-scale shapes and widths), image and mask pyramids.

Follows the 2019 SinGAN scale plan exactly (REFERENCE.md "Scale plan"): the input is first
shrunk so its longer side is at most max_size, then scales are spaced by a re-fitted factor so
that the coarsest shorter side is min_size.
"""

import dataclasses
import math

import numpy as np

from singan_jax.core import compat2019
from singan_jax.core import errors
from singan_jax.core import resize as resize_lib
from singan_jax.core import schema


@dataclasses.dataclass(frozen=True)
class ScalePlan:
  """Static description of a pyramid; hashable so it can key jit caches and checkpoints."""

  input_hw: tuple[int, int]  # the full-resolution input (H, W)
  scale1: float  # input -> finest real
  scale_factor: float  # re-fitted factor between neighbouring scales (< 1)
  shapes: tuple[tuple[int, int], ...]  # (h, w) per scale, 0 = coarsest
  nfc: tuple[int, ...]  # feature width per scale
  min_nfc: tuple[int, ...]  # lower bound of the body widths per scale

  @property
  def num_scales(self) -> int:
    return len(self.shapes)

  @property
  def stop_scale(self) -> int:
    return len(self.shapes) - 1

  def to_dict(self) -> dict:
    return {
      "input_hw": list(self.input_hw),
      "scale1": self.scale1,
      "scale_factor": self.scale_factor,
      "shapes": [list(s) for s in self.shapes],
      "nfc": list(self.nfc),
      "min_nfc": list(self.min_nfc),
    }

  @classmethod
  def from_dict(cls, d: dict) -> "ScalePlan":
    return cls(
      tuple(d["input_hw"]),
      float(d["scale1"]),
      float(d["scale_factor"]),
      tuple(tuple(s) for s in d["shapes"]),
      tuple(d["nfc"]),
      tuple(d["min_nfc"]),
    )


def scale_width(scale: int, base: int = schema.Plan.nfc, cap: int = schema.Plan.nfc_cap) -> int:
  """nfc (and min_nfc) at a scale: base * 2**floor(scale / 4), capped."""
  return min(base * 2 ** (scale // 4), cap)


def make_plan(
  h: int,
  w: int,
  max_size: int = schema.Plan.max_size,
  min_size: int = schema.Plan.min_size,
  scale_factor: float = schema.Plan.scale_factor,
  nfc: int = schema.Plan.nfc,
  min_nfc: int = schema.Plan.min_nfc,
  nfc_cap: int = schema.Plan.nfc_cap,
) -> ScalePlan:
  """The 2019 scale plan for an (h, w) input.

  Raises errors.SettingError when the image is too small or the factors are out of range.
  """
  if not 0 < scale_factor < 1:
    raise errors.SettingError(
      f"scale_factor is {scale_factor}: set scale_factor in (0, 1), e.g. 0.75", "scale_factor"
    )
  if min_size < 1 or max_size < min_size:
    raise errors.SettingError(
      f"min_size {min_size} and max_size {max_size}: need 1 <= min_size <= max_size",
      "min_size",
      "max_size",
    )
  if min(h, w) < min_size:
    raise errors.SettingError(
      f"image is {h}x{w}, smaller than min_size {min_size} on its shorter side: "
      "use a larger image or lower min_size",
      "min_size",
    )
  num_scales = math.ceil(math.log(min_size / min(h, w)) / math.log(scale_factor)) + 1
  scale2stop = math.ceil(math.log(min(max_size, max(h, w)) / max(h, w)) / math.log(scale_factor))
  stop_scale = num_scales - scale2stop
  scale1 = min(max_size / max(h, w), 1.0)
  h1, w1 = resize_lib.output_length(h, scale1), resize_lib.output_length(w, scale1)
  if stop_scale < 1:
    raise errors.SettingError(
      f"image {h}x{w} gives a single-scale pyramid (max_size {max_size}, "
      f"min_size {min_size}): raise max_size or lower min_size",
      "max_size",
      "min_size",
    )
  sf = (min_size / min(h1, w1)) ** (1.0 / stop_scale)
  shapes = tuple(
    (
      resize_lib.output_length(h1, sf ** (stop_scale - i)),
      resize_lib.output_length(w1, sf ** (stop_scale - i)),
    )
    for i in range(stop_scale + 1)
  )
  widths = tuple(scale_width(i, nfc, nfc_cap) for i in range(stop_scale + 1))
  min_widths = tuple(scale_width(i, min_nfc, nfc_cap) for i in range(stop_scale + 1))
  return ScalePlan((h, w), scale1, sf, shapes, widths, min_widths)


def plan_of(plan: schema.Plan, h: int, w: int) -> ScalePlan:
  """The scale plan of an h x w training image under the config's Plan section."""
  return make_plan(h, w, **dataclasses.asdict(plan))


def finest(x_full, plan: ScalePlan, compat: str = ""):
  """The finest real: the input (..., H, W, C) resized by scale1 (identity when scale1 == 1).

  compat '2019': the 2019 imresize in its own float order (core/compat2019.py; numpy, so x
  must be concrete), in x's dtype."""
  if resize_lib.check_compat(compat):
    return _per_image(x_full, lambda x: compat2019.imresize(x, plan.scale1))
  return resize_lib.resize(x_full, plan.scale1, plan.shapes[-1], compat)


def image_pyramid(x_full, plan: ScalePlan, compat: str = "") -> list:
  """reals[i] = resize(finest, sf ** (stop - i)); x_full (..., H, W, C).

  compat '2019': the 2019 code's reals bit for bit (core/compat2019.py: its read of the 8-bit
  levels, its imresize; the finest real is resized by 1 too, so rounded through uint8 twice)."""
  if resize_lib.check_compat(compat):
    per_image = _per_image(
      x_full, lambda x: compat2019.reals_pyramid(compat2019.levels_of(x), plan), plan.num_scales
    )
    return list(per_image)
  top = finest(x_full, plan, compat)
  levels = [
    resize_lib.resize(top, plan.scale_factor ** (plan.stop_scale - i), plan.shapes[i], compat)
    for i in range(plan.stop_scale)
  ]
  return levels + [top]


def _per_image(x, fn, outputs: int | None = None):
  """fn (numpy, one (H, W, C) image) over x's leading axes, stacked back in x's dtype; fn
  returns one array, or a list of `outputs` arrays (one list of stacked arrays back)."""
  x_np = np.asarray(x)
  flat = x_np.reshape((-1,) + x_np.shape[-3:])
  results = [fn(image) for image in flat]
  stack = lambda arrays: np.stack(arrays).reshape(x_np.shape[:-3] + arrays[0].shape)
  if outputs is None:
    return stack(results).astype(x_np.dtype)
  return [stack([r[i] for r in results]).astype(x_np.dtype) for i in range(outputs)]


def mask_pyramid(
  hole_full: np.ndarray,
  plan: ScalePlan,
  threshold: float = schema.Networks.mask_threshold,
  mode: str = schema.Networks.mask_mode,
  compat: str = schema.Networks.compat,
) -> list[np.ndarray]:
  """Known-pixel masks (h_i, w_i, 1) float32 per scale, 1 = known, 0 = hole.

  threshold mode: resize the hole like the image, clip to [0, 1], divide by its max and mark
  as hole every pixel above `threshold` (so the hole is covered at every scale).
  bbox mode: the hole's bounding box, scaled outwards to every scale.
  compat '2019': the 2019 code's pyramids instead (core/compat2019.py: the hole as a mask
  file through its reals' chain, known where below `threshold`; its bounding box's corner).
  hole_full: (H, W) bool or float, True/1 = hole.
  """
  hole = np.asarray(hole_full, np.float64)
  if hole.ndim != 2:
    raise ValueError(f"hole mask must be (H, W), got {hole.shape}")
  if resize_lib.check_compat(compat) and mode in ("threshold", "bbox"):
    if mode == "bbox":
      return compat2019.bbox_mask_pyramid(hole > 0.5, plan)
    return compat2019.mask_pyramid(hole > 0.5, plan, threshold)
  masks = []
  if mode == "threshold":
    top = np.asarray(finest(hole[..., None], plan))
    for i in range(plan.num_scales):
      level = (
        top
        if i == plan.stop_scale
        else np.asarray(
          resize_lib.resize(top, plan.scale_factor ** (plan.stop_scale - i), plan.shapes[i])
        )
      )
      level = np.clip(level, 0.0, 1.0)
      peak = level.max()
      level = level / peak if peak > 0 else level
      masks.append((level <= threshold).astype(np.float32))
  elif mode == "bbox":
    ys, xs = np.nonzero(hole > 0.5)
    for h, w in plan.shapes:
      known = np.ones((h, w, 1), np.float32)
      if ys.size:
        sy, sx = h / hole.shape[0], w / hole.shape[1]
        known[
          int(math.floor(ys.min() * sy)) : int(math.ceil((ys.max() + 1) * sy)),
          int(math.floor(xs.min() * sx)) : int(math.ceil((xs.max() + 1) * sx)),
        ] = 0
      masks.append(known)
  else:
    raise errors.SettingError(f"mask_mode {mode!r}: use 'threshold' or 'bbox'", "mask_mode")
  return masks
