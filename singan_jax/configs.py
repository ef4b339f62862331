"""The shipped configs as functions, for Python callers (singan_jax.api, notebooks): each
returns a fresh ConfigDict of the one schema (config.py). configs/*.py, the files that
`--config=` names, return the same objects.

  default  the paper's settings: 2000 iterations per scale, finest scale 250 px
  demo     a fast CPU budget: 128 px, 100 iterations per scale, 32 channels
  tpu      the paper's settings for a batched folder of images on a TPU slice
"""

from singan_jax import config as schema


def default():
  """The paper's defaults (every field and its meaning: singan_jax/config.py)."""
  return schema.get_config()


def demo():
  """Minutes on 2 CPU cores: finest scale 128 px, 100 iterations per scale and 32 channels at
  every scale (the paper's widths double to 64 from scale 4, tripling a fine scale's cost)."""
  c = schema.get_config()
  c.max_size = 128
  c.niter = 100
  c.nfc_cap = 32
  c.checkpoint_every = 50
  c.log_every = 50
  return c


def tpu():
  """The paper's settings for a folder of images, batched over every TPU core of a slice."""
  c = schema.get_config()
  c.images = "photos/*.png"  # a glob (masks NAME_mask.png) or a manifest .csv / .jsonl
  c.common_size = ""  # keep each image's size: buckets of equal pyramid shapes
  c.checkpoint_every = 500  # a preempted worker resumes mid-scale
  c.log_every = 200
  c.sheets = False  # per-scale sheets of every image would dominate the I/O
  return c


NAMES = ("default", "demo", "tpu")


def named(name: str):
  """The config called `name` (one of NAMES)."""
  if name not in NAMES:
    raise ValueError(f"config {name!r} is not shipped: use one of {', '.join(NAMES)}")
  return globals()[name]()
