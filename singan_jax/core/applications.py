"""SinGAN's application modes (--mode=harmonize, edit, paint2image, animate, super_resolve) in
one table: the module under singan_jax/modes/ that runs each, its output file, the reference
image it reads, and its default injection scale.

Every application trains on the whole image when no hole mask is given. The table's order is
fixed: it numbers the modes' PRNG streams (rng.apply_key), so a new mode goes at its end.
"""

import dataclasses


@dataclasses.dataclass(frozen=True)
class Application:
  """One application mode."""

  name: str
  module: str  # singan_jax/modes/<module>.py runs it
  output: str  # its output file in the workdir (a batch's jobs name theirs the same)
  # What --config.ref_image is, for the modes that read a reference pixel-registered with (or
  # shaped like) the training image; "" for the modes that read none.
  reference: str = ""
  # --config.ref_scale=-1 injects at round(default_fraction * N), at least scale 1 (the
  # coarsest injection: paint2image keeps little more than the painting's layout).
  default_fraction: float = 0.0


TABLE = (
  Application(
    "harmonize",
    "harmonize",
    "harmonized.png",
    "the training image with the object pasted in (same size)",
    0.5,
  ),
  Application(
    "edit", "harmonize", "edited.png", "the training image with its coarse edit (same size)", 0.5
  ),
  Application(
    "paint2image", "paint", "paint2image.png", "a clip-art painting of the training image's shape"
  ),
  Application("animate", "animate", "animation.gif"),
  Application("super_resolve", "super_resolve", "super_resolved.png"),
)
NAMES = tuple(a.name for a in TABLE)
BY_NAME = {a.name: a for a in TABLE}
# The modes whose reference must match each image's own size: a batch resized to
# --config.common_size would need references of the resized image.
REFERENCE_MODES = tuple(a.name for a in TABLE if a.reference)
