"""Animation from a single image (SinGAN 2019, section 4.5, its generate_gif): every frame is
a draw of the whole pyramid whose noise follows a random walk with momentum around the
reconstruction noise z_opt, at every scale from cfg.animate_start_scale up (coarser scales keep
z_opt, so the layout holds):

  z_t = alpha * z_opt + (1 - alpha) * (z_{t-1} + d_t),  d_t = beta * (z_{t-1} - z_{t-2})
        + (1 - beta) * fresh noise,  z_{-1} = 0.95 z_opt + 0.05 noise, z_{-2} = z_opt.

The frames run through the pyramid as one batch and are written as an animated GIF at the
finest scale's size (as the 2019 code, and --mode=sample).
"""

import io
import os

import jax
import jax.numpy as jnp
import numpy as np
from PIL import Image

from singan_jax import inputs
from singan_jax import rng
from singan_jax.core import resize as resize_lib
from singan_jax.core import sampling
from singan_jax.io import images as image_io
from singan_jax.modes import common

_run_frozen = jax.jit(sampling.run_frozen, static_argnums=(0, 5, 7))


def check(cfg, mode: str, plan) -> None:
  """The walk's first scale must exist."""
  if cfg.animate_start_scale > plan.stop_scale:
    raise inputs.UsageError(
      inputs.mode_scale(mode, "animate_start_scale", cfg.animate_start_scale, 0, plan)
    )


def walk(key, z_opt, frames: int, alpha: float = 0.1, beta: float = 0.9, single_channel=False):
  """The noise of `frames` frames (frames, h, w, 3): the momentum walk around z_opt (1, h, w,
  3) of the module docstring; single_channel: one noise channel broadcast to 3 (scale 0)."""
  h, w = z_opt.shape[1:3]
  fresh = sampling.noise(key, frames + 1, h, w, single_channel, z_opt.dtype)
  z1, z2 = 0.95 * z_opt[0] + 0.05 * fresh[0], z_opt[0]
  out = []
  for t in range(frames):
    step = beta * (z1 - z2) + (1.0 - beta) * fresh[t + 1]
    z1, z2 = alpha * z_opt[0] + (1.0 - alpha) * (z1 + step), z1
    out.append(z1)
  return jnp.stack(out)


def animate(pyr, key, frames: int = 30, alpha=0.1, beta=0.9, start_scale: int = 0):
  """`frames` draws of the pyramid along the noise walk: (frames, h_N, w_N, 3) in [-1, 1]."""
  plan, frozen, gens = pyr.plan, common.first_image(pyr), pyr.generators().modules
  x = jnp.zeros((frames, *plan.shapes[0], 3), frozen[0].z_opt.dtype)
  for k, (h, w) in enumerate(plan.shapes):
    if k > 0:
      x = resize_lib.resize(x, 1.0 / plan.scale_factor, (h, w), pyr.net.compat)
    fs = frozen[k]
    if k >= start_scale:
      z = walk(jax.random.fold_in(key, k), fs.z_opt, frames, alpha, beta, k == 0)
    else:
      z = jnp.broadcast_to(fs.z_opt, (frames, h, w, 3))
    x = _run_frozen(gens[k], fs.g_vars, z, x, fs.noise_amp, pyr.net.partial, None, pyr.net.compat)
  return x


def write(path: str, frames: np.ndarray, fps: float = 10) -> None:
  """frames (F, h, w, 3) uint8 as a looping animated GIF (atomically: a temp file renamed)."""
  buf = io.BytesIO()
  images = [Image.fromarray(f) for f in frames]
  images[0].save(buf, "GIF", save_all=True, append_images=images[1:], duration=1000.0 / fps, loop=0)
  os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
  tmp = f"{path}.tmp"
  with open(tmp, "wb") as f:
    f.write(buf.getvalue())
  os.replace(tmp, path)


def apply(cfg, mode: str, pyr, key_id: int = 0) -> np.ndarray:
  """The frames as uint8 pixels (F, h_N, w_N, 3)."""
  x = animate(
    pyr,
    rng.apply_key(cfg.seed, mode, key_id),
    cfg.animate_frames,
    cfg.animate_alpha,
    cfg.animate_beta,
    cfg.animate_start_scale,
  )
  return image_io.from_float(np.asarray(x))
