"""The quality evaluation's report: medians per method, the markdown table, the sheets."""

import json
import os

import numpy as np

from singan_jax.evaluate import cases as cases_lib
from singan_jax.evaluate import methods as methods_lib
from singan_jax.evaluate import metrics
from singan_jax.io import images as image_io

SHEET_METHODS = (
  *methods_lib.CLASSICAL,
  "vanilla",
  "report",
  "ours",
  "ours+cand",
  "ours+prog",
  "ours+cand+prog",
  "ours:notex",
  "ours:nogan",
)
# The scores a per-case win is counted on; detail wins by being nearer the truth's own.
WIN_SCORES = ("psnr", "ssim", "seam", "patch_swd", "detail")


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


def _better(key: str, a: float, b: float, truth_detail: float) -> bool:
  """Whether score a beats b on `key` (detail: nearer the truth's own, in log ratio)."""
  if key == "detail":
    return abs(np.log(max(a, 1e-6) / truth_detail)) < abs(np.log(max(b, 1e-6) / truth_detail))
  return a > b if metrics.HIGHER_IS_BETTER[key] else a < b


def best_baseline(scores: dict, key: str, truth_detail: float) -> str:
  """The classical method with the best score of one case on `key`."""
  best = None
  for m in methods_lib.CLASSICAL:
    if m in scores and (
      best is None or _better(key, scores[m][key], scores[best][key], truth_detail)
    ):
      best = m
  return best


def wins(results: list[dict]) -> dict:
  """method -> {score: cases where it beats that case's best baseline, 'psnr_vs_telea': cases
  where its PSNR beats Telea's, 'cases': cases scored}, for every non-classical method."""
  out = {}
  for r in results:
    td, sc = r["truth_detail"], r["scores"]
    for m, s in sc.items():
      if m in methods_lib.CLASSICAL:
        continue
      w = out.setdefault(m, dict.fromkeys((*WIN_SCORES, "psnr_vs_telea", "cases"), 0))
      w["cases"] += 1
      for k in WIN_SCORES:
        w[k] += int(_better(k, s[k], sc[best_baseline(sc, k, td)][k], td))
      if "telea" in sc:
        w["psnr_vs_telea"] += int(s["psnr"] > sc["telea"]["psnr"])
  return out


def wins_markdown(table: dict, title: str) -> str:
  heads = [f"{k} > best" for k in WIN_SCORES] + ["PSNR > Telea"]
  lines = [
    f"**{title}** (cases where the method beats that case's best baseline on each score;"
    " detail: nearer the truth's own)",
    "",
    "| method | " + " | ".join(heads) + " |",
    "|---|" + "---|" * len(heads),
  ]
  for m, w in table.items():
    cells = [f"{w[k]}/{w['cases']}" for k in (*WIN_SCORES, "psnr_vs_telea")]
    lines.append(f"| {m} | " + " | ".join(cells) + " |")
  return "\n".join(lines) + "\n"


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


def _tile(img: np.ndarray, side: int) -> np.ndarray:
  """img (h, w, 3) centred on a white side x side square."""
  out = np.full((side, side, 3), 255, np.uint8)
  h, w = img.shape[:2]
  out[(side - h) // 2 : (side - h) // 2 + h, (side - w) // 2 : (side - w) // 2 + w] = img
  return out


def write_kind_sheet(path: str, rows: list[tuple]) -> None:
  """PNG, one row per case: damaged | ours | that case's best baseline by PSNR | truth, each
  centred on a white square of the largest side, 2 px white gaps."""
  side = max(max(t.shape[:2]) for row in rows for t in row)
  gap_v = np.full((side, 2, 3), 255, np.uint8)
  lines = [
    np.concatenate(sum([[_tile(t, side), gap_v] for t in row], [])[:-1], axis=1) for row in rows
  ]
  gap_h = np.full((2, lines[0].shape[1], 3), 255, np.uint8)
  image_io.write_image(path, np.concatenate(sum([[ln, gap_h] for ln in lines], [])[:-1]))


def write_report(opts: methods_lib.Options, summary: dict) -> None:
  """OUT/results.json (everything) and OUT/table.md (per split: medians over all holes and
  per hole kind, per-case wins)."""
  with open(os.path.join(opts.out, "results.json"), "w", encoding="utf-8") as f:
    json.dump(summary, f, indent=1)
  cases = summary["cases"]
  md = [
    f"{len(cases)} cases ({', '.join(opts.images)} x {', '.join(opts.holes)}), "
    f"{opts.input_size or opts.size} px input (longer side), "
    + (
      f"finest scale {opts.size} px, {opts.niter} iterations per scale, {opts.nfc} channels"
      if opts.gan
      else "no pyramid (--gan=False)"
    )
    + "; medians over cases.\n",
    "Truth's own detail ratio in the holes: median "
    f"{np.median([c['truth_detail'] for c in cases]):.3f}.\n",
  ]
  for split in sorted({c["split"] for c in cases}):
    part = [c for c in cases if c["split"] == split]
    md += [
      markdown(pooled(part), f"{split}: all holes ({len(part)} cases)"),
      wins_markdown(wins(part), f"{split}: per-case wins"),
    ]
    md += [markdown(pooled(part, k), f"{split}, hole: {k}") for k in opts.holes]
  with open(os.path.join(opts.out, "table.md"), "w", encoding="utf-8") as f:
    f.write("\n".join(md))
