r"""Inpainting quality on the development set: ours, its parts and classical fills, scored.

The set (cases.py): eleven offline photos in two fixed halves, --split=tune (defaults are
chosen here) and --split=test (a change is kept only if it wins here too), whole, at
--input_size px longer side (default: --size), five seeded hole kinds, each case written as a
user's image and mask and read back through the --config.image path. Every method fills the
same damaged images; the truth scores them (metrics.py). One pyramid per (case, training
variant); cases whose pyramids share their shapes train in one vmapped batch, reused by every
inpainting-side method. The defaults are configs/demo.py's pyramid (128 px, 100 iterations
per scale, 32 channels). Needs the [eval] extra:

  pip install -e '.[eval]'
  python -m singan_jax.evaluate --out=/tmp/eval_tune --split=tune      # choose defaults here
  python -m singan_jax.evaluate --out=/tmp/eval_test --split=test      # and check them here
  python -m singan_jax.evaluate --out=/tmp/q --images=chelsea --holes=rect --size=32 \
      --min_size=20 --niter=4 --nfc=8                                 # a smoke run, ~1 minute
  # any config combination as another method on the same pyramids, only it (and 'ours')
  python -m singan_jax.evaluate --out=/tmp/eval_tune --extra=loc1:texture_locality=1 \
      --methods=loc1

Writes OUT/inputs/ (the damaged images and masks), OUT/results.json (every score of every
case and method), OUT/table.md (medians per split and hole kind, per-case wins against the
best baseline) and OUT/sheets/<image>_<hole>.png (damaged | each method | truth). Re-running
with the same flags reuses the trained pyramids in OUT/pyramids/.
"""

import dataclasses
import fcntl
import json
import os
import time

from absl import app
from absl import flags
from absl import logging
import jax

from singan_jax import cli
from singan_jax import config as config_lib
from singan_jax.core import schema
from singan_jax.evaluate import cases as cases_lib
from singan_jax.evaluate import methods as methods_lib
from singan_jax.evaluate import metrics
from singan_jax.evaluate import report as report_lib
from singan_jax.inpainting import inpaint as inpaint_lib
from singan_jax.io import images as image_io
from singan_jax.training import loop as trainer

Options = methods_lib.Options


def buckets(opts: Options, cases: list[cases_lib.Case]) -> dict:
  """Bucket name -> indices of the cases whose pyramids share their shapes (one image's hole
  kinds always do; images of one aspect too), at most opts.batch a bucket (0: no limit):
  each bucket trains as one vmapped batch."""
  cfg, batch = methods_lib.base_config(opts), methods_lib.batch_size(opts)
  by_shape = {}
  for i, c in enumerate(cases):
    shapes = config_lib.scale_plan(cfg, *c.damaged.shape[:2]).shapes
    by_shape.setdefault("x".join(map(str, shapes[-1])), []).append(i)
  if not batch:
    return by_shape
  return {
    f"{name}_{cases[idx[k]].case_id}": idx[k : k + batch]
    for name, idx in by_shape.items()
    for k in range(0, len(idx), batch)
  }


def train_pyramids(opts: Options, cases: list[cases_lib.Case]) -> dict:
  """name -> [(TrainedPyramid, slot)] per case, for every training variant; each bucket of
  cases is one vmapped batch, each case's draws keyed by its case_id."""
  pyramids = {}
  variants = methods_lib.training_variants(opts)
  order = sorted(variants, key=lambda v: v == "vanilla")  # vanilla last: see --train_only
  groups = buckets(opts, cases)
  for name in order:
    if opts.train_only and name not in opts.train_only:
      continue
    cfg = methods_lib.base_config(opts)
    cfg.update(**variants[name])
    if not (os.environ.get("SINGAN_JAX_CACHE_DIR") or jax.config.jax_compilation_cache_dir):
      # one case's compiled programs then serve every case of its shape
      cfg.compilation_cache_dir = os.path.join(opts.out, "xla_cache")
    per_case = [None] * len(cases)
    for bucket, idx in groups.items():
      workdir = os.path.join(opts.out, "pyramids", name, bucket)
      os.makedirs(workdir, exist_ok=True)
      t = time.time()
      images = [image_io.to_float(cases[i].damaged) for i in idx]
      holes = [cases[i].hole for i in idx]
      ids = [cases[i].case_id for i in idx]
      # A second process may train some pyramids meanwhile (--train_only): wait for it.
      with open(os.path.join(workdir, ".lock"), "w", encoding="utf-8") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        pyr = trainer.train(config_lib.settings(cfg), workdir, images, holes, image_ids=ids)
      for slot, i in enumerate(idx):
        per_case[i] = (pyr, slot)
      seconds = time.time() - t
      _record_training(opts.out, name, bucket, seconds)
      logging.info("pyramid %s/%s: %d images in %.0fs", name, bucket, len(idx), seconds)
    pyramids[name] = per_case
  return pyramids


def _record_training(out: str, name: str, bucket: str, seconds: float) -> None:
  """Adds a pyramid's training wall time to OUT/training_seconds.json ({pyramid: {bucket:
  s}}), the time axis of a time-to-quality comparison; a re-run (the pyramid restored)
  keeps the first run's time."""
  path = os.path.join(out, "training_seconds.json")
  record = {}
  if os.path.exists(path):
    with open(path, encoding="utf-8") as f:
      record = json.load(f)
  record.setdefault(name, {}).setdefault(bucket, round(seconds, 2))
  with open(path, "w", encoding="utf-8") as f:
    json.dump(record, f, indent=1, sort_keys=True)


def score_case(opts: Options, i: int, case: cases_lib.Case, pyramids: dict, variants: dict):
  """Every method on case i: (outputs: method -> uint8 image, scores: method -> scores)."""
  outputs, scores = {}, {}
  truth = image_io.to_float(case.truth)
  base = methods_lib.base_config(opts)
  feather = base.blend_feather  # known pixels within it may change

  def record(method, out, seconds):
    outputs[method] = out
    score = metrics.score(image_io.to_float(out), truth, case.hole, feather)
    scores[method] = score | {"seconds": seconds}

  for method in methods_lib.CLASSICAL:
    t = time.time()
    out = methods_lib.classical(method, case, opts.seed, case.case_id)
    if out is None:
      logging.warning("opencv is not installed: %s skipped (pip install -e '.[eval]')", method)
      continue
    record(method, out, time.time() - t)
  for method, shift in methods_lib.ORACLES.items():
    record(method, methods_lib.shifted_truth(case, shift), 0.0)
  nogan = {methods_lib.NO_GAN: {}}
  if not opts.gan:  # no pyramid: --extra methods vary the no-GAN path instead
    nogan |= dict(map(methods_lib.parse_extra, opts.extra))
  for method, overrides in nogan.items():
    cfg = methods_lib.base_config(opts)
    cfg.update(**overrides)
    t = time.time()
    record(method, methods_lib.texture_only(case, cfg, case.case_id), time.time() - t)
  same = {}  # a sweep point equal to another method's config is not run twice
  for method, (pyr_name, overrides) in variants.items():
    cfg = methods_lib.base_config(opts)
    cfg.update(**methods_lib.training_variants(opts)[pyr_name], **overrides)
    signature = (pyr_name, cfg.to_json())
    if signature in same:
      outputs[method], scores[method] = outputs[same[signature]], scores[same[signature]]
      continue
    same[signature] = method
    pyr, slot = pyramids[pyr_name][i]
    t = time.time()
    inpainting = schema.Inpainting.from_config(cfg)
    res = inpaint_lib.inpaint(
      pyr, case.damaged, case.hole, inpainting, slot, case.case_id, seed=cfg.seed
    )
    record(method, res.output, time.time() - t)
  return outputs, scores


def _score_signature(opts: Options) -> str:
  """What a case's scores depend on beyond the case itself (not the output folder, nor which
  other images or hole kinds the run holds)."""
  fields = dataclasses.asdict(opts)
  for k in ("out", "images", "holes", "train_only"):
    fields.pop(k)
  return json.dumps(fields, sort_keys=True)


def scored_case(opts: Options, i: int, case: cases_lib.Case, pyramids: dict, variants: dict):
  """score_case, kept in OUT/scored/<image>_<hole>/ (scores.json and every output's PNG) as
  soon as the case is scored, so a re-run of an interrupted evaluation with the same options
  picks up where it stopped instead of scoring finished cases again."""
  folder = os.path.join(opts.out, "scored", f"{case.name}_{case.hole_kind}")
  path, signature = os.path.join(folder, "scores.json"), _score_signature(opts)
  if os.path.exists(path):
    with open(path, encoding="utf-8") as f:
      saved = json.load(f)
    if saved["signature"] == signature:
      outputs = {m: image_io.read_image(os.path.join(folder, f"{m}.png")) for m in saved["scores"]}
      return outputs, saved["scores"]
  outputs, scores = score_case(opts, i, case, pyramids, variants)
  os.makedirs(folder, exist_ok=True)
  for m, out in outputs.items():
    image_io.write_image(os.path.join(folder, f"{m}.png"), out)
  with open(path + ".tmp", "w", encoding="utf-8") as f:
    json.dump({"signature": signature, "scores": scores}, f)
  os.replace(path + ".tmp", path)  # whole or absent, even if killed while writing
  return outputs, scores


def case_record(case: cases_lib.Case, scores: dict) -> dict:
  """One case's entry of results.json: what it is, the truth's own detail, every score."""
  return {
    "image": case.name,
    "hole": case.hole_kind,
    "split": case.split,
    "hole_share": float(case.hole.mean()),
    "truth_detail": metrics.detail_ratio(image_io.to_float(case.truth), case.hole),
    "scores": scores,
  }


def run(opts: Options) -> dict:
  """Runs the whole evaluation; returns (and writes) the results dict. opts.gan False: no
  pyramid, only the baselines and ours:nogan."""
  os.makedirs(os.path.join(opts.out, "sheets"), exist_ok=True)
  cases = cases_lib.make_cases(opts)
  t0 = time.time()
  pyramids = train_pyramids(opts, cases) if opts.gan else {}
  train_s = time.time() - t0
  if opts.train_only:
    return {"trained": sorted(pyramids), "train_seconds": train_s}
  groups = buckets(opts, cases) if opts.gan else {}
  plans = {b: pyramids["pc"][idx[0]][0].plan for b, idx in groups.items()}
  num_scales = min((p.num_scales for p in plans.values()), default=0)
  variants = methods_lib.inpainting_variants(opts, num_scales) if opts.gan else {}
  results, by_kind = [], {}
  for i, case in enumerate(cases):
    outputs, scores = scored_case(opts, i, case, pyramids, variants)
    if i + 1 == len(cases) or cases[i + 1].name != case.name:
      jax.clear_caches()  # each image's programs: 55 cases' worth exhausted LLVM's memory
    sheet = os.path.join(opts.out, "sheets", f"{case.name}_{case.hole_kind}.png")
    report_lib.write_sheet(sheet, case, outputs)
    results.append(case_record(case, scores))
    ours = "ours" if "ours" in outputs else methods_lib.NO_GAN
    best = report_lib.best_baseline(scores, "psnr", results[-1]["truth_detail"])
    row = (case.damaged, outputs[ours], outputs[best], case.truth)
    by_kind.setdefault((case.split, case.hole_kind), []).append(row)
    logging.info(
      "case %d/%d %s/%s: %s PSNR %.2f, best baseline %s %.2f",
      *(i + 1, len(cases), case.name, case.hole_kind),
      *(ours, scores[ours]["psnr"], best, scores[best]["psnr"]),
    )
  summary = {
    "options": dataclasses.asdict(opts),
    "train_seconds": train_s,
    "plans": {b: p.to_dict() for b, p in plans.items()},
    "cases": results,
    "pooled": report_lib.pooled(results),
    "per_hole": {k: report_lib.pooled(results, k) for k in opts.holes},
    "wins": report_lib.wins(results),
  }
  report_lib.write_report(opts, summary)
  for (split, kind), rows in by_kind.items():
    path = os.path.join(opts.out, "sheets", f"{split}_{kind}.png")
    report_lib.write_kind_sheet(path, rows)
  return summary


# ----------------------------------------------------------------------------- CLI

_OUT = flags.DEFINE_string("out", None, "Output directory (results, table, sheets, pyramids).")
_SPLIT = flags.DEFINE_enum(
  "split", "tune", list(cases_lib.SPLITS), "The development set's half (defaults: tune only)."
)
_IMAGES = flags.DEFINE_list(
  "images", [], f"These images instead of --split's (of the development set: {cases_lib.DEV_SET})."
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
  "(config.compat, e.g. compat_2019-draws), concurrent_<depth>[_<niter>] (schedule "
  "concurrent, train_depth, niter).",
)
_TRAIN_ONLY = flags.DEFINE_list("train_only", [], "Only train these pyramids, then stop.")
_VANILLA = flags.DEFINE_bool("vanilla", Options.vanilla, "Train and score a vanilla pyramid.")
_BATCH = flags.DEFINE_integer(
  "batch",
  Options.batch,
  "Cases per vmapped batch (0: all of a shape; -1: 1 on a CPU, where batching gains <= 1.2x"
  " and compiles B convolutions, else 0); same-shape cases share their programs through the"
  " compilation cache (OUT/xla_cache unless one is set).",
)
_GAN = flags.DEFINE_bool(
  "gan",
  Options.gan,
  "Train pyramids; False: only the baselines and ours:nogan (no training; --extra methods then "
  "vary ours:nogan).",
)
_METHODS = flags.DEFINE_list("methods", [], "Score only these SinGAN methods (and 'ours').")
_EXTRA = flags.DEFINE_multi_string(
  "extra", [], "More methods on the PC pyramid: NAME:FIELD=VALUE[,FIELD=VALUE...] (repeatable)."
)


def main(argv):
  del argv
  logging.set_verbosity(logging.INFO)
  logging.get_absl_handler().addFilter(cli.QuietLibraries())
  if not _OUT.value:
    raise app.UsageError("--out is required: the directory for results, table and sheets")
  opts = Options(
    _OUT.value,
    images=tuple(_IMAGES.value) or cases_lib.SPLITS[_SPLIT.value],
    holes=tuple(_HOLES.value),
    size=_SIZE.value,
    input_size=_INPUT_SIZE.value,
    min_size=_MIN_SIZE.value,
    niter=_NITER.value,
    nfc=_NFC.value,
    seed=_SEED.value,
    candidates=_CANDIDATES.value,
    rings=_RINGS.value,
    sweeps=_SWEEPS.value,
    train_variants=tuple(v for v in _TRAIN_VARIANTS.value if v),
    train_only=tuple(_TRAIN_ONLY.value),
    vanilla=_VANILLA.value,
    methods=tuple(_METHODS.value),
    extra=tuple(_EXTRA.value),
    gan=_GAN.value,
    batch=_BATCH.value,
  )
  summary = run(opts)
  if opts.train_only:
    logging.info("trained %s in %.0fs", summary["trained"], summary["train_seconds"])
    return
  print(open(os.path.join(opts.out, "table.md"), encoding="utf-8").read())
  logging.info("wrote %s (training %.0fs)", opts.out, summary["train_seconds"])


if __name__ == "__main__":
  cli.run(main)
