"""Scale plan, image pyramid and mask pyramids (REFERENCE.md "Scale plan", "Mask pyramid")."""

import math

import torch

from .resize import resize


def scale_plan(H, W, max_size=250, min_size=25, scale_factor=0.75, nfc_init=32, nfc_max=128):
  scale1 = min(max_size / max(H, W), 1.0)
  num_scales = math.ceil(math.log(min_size / min(H, W)) / math.log(scale_factor)) + 1
  scale2stop = math.ceil(math.log(min(max_size, max(H, W)) / max(H, W)) / math.log(scale_factor))
  stop_scale = num_scales - scale2stop
  h1, w1 = math.ceil(H * scale1), math.ceil(W * scale1)
  sf = (min_size / min(h1, w1)) ** (1.0 / stop_scale)
  shapes = [
    (math.ceil(h1 * sf ** (stop_scale - i)), math.ceil(w1 * sf ** (stop_scale - i)))
    for i in range(stop_scale + 1)
  ]
  nfc = [min(nfc_init * 2 ** (i // 4), nfc_max) for i in range(stop_scale + 1)]
  return dict(
    scale1=scale1,
    num_scales=num_scales,
    stop_scale=stop_scale,
    scale_factor=sf,
    shapes=shapes,
    nfc=nfc,
  )


def _two_stage(x_full, plan, compat=""):
  """resize(x, scale1) -> finest; level i = resize(finest, sf ** (stop - i)).

  The finest level is resized too (by 1: the identity, or the 2019 uint8 round trip)."""
  stop, sf = plan["stop_scale"], plan["scale_factor"]
  finest = resize(x_full, plan["scale1"], out_hw=plan["shapes"][stop], compat=compat)
  return [
    resize(finest, sf ** (stop - i), out_hw=plan["shapes"][i], compat=compat)
    for i in range(stop + 1)
  ]


def reals_pyramid(x_full, plan, compat=""):
  """x_full (N, C, H, W) -> list of reals, index 0 = coarsest (compat: see resize)."""
  return _two_stage(x_full, plan, compat)


def mask_pyramid(hole_full, plan, threshold=0.01):
  """hole_full (N, 1, H, W) float, 1 = hole -> list of KNOWN masks (1 = known, 0 = hole)."""
  known = []
  for m in _two_stage(hole_full, plan):
    m = m.clamp(0.0, 1.0)
    mx = m.amax(dim=(1, 2, 3), keepdim=True)
    m = torch.where(mx > 0, m / torch.where(mx > 0, mx, torch.ones_like(mx)), m)
    known.append((m <= threshold).to(hole_full.dtype))
  return known


def bbox_mask_pyramid(hole_full, plan):
  """Bounding-box mode: known = outside the hole's bounding box, mapped to each scale.

  Box in full-res coords [r0, r1) x [c0, c1); at scale i (total scale s_i =
  scale1 * sf ** (stop - i)) it becomes [floor(r0*s_i), ceil(r1*s_i)) etc., clipped.
  """
  stop, sf = plan["stop_scale"], plan["scale_factor"]
  out = []
  for i, (h, w) in enumerate(plan["shapes"]):
    s = plan["scale1"] * sf ** (stop - i)
    known = torch.ones(hole_full.shape[0], 1, h, w, dtype=hole_full.dtype)
    for n in range(hole_full.shape[0]):
      hole = hole_full[n, 0] > 0.5
      if not bool(hole.any()):
        continue
      rows = torch.nonzero(hole.any(dim=1)).flatten()
      cols = torch.nonzero(hole.any(dim=0)).flatten()
      r0, r1 = int(rows.min()), int(rows.max()) + 1
      c0, c1 = int(cols.min()), int(cols.max()) + 1
      known[
        n,
        0,
        max(math.floor(r0 * s), 0) : min(math.ceil(r1 * s), h),
        max(math.floor(c0 * s), 0) : min(math.ceil(c1 * s), w),
      ] = 0
    out.append(known)
  return out
