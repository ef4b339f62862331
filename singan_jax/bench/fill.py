"""Hole initialiser speed at full resolution: mean, local means, PatchMatch, and the patch
texture pass (inpainting/texture.py, seeded here by the local-means fill as a stand-in for the
generated image).

  python -m singan_jax.bench fill [--iters 3] [--no-port]

Runs on /work/shared/data/city1_edit.png + its mask (590x887) when present, else on the
bundled example upsampled to 590x887. Reports the first call (compile included) and the best
steady-state call of each initialiser, and the numpy port's local means for comparison. The
last line is one JSON object.
"""

import argparse
import os
import sys
import time

import numpy as np

from singan_jax.bench import common

DATA = "/work/shared/data"
SIZE = (590, 887)


def parse(argv):
  p = argparse.ArgumentParser(prog=argv[0], description=__doc__.split("\n")[0])
  p.add_argument("--iters", type=int, default=3, help="timed calls per initialiser")
  p.add_argument("--no-port", action="store_true", help="skip the numpy port's local means")
  p.add_argument("--cores", type=int, default=None)
  return p.parse_args(argv[1:])


def load_case():
  """(x (H, W, 3) float32 in [-1, 1], known (H, W) bool, source name) at 590x887."""
  from singan_jax.io import images as image_io  # pylint: disable=g-import-not-at-top
  from singan_jax.core import resize  # pylint: disable=g-import-not-at-top

  img, msk = os.path.join(DATA, "city1_edit.png"), os.path.join(DATA, "city1_edit_mask.png")
  if os.path.exists(img) and os.path.exists(msk):
    x = image_io.to_float(image_io.read_image(img))
    hole = image_io.read_mask(msk, x.shape)
    return x.astype(np.float32), ~hole, "city1_edit.png"
  img, msk = image_io.example_paths()
  x = image_io.to_float(image_io.read_image(img)).astype(np.float32)
  hole = image_io.read_mask(msk, x.shape).astype(np.float32)
  scale = SIZE[0] / x.shape[0]
  x = np.asarray(resize.resize(x, scale, SIZE), np.float32)
  hole = np.asarray(resize.resize(hole[..., None], scale, SIZE))[..., 0] > 0.5
  return x, ~hole, "example.png upsampled"


def timed(fn, iters):
  """(first call seconds, best steady-state seconds, result)."""
  t0 = time.perf_counter()
  out = common.block(fn())
  first = time.perf_counter() - t0
  times = common.time_calls(lambda: common.block(fn()), iters, warmup=0)
  return first, min(times), out


def main(argv):
  args = parse(argv)
  cores = common.pin_threads(args.cores)
  import jax  # pylint: disable=g-import-not-at-top
  import jax.numpy as jnp  # pylint: disable=g-import-not-at-top
  from singan_jax.inpainting import fill  # pylint: disable=g-import-not-at-top
  from singan_jax.inpainting import texture  # pylint: disable=g-import-not-at-top

  x_np, known_np, source = load_case()
  h, w = known_np.shape
  x, known = jnp.asarray(x_np), jnp.asarray(known_np)
  print(f"# bench fill: {source} {h}x{w}, hole {int((~known_np).sum())} px, {cores} cores")
  key = jax.random.PRNGKey(0)
  cases = {
    "mean": lambda: fill.fill_mean(x, known),
    "local_means": lambda: fill.fill_local_means(x, known, radius=4),
    "patchmatch": lambda: fill.fill_patchmatch(x, known, key),
    "texture pass": lambda: texture.retexture(x, ~known_np, seed, key),
  }
  seed = fill.fill_local_means(x, known, radius=4)
  rows, record = [], {"source": source, "size": [h, w], "cores": cores}
  for name, fn in cases.items():
    first, best, out = timed(fn, args.iters)
    out = np.asarray(out)
    finite = bool(np.isfinite(out).all())
    rows.append([name, first, best, finite])
    slug = name.replace(" ", "_")
    record[f"{slug}_s"] = round(best, 4)
    record[f"{slug}_first_s"] = round(first, 3)
    record[f"{slug}_finite"] = finite
  if not args.no_port:
    from singan_jax.reference import inpaint as port  # pylint: disable=g-import-not-at-top

    t0 = time.perf_counter()
    ref = port.local_means(x_np.transpose(2, 0, 1), known_np, 4).transpose(1, 2, 0)
    t_port = time.perf_counter() - t0
    ours = np.asarray(fill.fill_local_means(x, known, radius=4))
    rows.append(["local_means (numpy port)", t_port, t_port, bool(np.isfinite(ref).all())])
    record["port_local_means_s"] = round(t_port, 3)
    record["local_means_vs_port_maxdiff"] = float(np.abs(ours - ref).max())
  common.print_table(["initialiser", "first call s (compile incl.)", "best s", "finite"], rows)
  record["peak_rss_mb"] = round(common.peak_rss_mb(), 1)
  common.print_json(record)


if __name__ == "__main__":
  main(sys.argv)
