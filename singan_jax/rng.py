"""Named PRNG streams: every random draw of a run derives from (seed, stream, ids) here.

A stream's key is PRNGKey(seed) folded with the stream's own integer FIRST, then with that
stream's identifiers in a fixed order and number (image id, scale, pass, ...). Keys of
different streams, images, scales or passes are therefore different draws by construction,
whatever the ids (the old magic offsets, e.g. a sheet key at seed + 10_000 + n, could equal
image 10_000 + n's training key). A draw depends only on its ids, never on how a run was
batched, split or resumed.
"""

import enum

import jax

from singan_jax.core import applications


class Stream(enum.IntEnum):
  """The top-level streams; their integers are fixed (changing one changes every draw)."""

  TRAIN = 1  # (image, scale): network init, z_opt, the iterations' noise
  SHEET = 2  # (image, scale): the random sample of the per-scale PNG sheet
  INPAINT = 3  # (image, pass): the fill and the generation of one inpainting pass
  SAMPLE = 4  # (): the random samples of --mode=sample
  BASELINE = 5  # (case): the classical fills of singan_jax.evaluate
  APPLY = 6  # (mode, image): the draws of an application mode (singan_jax/modes/)


class Part(enum.IntEnum):
  """Sub-draws of one stream key (folded in last)."""

  INIT = 0  # TRAIN: fresh G and D variables
  Z_OPT = 1  # TRAIN: the coarsest scale's fixed reconstruction noise
  ITERATIONS = 2  # TRAIN: folded with the iteration number (step_key)
  FILL = 3  # INPAINT: the hole initialiser (patchmatch)
  GENERATE = 4  # INPAINT: injection + generation (K candidates split from it)
  TEXTURE = 5  # INPAINT: the patch texture pass (PatchMatch's random draws)


def _key(seed: int, stream: Stream, *ids):
  key = jax.random.fold_in(jax.random.PRNGKey(seed), int(stream))
  for i in ids:
    key = jax.random.fold_in(key, i)
  return key


def scale_key(seed: int, image_id, scale: int):
  """The training key of (image, scale); image_id may be traced (vmap over a batch's ids)."""
  return _key(seed, Stream.TRAIN, image_id, scale)


def train_keys(seed: int, image_id, scale: int):
  """(init, z_opt, iterations) keys of one image's scale."""
  key = scale_key(seed, image_id, scale)
  return tuple(jax.random.fold_in(key, p) for p in (Part.INIT, Part.Z_OPT, Part.ITERATIONS))


def step_key(iterations_key, step):
  """The key of one training iteration (step: iterations done before it, may be traced)."""
  return jax.random.fold_in(iterations_key, step)


def sheet_key(seed: int, image_id, scale: int):
  """The random sample's key of an image's scale-`scale` sheet."""
  return _key(seed, Stream.SHEET, image_id, scale)


def inpaint_keys(seed: int, image_id: int, ring: int = 0):
  """(fill, generate) keys of one inpainting pass (ring: the progressive pass, 0 = single)."""
  key = _key(seed, Stream.INPAINT, image_id, ring)
  return jax.random.fold_in(key, Part.FILL), jax.random.fold_in(key, Part.GENERATE)


def texture_key(seed: int, image_id: int, ring: int = 0):
  """The patch texture pass's key of one inpainting pass."""
  return jax.random.fold_in(_key(seed, Stream.INPAINT, image_id, ring), Part.TEXTURE)


def candidate_keys(generate_key, k: int):
  """The K candidates' generation keys of one pass (best-of-K inpainting)."""
  return jax.random.split(generate_key, k)


def sample_key(seed: int):
  """The key of --mode=sample's random samples."""
  return _key(seed, Stream.SAMPLE)


def baseline_key(seed: int, case_id: int):
  """The key of a classical fill of evaluation case `case_id`."""
  return _key(seed, Stream.BASELINE, case_id)


# The application modes' integers (folded into Stream.APPLY): the table's fixed order.
APPLICATIONS = applications.NAMES


def apply_key(seed: int, mode: str, image_id: int = 0):
  """The key of an application mode's draws (--mode=harmonize, animate, ...) on one image
  (image_id: its job index, 0 for a single --config.image)."""
  return _key(seed, Stream.APPLY, APPLICATIONS.index(mode), image_id)
