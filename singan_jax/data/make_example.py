"""Make the bundled example (example.png, example_mask.png) from the full-size city1 files.

Not imported by the library; run once by hand when the example needs remaking:

    python singan_jax/data/make_example.py [SRC_IMAGE SRC_MASK]

defaults: /work/shared/data/city1_edit.png (590x887 RGBA, RGB used) and city1_edit_mask.png
(white = hole). Both are downscaled so the longer side is 250 px:
  * the image with Pillow's LANCZOS (antialiased);
  * the mask so that every output pixel whose LANCZOS value depends on ANY hole pixel is hole.
    This is a max-pool over the LANCZOS footprint (3 output pixels either side of the pixel
    centre), so no known pixel of the small image carries colour from the painted-out object.
Outputs: 8-bit RGB PNG and 8-bit greyscale PNG (0 = known, 255 = hole) next to this script.
"""

from __future__ import annotations

import math
import os
import sys

import numpy as np
from PIL import Image

LONG_SIDE = 250
LANCZOS_RADIUS = 3.0  # Pillow's LANCZOS support, in output pixels when downscaling.
HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_SOURCES = ("/work/shared/data/city1_edit.png", "/work/shared/data/city1_edit_mask.png")


def target_size(height: int, width: int) -> tuple[int, int]:
  """(h, w) with the longer side LONG_SIDE and the aspect ratio kept (rounded)."""
  scale = LONG_SIDE / max(height, width)
  return max(1, round(height * scale)), max(1, round(width * scale))


def footprint_any(hole: np.ndarray, out_len: int, axis: int) -> np.ndarray:
  """Along one axis: output i is True if any input within the LANCZOS footprint of i is True.

  hole: bool, input length n along `axis`; output length out_len along `axis`.
  """
  n = hole.shape[axis]
  scale = n / out_len  # input pixels per output pixel (> 1 when downscaling)
  reach = LANCZOS_RADIUS * max(scale, 1.0)
  moved = np.moveaxis(hole, axis, 0)
  out = np.empty((out_len,) + moved.shape[1:], bool)
  for i in range(out_len):
    centre = (i + 0.5) * scale
    lo, hi = max(0, math.floor(centre - reach)), min(n, math.ceil(centre + reach))
    out[i] = moved[lo:hi].any(axis=0)
  return np.moveaxis(out, 0, axis)


def small_mask(hole: np.ndarray, height: int, width: int) -> np.ndarray:
  """bool hole (H, W) -> bool (height, width), hole wherever the original hole reaches."""
  return footprint_any(footprint_any(hole, height, 0), width, 1)


def main(src_image: str, src_mask: str) -> None:
  """Read the sources, downscale image and mask, and write the two PNGs next to this file."""
  rgb = Image.open(src_image).convert("RGB")
  mask_rgb = np.asarray(Image.open(src_mask).convert("RGB"), np.float64)
  hole = mask_rgb.mean(axis=2) >= 127.5  # file convention: white = hole
  if hole.shape != (rgb.height, rgb.width):
    sys.exit(
      f"make_example.py: mask {src_mask} is {hole.shape} but image {src_image} is "
      f"{(rgb.height, rgb.width)}: give a matching pair"
    )
  height, width = target_size(rgb.height, rgb.width)
  small = rgb.resize((width, height), Image.Resampling.LANCZOS)
  small_hole = small_mask(hole, height, width)
  small.save(os.path.join(HERE, "example.png"), optimize=True)
  Image.fromarray(small_hole.astype(np.uint8) * 255, mode="L").save(
    os.path.join(HERE, "example_mask.png"), optimize=True
  )
  print(
    f"example {height}x{width}: {int(small_hole.sum())} hole pixels "
    f"(source {hole.shape[0]}x{hole.shape[1]}, {int(hole.sum())} hole pixels)"
  )


if __name__ == "__main__":
  main(*(sys.argv[1:3] if len(sys.argv) >= 3 else DEFAULT_SOURCES))
