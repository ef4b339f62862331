"""The training-draw mask choice at a reduced budget: all known (default) vs the 2019 hole mask.

  python -m singan_jax.evaluate --out=OUT --images=chelsea,brick --holes=blob,rect --size=32 \
      --min_size=20 --niter=40 --nfc=8 --vanilla=True --train_variants=compat_2019-draws
  python -m singan_jax.evaluate.mask_choice OUT

The first command trains (and scores, one draw each) the 'pc', 'compat_2019-draws' and
'vanilla' pyramids; this module reuses OUT/pyramids (training them if missing) and scores
'ours' on the first two with three inpainting seeds per case, printing one JSON line per
variant (means) and per (case, seed).
"""

import dataclasses
import json
import sys

import numpy as np

from singan_jax import cli
from singan_jax.evaluate import metrics
from singan_jax.evaluate import cases as cases_lib
from singan_jax.evaluate import methods as methods_lib
from singan_jax.evaluate import run as evaluate
from singan_jax.inpainting import inpaint as inpaint_lib
from singan_jax.io import images as image_io
from singan_jax.core import schema

VARIANTS = ("pc", "compat_2019-draws")
SEEDS = (0, 1, 2)


def options(out: str) -> methods_lib.Options:
  """The reduced evaluation of docs/parity_2019.md."""
  return methods_lib.Options(
    out,
    images=("chelsea", "brick"),
    holes=("blob", "rect"),
    size=32,
    min_size=20,
    niter=40,
    nfc=8,
    train_variants=VARIANTS[1:],
    vanilla=True,
  )


def score_variant(opts: methods_lib.Options, cases: list, name: str) -> list[dict]:
  """Every (case, seed) score of 'ours' inpainted with pyramid `name`."""
  variant = methods_lib.training_variants(opts)[name]
  only = dataclasses.replace(opts, train_only=(name,))
  pyramids = evaluate.train_pyramids(only, cases)[name]
  rows = []
  for i, case in enumerate(cases):
    for seed in SEEDS:
      c = methods_lib.base_config(opts)
      c.update(**variant, seed=seed)
      pyr, slot = pyramids[i]
      inpainting = schema.Inpainting.from_config(c)
      out = inpaint_lib.inpaint(
        pyr, case.damaged, case.hole, inpainting, slot, case.case_id, seed=c.seed
      ).output
      s = metrics.score(image_io.to_float(out), image_io.to_float(case.truth), case.hole)
      rows.append({"variant": name, "case": f"{case.name}/{case.hole_kind}", "seed": seed, **s})
  return rows


def main(argv) -> None:
  if len(argv) == 2 and argv[1] in cli.HELP_FLAGS:
    print(__doc__)
    return
  if len(argv) != 2 or argv[1].startswith("-"):
    raise SystemExit("usage: python -m singan_jax.evaluate.mask_choice OUT (see --help)")
  opts = options(argv[1])
  cases = cases_lib.make_cases(opts)
  for name in VARIANTS:
    rows = score_variant(opts, cases, name)
    keys = [k for k in rows[0] if k not in ("variant", "case", "seed")]
    mean = {k: float(np.mean([r[k] for r in rows])) for k in keys}
    print(json.dumps({"variant": name, "n": len(rows), "mean": mean}), flush=True)
    for r in rows:
      print(json.dumps(r), flush=True)


if __name__ == "__main__":
  main(sys.argv)
