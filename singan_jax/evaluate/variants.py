r"""Inpainting variants on one trained workdir: the ground-truth-free scores side by side.

Loads (or trains) the pyramid of --workdir for the bundled example (or --config.image/mask),
inpaints it once per variant (each switches one inpainting field) and prints the detail ratio,
seam score, patch SWD, known pixels changed beyond the feather and the seconds per call (the
second call: compiles excluded), and writes OUT/variants.png (a crop around the hole, one row
per variant, 3x nearest).

  python -m singan_jax.main --mode=inpaint --config=configs/demo.py --workdir=/tmp/singan_demo
  python -m singan_jax.evaluate.variants --config=configs/demo.py --workdir=/tmp/singan_demo
  # some of them, in this order (the names: VARIANTS below)
  python -m singan_jax.evaluate.variants --config=configs/demo.py --workdir=/tmp/singan_demo \
      --variants=ours,ours:notex
  # any inpainting fields as more variants
  python -m singan_jax.evaluate.variants --config=configs/demo.py --workdir=/tmp/singan_demo \
      --variants=ours --extra=levels4:texture_levels=4
"""

import os
import time

from absl import app
from absl import flags
import numpy as np
from ml_collections import config_flags
from PIL import Image

from singan_jax import cli
from singan_jax import config as config_lib
from singan_jax import jobs as jobs_lib
from singan_jax.core import schema
from singan_jax.evaluate import metrics
from singan_jax.evaluate import methods as methods_lib
from singan_jax.inpainting import inpaint as inpaint_lib
from singan_jax.io import images as image_io
from singan_jax.training import loop as trainer

VARIANTS = {
  "ours": {},
  **methods_lib.SWITCHES,
  "ours:patchmatch": {"fill": "patchmatch"},
  "ours+cand": {"num_candidates": methods_lib.Options.candidates},
  "ours+prog": {"progressive_rings": methods_lib.Options.rings, "progressive_share": 0.0},
}

_CONFIG = config_flags.DEFINE_config_file("config", config_lib.__file__, lock_config=True)
_WORKDIR = flags.DEFINE_string("workdir", None, "Workdir of the pyramid (trained if absent).")
_VARIANTS = flags.DEFINE_list("variants", list(VARIANTS), "The variants to run, in order.")
_EXTRA = flags.DEFINE_multi_string(
  "extra", [], "More variants, NAME:FIELD=VALUE[,FIELD=VALUE...], run after --variants."
)


def crop_around(x: np.ndarray, hole: np.ndarray, margin: int = 20) -> np.ndarray:
  """x cut to the hole's bounding box grown by margin."""
  ys, xs = np.nonzero(hole)
  return x[
    max(ys.min() - margin, 0) : ys.max() + margin, max(xs.min() - margin, 0) : xs.max() + margin
  ]


def scores(out, pixels, hole, feather: float) -> dict:
  """The ground-truth-free scores of one output."""
  x = image_io.to_float(out)
  return {
    "detail": metrics.detail_ratio(x, hole),
    **metrics.no_reference(x, hole),
    "changed": metrics.known_changed(out, pixels, hole, feather),
  }


def main(argv):
  del argv
  cfg = _CONFIG.value
  job = jobs_lib.from_config(cfg, _WORKDIR.value)[0]
  pixels = image_io.read_image(job.image)
  hole = image_io.read_mask(job.mask, pixels.shape[:2], job.image)
  pyr = trainer.train(
    config_lib.settings(cfg), _WORKDIR.value, image_io.to_float(pixels)[None], hole[None]
  )
  rows = []
  print("| variant | detail ~1 | seam v | patch SWD v | known px changed | s |")
  print("|---|---|---|---|---|---|")
  unknown = sorted(set(_VARIANTS.value) - set(VARIANTS))
  if unknown:
    raise app.UsageError(f"--variants {unknown} unknown: use some of {list(VARIANTS)}")
  chosen = {name: VARIANTS[name] for name in _VARIANTS.value}
  chosen |= dict(map(methods_lib.parse_extra, _EXTRA.value))
  for name, overrides in chosen.items():
    c = cfg.copy_and_resolve_references()
    c.update(**overrides)
    inpainting = schema.Inpainting.from_config(c)
    inpaint_lib.inpaint(pyr, pixels, hole, inpainting, seed=c.seed)  # compiles
    t = time.time()
    out = inpaint_lib.inpaint(pyr, pixels, hole, inpainting, seed=c.seed).output
    s = scores(out, pixels, hole, cfg.blend_feather)
    print(
      f"| {name} | {s['detail']:.3f} | {s['seam']:.3f} | {s['patch_swd']:.3f} | "
      f"{s['changed']} | {time.time() - t:.2f} |",
      flush=True,
    )
    rows.append(crop_around(out, hole))
  grid = np.concatenate(rows, 0)
  path = os.path.join(_WORKDIR.value, "variants.png")
  Image.fromarray(grid).resize((grid.shape[1] * 3, grid.shape[0] * 3), Image.NEAREST).save(path)
  print(f"wrote {path} (rows: {', '.join(chosen)})")


if __name__ == "__main__":
  flags.mark_flag_as_required("workdir")
  cli.run(main)
