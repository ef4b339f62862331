"""Keeping the generated hole coherent with the true surroundings, at every scale and size.

Free injection regenerates the whole image from scale n up, so from scale n+1 on the hole is
refined next to the pyramid's own rendering of its surroundings, not the photo's. Here the
known region is re-imposed after every scale (`anchors`, passed to sampling.chain): scale k+1
then refines the hole in the context of the real pixels. Past the finest scale the hole is
carried up to the input's size by SinGAN's super-resolution procedure (the finest generator
applied at steps of 1/scale_factor), again re-imposing the known pixels after each step and
running the generator only on a window around the hole.
"""

import math

import jax
import jax.numpy as jnp
import numpy as np

from singan_jax.core import pyramid
from singan_jax.core import resize as resize_lib
from singan_jax.core import sampling

# A generator application sees 5 px on each side (five 3x3 layers); the resize's bicubic taps
# reach 2-3 px more. A window this much larger than the hole's box keeps the zero padding at
# its edge from ever reaching the hole.
WINDOW_MARGIN = 16


def known_weight(hole_share):
  """Weight of the real pixels given a pixel's hole share (resized hole mask): 1 where fully
  known, falling to 0 where half of the pixel or more is hole (a one-pixel soft edge)."""
  return jnp.clip(1.0 - 2.0 * jnp.clip(hole_share, 0.0, 1.0), 0.0, 1.0)


def anchors(filled, hole, plan) -> list[tuple[jax.Array, jax.Array]]:
  """Per scale (image (1, h, w, 3), weight (1, h, w, 1)): the filled input (H, W, 3) and its
  hole (H, W) taken down the pyramid like the training reals."""
  images = pyramid.image_pyramid(jnp.asarray(filled)[None], plan)
  shares = pyramid.image_pyramid(jnp.asarray(hole, jnp.float32)[None, ..., None], plan)
  return [(x, known_weight(s)) for x, s in zip(images, shares)]


def reimpose(x, anchor):
  """x with the anchor's real pixels put back through its weight."""
  image, weight = anchor
  return weight * image + (1.0 - weight) * x


def upscale_sizes(finest_hw, input_hw, scale_factor: float) -> list[tuple[int, int]]:
  """Sizes from just above the finest scale up to the input's, in equal steps of at most
  1/scale_factor, the last exactly input_hw; [] when the input is no larger."""
  (h, w), (big_h, big_w) = finest_hw, input_hw
  ratio = max(big_h / h, big_w / w)
  if ratio <= 1.0 + 1e-9:
    return []
  steps = max(1, math.ceil(math.log(ratio) / math.log(1.0 / scale_factor) - 1e-9))
  sizes = [
    (round(h * (big_h / h) ** (j / steps)), round(w * (big_w / w) ** (j / steps)))
    for j in range(1, steps)
  ]
  return sizes + [(big_h, big_w)]


def hole_window(share: np.ndarray, margin: int = WINDOW_MARGIN) -> tuple[slice, slice]:
  """Rows and columns of the hole's bounding box (share > 0) grown by margin, clipped."""
  rows, cols = np.nonzero(share > 1e-6)
  h, w = share.shape
  return (
    slice(max(rows.min() - margin, 0), min(rows.max() + margin + 1, h)),
    slice(max(cols.min() - margin, 0), min(cols.max() + margin + 1, w)),
  )


_run_frozen = jax.jit(sampling.run_frozen, static_argnums=(0, 5))


def super_resolve(x, filled, hole, frozen_last, gen, scale_factor, key, partial: bool):
  """The finest output x (1, h_N, w_N, 3) carried up to the input's size (H, W): at each
  step upsample, run the finest generator with fresh noise on a window around the hole, and
  re-impose the known pixels. filled (H, W, 3) and hole (H, W) as given to the fill."""
  filled = jnp.asarray(filled)[None]
  hole_f = jnp.asarray(hole, jnp.float32)[None, ..., None]
  for j, size in enumerate(upscale_sizes(x.shape[1:3], hole.shape, scale_factor)):
    share = resize_lib.resize(hole_f, size[0] / hole.shape[0], size)
    real = resize_lib.resize(filled, size[0] / hole.shape[0], size)
    up = resize_lib.resize(x, size[0] / x.shape[1], size)
    rows, cols = hole_window(np.asarray(share[0, ..., 0]))
    win = up[:, rows, cols]
    z = sampling.noise(jax.random.fold_in(key, j), 1, *win.shape[1:3], single_channel=False)
    gen_win = _run_frozen(gen, frozen_last.g_vars, z, win, frozen_last.noise_amp, partial)
    x = real.at[:, rows, cols].set(
      reimpose(gen_win, (real[:, rows, cols], known_weight(share[:, rows, cols])))
    )
  return x
