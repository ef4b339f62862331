"""The evaluation's seeded cases: skimage.data images and their holes (blob, strokes, rect).

Images: CC0 / public-domain photos and textures shipped by scikit-image, centre cropped and
resized. Holes, seeded per (seed, image, kind): one smooth blob (8-15% of the image), random
thick strokes (15-25%), a rectangle (10-15%).
"""

import dataclasses

import numpy as np
from PIL import Image

IMAGES = ("chelsea", "coffee", "brick", "astronaut", "gravel", "grass")
HOLES = ("blob", "strokes", "rect")


def load_image(name: str, size: int) -> np.ndarray:
  """skimage.data image `name` as (size, size, 3) uint8: centre square crop, Lanczos resize."""
  try:
    from skimage import data as skdata  # pylint: disable=g-import-not-at-top
  except ImportError as e:
    raise SystemExit(
      "the evaluation images come from scikit-image: pip install -e '.[eval]'"
    ) from e
  if name not in IMAGES:
    raise ValueError(f"image {name!r} is not in the evaluation set: use some of {IMAGES}")
  x = np.asarray(getattr(skdata, name)())
  if x.ndim == 2:
    x = np.repeat(x[..., None], 3, axis=2)
  x = x[..., :3].astype(np.uint8)
  h, w = x.shape[:2]
  s = min(h, w)
  x = x[(h - s) // 2 : (h - s) // 2 + s, (w - s) // 2 : (w - s) // 2 + s]
  return np.asarray(Image.fromarray(x).resize((size, size), Image.LANCZOS))


def _disk_stamp(mask, y, x, r):
  yy, xx = np.ogrid[: mask.shape[0], : mask.shape[1]]
  mask |= (yy - y) ** 2 + (xx - x) ** 2 <= r * r


def blob_hole(size: int, rng) -> np.ndarray:
  """One smooth star-shaped blob covering 8-15% of the image."""
  target = rng.uniform(0.08, 0.15)
  cy, cx = rng.uniform(0.35, 0.65, 2) * size
  amps, phases = rng.uniform(0.0, 0.15, 3), rng.uniform(0, 2 * np.pi, 3)
  yy, xx = np.mgrid[:size, :size]
  theta = np.arctan2(yy - cy, xx - cx)
  wobble = 1 + sum(a * np.cos(k * theta + p) for k, a, p in zip((2, 3, 4), amps, phases))
  dist = np.hypot(yy - cy, xx - cx) / wobble
  radius = np.sqrt(np.sort(dist.ravel())[int(target * size * size)] ** 2)
  return dist <= radius


def strokes_hole(size: int, rng) -> np.ndarray:
  """Random thick polyline strokes until 15-25% of the image is covered."""
  target = rng.uniform(0.15, 0.25)
  hole = np.zeros((size, size), bool)
  while hole.mean() < target:
    y, x = rng.uniform(0.1, 0.9, 2) * size
    angle = rng.uniform(0, 2 * np.pi)
    r = rng.uniform(0.025, 0.045) * size
    for _ in range(rng.integers(2, 5)):
      angle += rng.uniform(-1.0, 1.0)
      length = rng.uniform(0.1, 0.25) * size
      for t in np.linspace(0, 1, max(int(length), 2)):
        _disk_stamp(hole, y + t * length * np.sin(angle), x + t * length * np.cos(angle), r)
        if hole.mean() >= 0.25:
          return hole
      y, x = y + length * np.sin(angle), x + length * np.cos(angle)
  return hole


def rect_hole(size: int, rng) -> np.ndarray:
  """One axis-aligned rectangle covering 10-15% of the image, away from the border."""
  share, aspect = rng.uniform(0.10, 0.15), rng.uniform(0.6, 1.6)
  h = int(round(size * np.sqrt(share * aspect)))
  w = int(round(size * size * share / max(h, 1)))
  y = rng.integers(size // 8, size - h - size // 8 + 1)
  x = rng.integers(size // 8, size - w - size // 8 + 1)
  hole = np.zeros((size, size), bool)
  hole[y : y + h, x : x + w] = True
  return hole


def make_hole(kind: str, size: int, seed: int, image_index: int) -> np.ndarray:
  makers = {"blob": blob_hole, "strokes": strokes_hole, "rect": rect_hole}
  if kind not in makers:
    raise ValueError(f"hole kind {kind!r}: use some of {HOLES}")
  rng = np.random.default_rng([seed, image_index, HOLES.index(kind)])
  return makers[kind](size, rng)


@dataclasses.dataclass
class Case:
  """One damaged image: the truth, its hole and the damaged input (hole painted white)."""

  name: str
  hole_kind: str
  truth: np.ndarray  # (H, W, 3) uint8
  hole: np.ndarray  # (H, W) bool
  damaged: np.ndarray  # (H, W, 3) uint8


def make_cases(opts) -> list[Case]:
  """Every (image, hole kind) case of opts (evaluate.methods.Options: images, holes, size,
  input_size, seed), images in order, hole kinds within each."""
  cases = []
  for i, name in enumerate(opts.images):
    side = opts.input_size or opts.size
    img = load_image(name, side)
    for kind in opts.holes:
      hole = make_hole(kind, side, opts.seed, i)
      damaged = np.where(hole[..., None], np.uint8(255), img)
      cases.append(Case(name, kind, img, hole, damaged))
  return cases
