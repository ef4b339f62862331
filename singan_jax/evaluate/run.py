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
import json
import os
import time

from absl import app
from absl import flags
from absl import logging
import numpy as np

from singan_jax import config as defaults
from singan_jax import rng
from singan_jax.inpaint import fill as fill_lib
from singan_jax.io import images as image_io
from singan_jax.inpaint import inpaint as inpaint_lib
from singan_jax.evaluate import cases as cases_lib
from singan_jax.evaluate import metrics
from singan_jax.core import partial_conv
from singan_jax.train import loop as trainer

# The inpainting switches flipped alone (sr: on), and the report's pipeline (all of ours off).
SWITCHES = {
  "ours:notex": {"texture": "none"},
  "ours:noseam": {"seam": "none"},
  "ours:notex:noseam": {"texture": "none", "seam": "none"},
  "ours:vote": {"texture_final": "vote"},
  "ours:free": {"coherence": False},
  "ours:sr": {"upscale": "sr"},
  "ours:soft": {"blend": "soft"},
  "ours:noloc": {"texture_locality": 0.0},
  "ours:inject0.75": {"inject_fraction": 0.75},
  "report": {
    "coherence": False,
    "upscale": "resize",
    "blend": "soft",
    "texture": "none",
    "seam": "none",
  },
}
SHEET_METHODS = (
  "mean",
  "local_means",
  "patchmatch",
  "telea",
  "navier_stokes",
  "vanilla",
  "report",
  "ours",
  "ours+cand",
  "ours+prog",
  "ours+cand+prog",
  "ours:notex",
)


@dataclasses.dataclass
class Options:
  """What to evaluate; the absl flags of this module fill it."""

  out: str
  images: tuple = ("chelsea", "coffee", "brick")
  holes: tuple = cases_lib.HOLES
  size: int = 64  # the pyramid's max_size (finest scale's side)
  input_size: int = 0  # images are input_size x input_size (0: size); above size, the hole
  # is carried from the finest scale up to the input's size (cfg.upscale)
  min_size: int = 25
  niter: int = 150
  nfc: int = 32
  seed: int = 0
  candidates: int = 4  # K of the '+cand' methods
  rings: int = 3  # rings of the '+prog' methods
  sweeps: bool = True  # inpainting-side sweeps (fill, injection, texture pass, blend)
  train_variants: tuple = ("threshold_0.5",)  # extra pyramids: threshold_<t>, sum, ratio,
  # compat_<c>
  train_only: tuple = ()  # train just these pyramids and stop (a second process can
  # train 'vanilla' while the first trains the others)
  vanilla: bool = True  # train a vanilla pyramid too and score it ('vanilla' methods)
  methods: tuple = ()  # score only these SinGAN methods ('ours' always; baselines always run)
  extra: tuple = ()  # more methods on the PC pyramid: "NAME:field=value[,field=value...]"


# ----------------------------------------------------------------------------- methods


def composite(pixels, hole, filled_float) -> np.ndarray:
  """The known pixels of `pixels` with the hole taken from a [-1, 1] fill, uint8."""
  return np.where(hole[..., None], image_io.from_float(np.asarray(filled_float)), pixels)


def classical(method: str, case: cases_lib.Case, seed: int, key_id: int):
  """A baseline's output (uint8), or None when OpenCV is missing for telea/navier_stokes."""
  if method in ("telea", "navier_stokes"):
    try:
      import cv2  # pylint: disable=g-import-not-at-top
    except ImportError:
      return None
    flag = cv2.INPAINT_TELEA if method == "telea" else cv2.INPAINT_NS
    return cv2.inpaint(case.damaged, case.hole.astype(np.uint8) * 255, 3, flag)
  cfg = defaults.get_config()
  x = image_io.to_float(case.damaged)
  key = rng.baseline_key(seed, key_id)
  filled = fill_lib.fill(
    x,
    ~case.hole,
    method,
    key=key,
    radius=cfg.fill_radius,
    patch_size=cfg.patch_size,
    iters=cfg.patch_iters,
  )
  return composite(case.damaged, case.hole, filled)


def base_config(opts: Options):
  """The chosen defaults at the evaluation's (small) size and budget."""
  cfg = defaults.get_config()
  cfg.update(
    max_size=opts.size,
    min_size=opts.min_size,
    niter=opts.niter,
    nfc=opts.nfc,
    min_nfc=opts.nfc,
    nfc_cap=opts.nfc,
    seed=opts.seed,
    checkpoint_every=0,
    log_every=max(opts.niter // 2, 1),
    sheets=False,
  )
  # The blend is in finest-scale pixels; the paper's 7 / 5 are for a 250 px finest scale.
  scale = opts.size / 250.0
  cfg.blend_radius, cfg.blend_sigma = 7.0 * scale, 5.0 * scale
  return cfg


def training_variants(opts: Options) -> dict:
  """name -> config overrides of every pyramid to train ('pc' always, 'vanilla' unless
  opts.vanilla is False)."""
  out = {"pc": {}, "vanilla": {"partial": False}} if opts.vanilla else {"pc": {}}
  for v in opts.train_variants:
    if v.startswith("threshold_"):
      out[v] = {"mask_threshold": float(v.split("_", 1)[1])}
    elif v in partial_conv.NORMALIZATIONS:
      out[v] = {"pconv_norm": v}
    elif v.startswith("compat_"):
      out[v] = {"compat": v.split("_", 1)[1]}
    elif v:
      raise ValueError(f"training variant {v!r}: use threshold_<t>, sum, ratio or compat_<c>")
  return out


def inpainting_variants(opts: Options, num_scales: int) -> dict:
  """name -> (pyramid, config overrides) of every SinGAN method of the run."""
  k, r = (
    {"num_candidates": opts.candidates},
    {"progressive_rings": opts.rings, "progressive_share": 0.0},
  )
  out = {
    "ours": ("pc", {}),
    **{name: ("pc", overrides) for name, overrides in SWITCHES.items()},
    "ours+cand": ("pc", k),
    "ours+prog": ("pc", r),
    "ours+cand+prog": ("pc", {**k, **r}),
  }
  if opts.vanilla:
    out |= {"vanilla": ("vanilla", {}), "vanilla+cand": ("vanilla", k)}
  for v in training_variants(opts):
    if v not in ("pc", "vanilla"):
      out[f"train:{v}"] = (v, {})
  if opts.sweeps:
    for fill in fill_lib.VALID_METHODS:
      out[f"fill:{fill}"] = ("pc", {"fill": fill})
    for n in range(1, num_scales):
      out[f"inject:{n}/{num_scales - 1}"] = ("pc", {"inject_scale": n})
    for levels in (2, 4):
      out[f"tex:levels{levels}"] = ("pc", {"texture_levels": levels})
    for loc in (0.02, 0.1, 0.5):
      out[f"tex:loc{loc:g}"] = ("pc", {"texture_locality": loc})
    scale = opts.size / 250.0
    for rad, sig in ((3.0, 2.0), (7.0, 5.0), (11.0, 8.0)):
      out[f"blend:{rad:g}/{sig:g}"] = (
        "pc",
        {"blend_radius": rad * scale, "blend_sigma": sig * scale},
      )
  out |= {name: ("pc", overrides) for name, overrides in map(parse_extra, opts.extra)}
  if opts.methods:
    unknown = sorted(set(opts.methods) - set(out))
    if unknown:
      raise ValueError(f"--methods {unknown} unknown: use some of {sorted(out)}")
    out = {m: v for m, v in out.items() if m == "ours" or m in opts.methods}
  return out


def parse_extra(spec: str) -> tuple[str, dict]:
  """'NAME:field=value,field=value' -> (NAME, overrides), each value parsed as the config
  field's type (a field the config lacks, or a malformed spec, is refused)."""
  name, sep, body = spec.partition(":")
  cfg, overrides = defaults.get_config(), {}
  for item in body.split(",") if sep and body else ():
    field, eq, value = item.partition("=")
    if not eq or field not in cfg:
      raise ValueError(f"--extra {spec!r}: {item!r} is not FIELD=VALUE of a config field")
    overrides[field] = defaults.typed_value(cfg, field, value)
  if not name or not overrides:
    raise ValueError(f"--extra {spec!r}: use NAME:FIELD=VALUE[,FIELD=VALUE...]")
  return name, overrides


def train_pyramids(opts: Options, cases: list[cases_lib.Case]) -> dict:
  """name -> TrainedPyramid of every training variant, one vmapped batch of all cases each."""
  images = np.stack([image_io.to_float(c.damaged) for c in cases])
  holes = np.stack([c.hole for c in cases])
  pyramids = {}
  variants = training_variants(opts)
  order = sorted(variants, key=lambda v: v == "vanilla")  # vanilla last: see --train_only
  for name in order:
    if opts.train_only and name not in opts.train_only:
      continue
    cfg = base_config(opts)
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


# ----------------------------------------------------------------------------- report


def pooled(results: list[dict], hole_kind: str | None = None) -> dict:
  """method -> median of every score over the cases (of one hole kind, or all)."""
  table = {}
  for r in results:
    if hole_kind and r["hole"] != hole_kind:
      continue
    for method, s in r["scores"].items():
      table.setdefault(method, []).append(s)
  return {
    m: {k: float(np.median([s[k] for s in ss])) for k in ss[0]} | {"cases": len(ss)}
    for m, ss in table.items()
  }


def markdown(table: dict, title: str) -> str:
  keys = ("psnr", "l1", "ssim", "seam", "patch_swd", "detail", "known_changed", "seconds")
  heads = (
    "PSNR hole (dB) ^",
    "L1 hole v",
    "SSIM around ^",
    "seam v",
    "patch SWD v",
    "detail ~1",
    "known px changed v",
    "s",
  )
  lines = [
    f"**{title}**",
    "",
    "| method | " + " | ".join(heads) + " |",
    "|---|" + "---|" * len(keys),
  ]
  for m, s in table.items():
    lines.append(f"| {m} | " + " | ".join(f"{s[k]:.3f}" if k in s else "-" for k in keys) + " |")
  return "\n".join(lines) + "\n"


def write_sheet(path: str, case: cases_lib.Case, outputs: dict) -> None:
  """PNG: damaged | each method in SHEET_METHODS that ran | truth, 2 px white gaps."""
  tiles = [case.damaged] + [outputs[m] for m in SHEET_METHODS if m in outputs] + [case.truth]
  gap = np.full((case.truth.shape[0], 2, 3), 255, np.uint8)
  row = np.concatenate(sum([[t, gap] for t in tiles], [])[:-1], axis=1)
  image_io.write_image(path, row)


CLASSICAL = ("mean", "local_means", "patchmatch", "telea", "navier_stokes")


def score_case(opts: Options, i: int, case: cases_lib.Case, pyramids: dict, variants: dict):
  """Every method on case i: (outputs: method -> uint8 image, scores: method -> scores)."""
  outputs, scores = {}, {}
  truth = image_io.to_float(case.truth)
  feather = base_config(opts).blend_feather  # known pixels within it may change

  def record(method, out, seconds):
    outputs[method] = out
    score = metrics.score(image_io.to_float(out), truth, case.hole, feather)
    scores[method] = score | {"seconds": seconds}

  for method in CLASSICAL:
    t = time.time()
    out = classical(method, case, opts.seed, i)
    if out is None:
      logging.warning("opencv is not installed: %s skipped (pip install -e '.[eval]')", method)
      continue
    record(method, out, time.time() - t)
  same = {}  # a sweep point equal to another method's config is not run twice
  for method, (pyr_name, overrides) in variants.items():
    cfg = base_config(opts)
    cfg.update(**training_variants(opts)[pyr_name], **overrides)
    signature = (pyr_name, cfg.to_json())
    if signature in same:
      outputs[method], scores[method] = outputs[same[signature]], scores[same[signature]]
      continue
    same[signature] = method
    t = time.time()
    res = inpaint_lib.inpaint(pyramids[pyr_name], case.damaged, case.hole, cfg, i)
    record(method, res["output"], time.time() - t)
  return outputs, scores


def write_report(opts: Options, summary: dict) -> None:
  """OUT/results.json (everything) and OUT/table.md (pooled and per-hole-kind medians)."""
  with open(os.path.join(opts.out, "results.json"), "w", encoding="utf-8") as f:
    json.dump(summary, f, indent=1)
  md = [
    f"{len(summary['cases'])} cases ({', '.join(opts.images)} x {', '.join(opts.holes)}), "
    f"{opts.input_size or opts.size} px input, finest scale {opts.size} px, {opts.niter} "
    "iterations per scale; medians over cases.\n",
    markdown(summary["pooled"], "all holes"),
  ]
  md += [markdown(summary["per_hole"][k], f"hole: {k}") for k in opts.holes]
  with open(os.path.join(opts.out, "table.md"), "w", encoding="utf-8") as f:
    f.write("\n".join(md))


def run(opts: Options) -> dict:
  """Runs the whole evaluation; returns (and writes) the results dict."""
  os.makedirs(os.path.join(opts.out, "sheets"), exist_ok=True)
  cases = cases_lib.make_cases(opts)
  t0 = time.time()
  pyramids = train_pyramids(opts, cases)
  train_s = time.time() - t0
  if opts.train_only:
    return {"trained": sorted(pyramids), "train_seconds": train_s}
  variants = inpainting_variants(opts, pyramids["pc"].plan.num_scales)
  results = []
  for i, case in enumerate(cases):
    outputs, scores = score_case(opts, i, case, pyramids, variants)
    sheet = os.path.join(opts.out, "sheets", f"{case.name}_{case.hole_kind}.png")
    write_sheet(sheet, case, outputs)
    share = float(case.hole.mean())
    results.append(
      {"image": case.name, "hole": case.hole_kind, "hole_share": share, "scores": scores}
    )
    best = max(s["psnr"] for m, s in scores.items() if m in CLASSICAL)
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
    "pooled": pooled(results),
    "per_hole": {k: pooled(results, k) for k in opts.holes},
  }
  write_report(opts, summary)
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
