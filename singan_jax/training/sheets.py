"""Per-scale PNG sheets of a training run: real | random sample | reconstruction."""

import os

import jax
import jax.numpy as jnp
import numpy as np

from singan_jax import rng
from singan_jax.core import sampling
from singan_jax.io import images as image_io
from singan_jax.training import monitor


def write_sheets(workdir, gens: sampling.Generators, frozen, real, n, seed, ids=None, place=None):
  """PNG per image: real | random sample | reconstruction at scale n (process 0 writes
  each image id once: a padded batch repeats ids). The sample draws from rng's SHEET stream
  of (image id, scale), so an image's sheet does not depend on its batch. Returns the sheets
  written, TensorBoard tag -> uint8 pixels (empty on other processes)."""
  h0, w0 = gens.shapes[0]

  def draws(fr, k):
    x0 = jnp.zeros((1, h0, w0, 3), jnp.float32)
    rand = sampling.chain(gens, fr, x0, 0, "rand", k)
    rec = sampling.chain(gens, fr, x0, 0, "rec")
    return rand, rec

  b = real.shape[0]
  ids = np.arange(b) if ids is None else np.asarray(ids)
  keys = jax.vmap(lambda i: rng.sheet_key(seed, i, n))(jnp.asarray(ids))
  rand, rec = jax.vmap(draws)(tuple(frozen), place(keys) if place else keys)
  rand, rec = monitor.to_host(rand), monitor.to_host(rec)
  if jax.process_index() != 0:
    return {}
  gap = np.ones((gens.shapes[n][0], 2, 3), np.float32)
  written = {}
  for i in sorted(set(np.unique(ids, return_index=True)[1].tolist())):
    sheet = np.concatenate([np.asarray(real[i, 0]), gap, rand[i, 0], gap, rec[i, 0]], axis=1)
    name = f"scale_{n}.png" if b == 1 else f"image_{ids[i]}_scale_{n}.png"
    pixels = image_io.from_float(sheet)
    image_io.write_image(os.path.join(workdir, "sheets", name), pixels)
    written["sheet" if b == 1 else f"sheet/image_{ids[i]}"] = pixels
  return written
