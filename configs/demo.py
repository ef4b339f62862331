r"""Fast CPU demo: a smaller, narrower pyramid and fewer iterations: minutes on 2 cores.

Finest scale 128 px, 300 iterations per scale and 32 channels at every scale (the paper's
widths double to 64 from scale 4, which triples a fine scale's cost).

  python -m singan_jax.main --mode=inpaint --config=configs/demo.py --workdir=/tmp/singan_demo
"""
from singan_jax import defaults


def get_config():
  c = defaults.get_config()
  c.max_size = 128
  c.niter = 300
  c.nfc_cap = 32
  c.checkpoint_every = 100
  c.log_every = 100
  return c
