r"""Paper defaults: 2000 iterations per scale, finest scale 250 px, PC-SinGAN, local means.

  python -m singan_jax.main --mode=inpaint --config=configs/default.py \
      --config.image=IMG.png --config.mask=MASK.png --workdir=/tmp/singan_run

Every field and its meaning: singan_jax/config.py.
"""

from singan_jax import configs


def get_config():
  return configs.default()
