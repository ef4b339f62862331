r"""Fast CPU demo: a smaller, narrower pyramid and fewer iterations: minutes on 2 cores.

Finest scale 128 px, 100 iterations per scale and 32 channels at every scale (the paper's
widths double to 64 from scale 4, which triples a fine scale's cost). Measured on 2 idle
cores of an Intel Xeon with AVX-512 (2026-12-02): 3 min 45 s for training and inpainting,
each scale's 11-18 s of compiling done while the previous scale trains (compile_ahead; 4 min
18 s without), 14 it/s at 25x38 down to 2.1 it/s at 85x128; Zen 3 took 7.9 min before
compile_ahead. The generated hole alone is blurry, like
the report's results; the patch texture pass (texture="patchmatch", the default) rebuilds it
from the photo's own patches: docs/quality_texture_demo.png.

  python -m singan_jax.main --mode=inpaint --config=configs/demo.py --workdir=/tmp/singan_demo
"""

from singan_jax import configs


def get_config():
  return configs.demo()
