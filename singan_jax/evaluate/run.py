r"""Inpainting quality on a fixed, seeded set: ours against classical baselines, scored.

Images: CC0 / public-domain photos and textures shipped by scikit-image (skimage.data), centre
cropped and resized to --size. Holes (seeded): one smooth blob (8-15% of the image), random
thick strokes (15-25%), a rectangle (10-15%). Every method fills the same damaged images; the
truth scores them (metrics.py). One pyramid is trained per (image, hole, training variant), all
in one vmapped batch, and reused by every inpainting-side variant. Needs the [eval] extra:

  pip install -e '.[eval]'
  python -m singan_jax.evaluate --out=/tmp/singan_eval            # docs/quality.md's table
  python -m singan_jax.evaluate --out=/tmp/q --images=chelsea --holes=rect --size=32 \
      --min_size=20 --niter=4 --nfc=8 --sweeps=False               # a smoke run, ~1 minute
  # any config combination as another method on the same pyramids, only it (and 'ours')
  python -m singan_jax.evaluate --out=/tmp/singan_eval --extra=loc1:texture_locality=1 \
      --methods=loc1

Writes OUT/results.json (every score of every case and method), OUT/table.md, and
OUT/sheets/<image>_<hole>.png (damaged | each method | truth). Re-running with the same flags
reuses the trained pyramids in OUT/pyramids/.
"""

import dataclasses
import fcntl
import os
import time

from absl import app
from absl import flags
from absl import logging
import numpy as np

from singan_jax.evaluate import cases as cases_lib
from singan_jax.evaluate import methods as methods_lib
from singan_jax.evaluate import metrics
from singan_jax.evaluate import report as report_lib
from singan_jax.inpaint import inpaint as inpaint_lib
from singan_jax.io import images as image_io
from singan_jax.train import loop as trainer

Options = methods_lib.Options


def train_pyramids(opts: Options, cases: list[cases_lib.Case]) -> dict:
  """name -> TrainedPyramid of every training variant, one vmapped batch of all cases each."""
  images = np.stack([image_io.to_float(c.damaged) for c in cases])
  holes = np.stack([c.hole for c in cases])
  pyramids = {}
  variants = methods_lib.training_variants(opts)
  order = sorted(variants, key=lambda v: v == "vanilla")  # vanilla last: see --train_only
  for name in order:
    if opts.train_only and name not in opts.train_only:
      continue
    cfg = methods_lib.base_config(opts)
    cfg.update(**variants[name])
    workdir = os.path.join(opts.out, "pyramids", name)
    os.makedirs(workdir, exist_ok=True)
    t = time.time()
    # A second process may train some pyramids meanwhile (--train_only): wait for it.
    with open(os.path.join(workdir, ".lock"), "w", encoding="utf-8") as lock:
      fcntl.flock(lock, fcntl.LOCK_EX)
      pyramids[name] = trainer.train(cfg, workdir, images, holes)
    logging.info("pyramid %s: %d images in %.0fs", name, len(cases), time.time() - t)
  return pyramids


def score_case(opts: Options, i: int, case: cases_lib.Case, pyramids: dict, variants: dict):
  """Every method on case i: (outputs: method -> uint8 image, scores: method -> scores)."""
  outputs, scores = {}, {}
  truth = image_io.to_float(case.truth)
  feather = methods_lib.base_config(opts).blend_feather  # known pixels within it may change

  def record(method, out, seconds):
    outputs[method] = out
    score = metrics.score(image_io.to_float(out), truth, case.hole, feather)
    scores[method] = score | {"seconds": seconds}

  for method in methods_lib.CLASSICAL:
    t = time.time()
    out = methods_lib.classical(method, case, opts.seed, i)
    if out is None:
      logging.warning("opencv is not installed: %s skipped (pip install -e '.[eval]')", method)
      continue
    record(method, out, time.time() - t)
  same = {}  # a sweep point equal to another method's config is not run twice
  for method, (pyr_name, overrides) in variants.items():
    cfg = methods_lib.base_config(opts)
    cfg.update(**methods_lib.training_variants(opts)[pyr_name], **overrides)
    signature = (pyr_name, cfg.to_json())
    if signature in same:
      outputs[method], scores[method] = outputs[same[signature]], scores[same[signature]]
      continue
    same[signature] = method
    t = time.time()
    res = inpaint_lib.inpaint(pyramids[pyr_name], case.damaged, case.hole, cfg, i)
    record(method, res["output"], time.time() - t)
  return outputs, scores


def run(opts: Options) -> dict:
  """Runs the whole evaluation; returns (and writes) the results dict."""
  os.makedirs(os.path.join(opts.out, "sheets"), exist_ok=True)
  cases = cases_lib.make_cases(opts)
  t0 = time.time()
  pyramids = train_pyramids(opts, cases)
  train_s = time.time() - t0
  if opts.train_only:
    return {"trained": sorted(pyramids), "train_seconds": train_s}
  variants = methods_lib.inpainting_variants(opts, pyramids["pc"].plan.num_scales)
  results = []
  for i, case in enumerate(cases):
    outputs, scores = score_case(opts, i, case, pyramids, variants)
    sheet = os.path.join(opts.out, "sheets", f"{case.name}_{case.hole_kind}.png")
    report_lib.write_sheet(sheet, case, outputs)
    share = float(case.hole.mean())
    results.append(
      {"image": case.name, "hole": case.hole_kind, "hole_share": share, "scores": scores}
    )
    best = max(s["psnr"] for m, s in scores.items() if m in methods_lib.CLASSICAL)
    logging.info(
      "case %d/%d %s/%s: ours PSNR %.2f, best baseline PSNR %.2f",
      i + 1,
      len(cases),
      case.name,
      case.hole_kind,
      scores["ours"]["psnr"],
      best,
    )
  summary = {
    "options": dataclasses.asdict(opts),
    "train_seconds": train_s,
    "plan": pyramids["pc"].plan.to_dict(),
    "cases": results,
    "pooled": report_lib.pooled(results),
    "per_hole": {k: report_lib.pooled(results, k) for k in opts.holes},
  }
  report_lib.write_report(opts, summary)
  return summary


# ----------------------------------------------------------------------------- CLI

_OUT = flags.DEFINE_string("out", None, "Output directory (results, table, sheets, pyramids).")
_IMAGES = flags.DEFINE_list(
  "images", list(Options.images), f"skimage.data images: {cases_lib.IMAGES}."
)
_HOLES = flags.DEFINE_list("holes", list(cases_lib.HOLES), "Hole kinds.")
_SIZE = flags.DEFINE_integer("size", Options.size, "Pyramid max_size (px).")
_INPUT_SIZE = flags.DEFINE_integer("input_size", Options.input_size, "Image side (0: --size).")
_MIN_SIZE = flags.DEFINE_integer("min_size", Options.min_size, "Coarsest scale's side.")
_NITER = flags.DEFINE_integer("niter", Options.niter, "Training iterations per scale.")
_NFC = flags.DEFINE_integer("nfc", Options.nfc, "Channels of every scale's nets.")
_SEED = flags.DEFINE_integer("seed", Options.seed, "Seed of the holes and of every draw.")
_CANDIDATES = flags.DEFINE_integer("candidates", Options.candidates, "K of '+cand'.")
_RINGS = flags.DEFINE_integer("rings", Options.rings, "Rings of '+prog'.")
_SWEEPS = flags.DEFINE_bool(
  "sweeps", Options.sweeps, "Fill / injection / texture pass / blend sweeps."
)
_TRAIN_VARIANTS = flags.DEFINE_list(
  "train_variants",
  list(Options.train_variants),
  "Extra pyramids: threshold_<t> (mask threshold), sum or ratio (pconv_norm), compat_<c> "
  "(config.compat, e.g. compat_2019-draws).",
)
_TRAIN_ONLY = flags.DEFINE_list("train_only", [], "Only train these pyramids, then stop.")
_VANILLA = flags.DEFINE_bool("vanilla", Options.vanilla, "Train and score a vanilla pyramid.")
_METHODS = flags.DEFINE_list("methods", [], "Score only these SinGAN methods (and 'ours').")
_EXTRA = flags.DEFINE_multi_string(
  "extra", [], "More methods on the PC pyramid: NAME:FIELD=VALUE[,FIELD=VALUE...] (repeatable)."
)


def main(argv):
  del argv
  logging.set_verbosity(logging.INFO)
  if not _OUT.value:
    raise app.UsageError("--out is required: the directory for results, table and sheets")
  opts = Options(
    _OUT.value,
    tuple(_IMAGES.value),
    tuple(_HOLES.value),
    _SIZE.value,
    _INPUT_SIZE.value,
    _MIN_SIZE.value,
    _NITER.value,
    _NFC.value,
    _SEED.value,
    _CANDIDATES.value,
    _RINGS.value,
    _SWEEPS.value,
    tuple(v for v in _TRAIN_VARIANTS.value if v),
    tuple(_TRAIN_ONLY.value),
    _VANILLA.value,
    tuple(_METHODS.value),
    tuple(_EXTRA.value),
  )
  summary = run(opts)
  if opts.train_only:
    logging.info("trained %s in %.0fs", summary["trained"], summary["train_seconds"])
    return
  print(open(os.path.join(opts.out, "table.md"), encoding="utf-8").read())
  logging.info("wrote %s (training %.0fs)", opts.out, summary["train_seconds"])


if __name__ == "__main__":
  app.run(main)
