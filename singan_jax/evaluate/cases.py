"""The evaluation's development set: eleven offline photos in two fixed halves, seeded holes.

Images: scikit-image's skimage.data photos and textures (CC0 / public domain) and matplotlib's
sample grace_hopper.jpg, whole (no crop), Lanczos-resized to the longer side asked for. The
halves are fixed: defaults are chosen on TUNE only and kept only if they also win on TEST.
Holes, seeded per (seed, image, kind) and drawn in units of the image's size, so a case has
the same shape at 128 and 250 px: a smooth blob (8-15% of the image), thick strokes
(15-25%), a rectangle (10-15%), a large irregular hole (25-35%) and thin scratches (3-7%).
Every case is written as a user has it (damaged PNG with its hole painted white, mask PNG)
and read back through the --config.image path (inputs.read_pair).
"""

import dataclasses
import os

import numpy as np
from PIL import Image

from singan_jax import inputs
from singan_jax.io import images as image_io

# Fixed halves. TUNE holds the four images every earlier default was chosen on.
TUNE = ("astronaut", "chelsea", "coffee", "brick", "retina")
TEST = ("camera", "grass", "gravel", "immunohistochemistry", "hubble_deep_field", "grace_hopper")
SPLITS = {"tune": TUNE, "test": TEST, "all": TUNE + TEST}
DEV_SET = TUNE + TEST
HOLES = ("blob", "strokes", "rect", "large", "scratches")


def _source(name: str) -> np.ndarray:
  """The full-resolution image `name` as (H, W, 3) uint8 (grey stacked to RGB)."""
  if name not in DEV_SET:
    raise ValueError(f"image {name!r} is not in the development set: use some of {DEV_SET}")
  try:
    if name == "grace_hopper":
      from matplotlib import cbook  # pylint: disable=g-import-not-at-top

      x = np.asarray(Image.open(cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)))
    else:
      from skimage import data as skdata  # pylint: disable=g-import-not-at-top

      x = np.asarray(getattr(skdata, name)())
  except ImportError as e:
    raise SystemExit(
      "the development set comes from scikit-image and matplotlib: pip install -e '.[eval]'"
    ) from e
  if x.ndim == 2:
    x = np.repeat(x[..., None], 3, axis=2)
  return x[..., :3].astype(np.uint8)


def load_image(name: str, side: int) -> np.ndarray:
  """Image `name`, whole, Lanczos-resized so its longer side is `side` px: (h, w, 3) uint8."""
  x = _source(name)
  h, w = x.shape[:2]
  scale = side / max(h, w)
  hw = (max(1, round(h * scale)), max(1, round(w * scale)))
  return np.asarray(Image.fromarray(x).resize(hw[::-1], Image.LANCZOS))


# ----------------------------------------------------------------------------- holes


def _disk_stamp(mask, y, x, r):
  yy, xx = np.ogrid[: mask.shape[0], : mask.shape[1]]
  mask |= (yy - y) ** 2 + (xx - x) ** 2 <= r * r


def _wobbly_region(hw, rng, share, spread, amp) -> np.ndarray:
  """A star-shaped region covering `share` of the image, centred within `spread` of the
  middle, its radius wobbling by up to `amp` (harmonics 2-4)."""
  h, w = hw
  cy, cx = rng.uniform(0.5 - spread, 0.5 + spread, 2) * np.array([h, w])
  amps, phases = rng.uniform(0.0, amp, 3), rng.uniform(0, 2 * np.pi, 3)
  yy, xx = np.mgrid[:h, :w]
  theta = np.arctan2(yy - cy, xx - cx)
  wobble = 1 + sum(a * np.cos(k * theta + p) for k, a, p in zip((2, 3, 4), amps, phases))
  dist = np.hypot(yy - cy, xx - cx) / wobble
  return dist <= np.sort(dist.ravel())[int(share * h * w)]


def blob_hole(hw, rng) -> np.ndarray:
  """One smooth star-shaped blob covering 8-15% of the image (an object to remove)."""
  return _wobbly_region(hw, rng, rng.uniform(0.08, 0.15), 0.15, 0.15)


def large_hole(hw, rng) -> np.ndarray:
  """One large irregular region covering 25-35% of the image."""
  return _wobbly_region(hw, rng, rng.uniform(0.25, 0.35), 0.08, 0.3)


def _polylines(hw, rng, share_range, radius_range, segments, length_range) -> np.ndarray:
  """Random polylines of disks (radius and lengths as shares of sqrt(h w)) until a share
  drawn from share_range is covered (stopping at its upper end)."""
  target, cap = rng.uniform(*share_range), share_range[1]
  h, w = hw
  side = np.sqrt(h * w)
  hole = np.zeros(hw, bool)
  while hole.mean() < target:
    y, x = rng.uniform(0.1, 0.9, 2) * np.array([h, w])
    angle = rng.uniform(0, 2 * np.pi)
    r = max(rng.uniform(*radius_range) * side, 0.5)
    for _ in range(rng.integers(*segments)):
      angle += rng.uniform(-1.0, 1.0)
      length = rng.uniform(*length_range) * side
      for t in np.linspace(0, 1, max(int(length), 2)):
        _disk_stamp(hole, y + t * length * np.sin(angle), x + t * length * np.cos(angle), r)
        if hole.mean() >= cap:
          return hole
      y, x = y + length * np.sin(angle), x + length * np.cos(angle)
  return hole


def strokes_hole(hw, rng) -> np.ndarray:
  """Thick brush strokes until 15-25% of the image is covered."""
  return _polylines(hw, rng, (0.15, 0.25), (0.025, 0.045), (2, 5), (0.1, 0.25))


def scratches_hole(hw, rng) -> np.ndarray:
  """Thin long scratches (1-3 px wide at 128 px) until 3-7% of the image is covered."""
  return _polylines(hw, rng, (0.03, 0.07), (0.004, 0.008), (3, 6), (0.15, 0.3))


def rect_hole(hw, rng) -> np.ndarray:
  """One axis-aligned rectangle covering 10-15% of the image, away from the border."""
  h, w = hw
  share, aspect = rng.uniform(0.10, 0.15), rng.uniform(0.6, 1.6)
  rh = int(round(np.sqrt(share * h * w * aspect)))
  rh = min(rh, h - h // 4)
  rw = min(int(round(share * h * w / max(rh, 1))), w - w // 4)
  y = rng.integers(h // 8, h - rh - h // 8 + 1)
  x = rng.integers(w // 8, w - rw - w // 8 + 1)
  hole = np.zeros(hw, bool)
  hole[y : y + rh, x : x + rw] = True
  return hole


MAKERS = {
  "blob": blob_hole,
  "strokes": strokes_hole,
  "rect": rect_hole,
  "large": large_hole,
  "scratches": scratches_hole,
}


def make_hole(kind: str, hw, seed: int, image_id: int) -> np.ndarray:
  """(h, w) bool hole of `kind`, seeded by (seed, image_id, kind); hw: (h, w) or a side."""
  if kind not in MAKERS:
    raise ValueError(f"hole kind {kind!r}: use some of {HOLES}")
  hw = (hw, hw) if np.isscalar(hw) else tuple(hw)
  rng = np.random.default_rng([seed, image_id, HOLES.index(kind)])
  return MAKERS[kind](hw, rng)


# ----------------------------------------------------------------------------- cases


@dataclasses.dataclass
class Case:
  """One damaged image: the truth, its hole and the damaged input (hole painted white), as
  read back from its files; case_id keys its draws (the same in any run of any split)."""

  name: str
  hole_kind: str
  truth: np.ndarray  # (H, W, 3) uint8
  hole: np.ndarray  # (H, W) bool
  damaged: np.ndarray  # (H, W, 3) uint8
  case_id: int = 0
  split: str = ""


def case_id(name: str, kind: str) -> int:
  return DEV_SET.index(name) * len(HOLES) + HOLES.index(kind)


def split_of(name: str) -> str:
  return "tune" if name in TUNE else "test"


def write_case(folder: str, name: str, kind: str, truth, hole) -> tuple[str, str]:
  """Writes the damaged image (hole painted white: nothing of the truth leaks) and its mask
  (white = hole) as a user would give them; returns (image path, mask path)."""
  os.makedirs(folder, exist_ok=True)
  stem = os.path.join(folder, f"{name}_{kind}")
  image_io.write_image(f"{stem}.png", np.where(hole[..., None], np.uint8(255), truth))
  image_io.write_image(f"{stem}_mask.png", hole.astype(np.uint8) * 255)
  return f"{stem}.png", f"{stem}_mask.png"


def make_cases(opts) -> list[Case]:
  """Every (image, hole kind) case of opts (evaluate.methods.Options: images, holes, size,
  input_size, seed, out), images in order, hole kinds within each, each read back from the
  files it is written to under opts.out/inputs."""
  cases = []
  side = opts.input_size or opts.size
  for name in opts.images:
    truth = load_image(name, side)
    for kind in opts.holes:
      hole = make_hole(kind, truth.shape[:2], opts.seed, DEV_SET.index(name))
      image_path, mask_path = write_case(os.path.join(opts.out, "inputs"), name, kind, truth, hole)
      pixels, read_hole = inputs.read_pair(image_path, mask_path)
      inputs.check_known_share(read_hole, mask_path)
      cases.append(Case(name, kind, truth, read_hole, pixels, case_id(name, kind), split_of(name)))
  return cases
