r"""Fast CPU demo: a smaller, narrower pyramid and fewer iterations: minutes on 2 cores.

Finest scale 128 px, 150 iterations per scale and 32 channels at every scale (the paper's
widths double to 64 from scale 4, which triples a fine scale's cost). Measured on 2 idle
cores (2026-12-01): 10.0 min for training and inpainting, ~29 s of compiling per scale,
10.2 it/s at 25x38 down to 1.1 it/s at 85x128.

  python -m singan_jax.main --mode=inpaint --config=configs/demo.py --workdir=/tmp/singan_demo
"""
from singan_jax import defaults


def get_config():
  c = defaults.get_config()
  c.max_size = 128
  c.niter = 150
  c.nfc_cap = 32
  c.checkpoint_every = 50
  c.log_every = 50
  return c
