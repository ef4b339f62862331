"""The quality evaluation's report: medians per method, the markdown table, the sheets."""

import json
import os

import numpy as np

from singan_jax.evaluate import cases as cases_lib
from singan_jax.evaluate import methods as methods_lib
from singan_jax.io import images as image_io

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


def write_report(opts: methods_lib.Options, summary: dict) -> None:
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
