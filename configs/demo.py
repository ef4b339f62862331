r"""Fast CPU demo: a smaller pyramid and fewer iterations, a few minutes on 2 cores.

  python -m singan_jax.main --mode=inpaint --config=configs/demo.py --workdir=/tmp/singan_demo
"""
from singan_jax import defaults


def get_config():
  c = defaults.get_config()
  c.max_size = 128
  c.niter = 400
  c.checkpoint_every = 200
  c.log_every = 100
  return c
