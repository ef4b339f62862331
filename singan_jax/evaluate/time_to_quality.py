r"""Quality against training time: one point per trained pyramid of `evaluate` runs.

Each run's OUT/training_seconds.json gives every pyramid's training wall time per case; its
results.json the scores of the pyramid's methods (`ours` / `ours:notex` on the PC pyramid,
`train:NAME` / `train:NAME:notex` on a training variant). A point is a pyramid: its schedule,
iterations per scale, median and fastest (warm) seconds per case, and the medians of ours
(texture pass on) and the GAN alone. Prints the markdown table; --plot draws PSNR and patch
SWD against warm minutes (matplotlib, the `plot` extra).

  python -m singan_jax.evaluate.time_to_quality --runs=/tmp/s25,/tmp/s50,/tmp/s100 \
      --plot=docs/schedule_time_to_quality.png
"""

import json
import os

from absl import app
from absl import flags
import numpy as np

from singan_jax import cli
from singan_jax.core import schema
from singan_jax.evaluate import methods as methods_lib

SCORES = ("psnr", "ssim", "patch_swd", "detail")


def _pyramid_methods(name: str) -> tuple[str, str]:
  """(ours, GAN alone) method names of pyramid `name` in an evaluate run."""
  return ("ours", "ours:notex") if name == "pc" else (f"train:{name}", f"train:{name}:notex")


def _budget(name: str, niter: int) -> tuple[str, int]:
  """(schedule, iterations per scale) of pyramid `name` of a run at --niter niter, read off
  the config overrides evaluate trained it with (methods.training_variants)."""
  variants = () if name in ("pc", "vanilla") else (name,)
  opts = methods_lib.Options("", niter=niter, vanilla=True, train_variants=variants)
  overrides = methods_lib.training_variants(opts)[name]
  schedule = overrides.get("schedule", schema.Training.schedule)
  if schedule == "concurrent":
    schedule = f"concurrent (depth {overrides['train_depth']})"
  return schedule, overrides.get("niter", niter)


def _medians(cases: list, method: str) -> dict | None:
  """Medians of SCORES over the cases that scored method; None when none did."""
  rows = [c["scores"][method] for c in cases if method in c["scores"]]
  if not rows:
    return None
  return {s: float(np.median([r[s] for r in rows])) for s in SCORES}


def points(out: str) -> list[dict]:
  """One dict per pyramid of the run in out: schedule, niter, seconds, ours, gan_alone."""
  with open(os.path.join(out, "results.json"), encoding="utf-8") as f:
    results = json.load(f)
  with open(os.path.join(out, "training_seconds.json"), encoding="utf-8") as f:
    seconds = json.load(f)
  found = []
  for name, per_case in sorted(seconds.items()):
    ours, alone = _pyramid_methods(name)
    scored = _medians(results["cases"], ours)
    if scored is None:
      continue
    schedule, niter = _budget(name, results["options"]["niter"])
    found.append(
      {
        "schedule": schedule,
        "niter": niter,
        "seconds": float(np.median(list(per_case.values()))),
        "warm_seconds": float(min(per_case.values())),  # programs from the cache
        "ours": scored,
        "gan_alone": _medians(results["cases"], alone),
      }
    )
  return found


def table(pts: list[dict]) -> str:
  """Markdown: one row per point, by schedule then iterations."""
  head = "| schedule | iterations | training s per case: median | warm | " + " | ".join(SCORES)
  head += " | GAN alone: " + " | ".join(SCORES) + " |"
  lines = [head, "|" + "---|" * (4 + 2 * len(SCORES))]
  for p in sorted(pts, key=lambda p: (p["schedule"], p["niter"])):
    alone = p["gan_alone"] or {}
    cells = [p["schedule"], str(p["niter"]), f"{p['seconds']:.0f}", f"{p['warm_seconds']:.0f}"]
    cells += [f"{p['ours'][s]:.3f}" for s in SCORES] + [
      f"{alone.get(s, np.nan):.3f}" for s in SCORES
    ]
    lines.append("| " + " | ".join(cells) + " |")
  return "\n".join(lines)


def plot(pts: list[dict], path: str) -> None:
  """PSNR and patch SWD against the warm training minutes (the fastest case: its programs from
  the compilation cache), a line per schedule (dashed: GAN alone)."""
  from matplotlib.backends.backend_agg import FigureCanvasAgg  # pylint: disable=g-import-not-at-top
  from matplotlib.figure import Figure  # pylint: disable=g-import-not-at-top

  fig = Figure(figsize=(9, 3.6))
  for ax, score in zip(fig.subplots(1, 2), ("psnr", "patch_swd")):
    for schedule in sorted({p["schedule"] for p in pts}):
      run = sorted((p for p in pts if p["schedule"] == schedule), key=lambda p: p["niter"])
      minutes = [p["warm_seconds"] / 60 for p in run]
      line = ax.plot(minutes, [p["ours"][score] for p in run], "o-", label=schedule)[0]
      for p, m in zip(run, minutes):
        ax.annotate(str(p["niter"]), (m, p["ours"][score]), fontsize=7)
      alone = [(m, p["gan_alone"][score]) for p, m in zip(run, minutes) if p["gan_alone"]]
      if alone:
        ax.plot(*zip(*alone), "x--", color=line.get_color(), label=f"{schedule}, GAN alone")
    ax.set_xlabel("warm training minutes per case")
    ax.set_ylabel(
      {"psnr": "hole PSNR dB (higher is better)", "patch_swd": "patch SWD (lower)"}[score]
    )
    ax.grid(alpha=0.3)
  fig.axes[0].legend(fontsize=7)
  fig.tight_layout()
  FigureCanvasAgg(fig).print_png(path)


_RUNS = flags.DEFINE_list("runs", [], "evaluate output directories (OUT of each run).")
_PLOT = flags.DEFINE_string("plot", "", "Where to write the plot (PNG); empty: no plot.")


def main(argv):
  del argv
  if not _RUNS.value:
    raise app.UsageError("--runs is required: the OUT directories of evaluate runs")
  pts = [p for out in _RUNS.value for p in points(out)]
  print(table(pts))
  if _PLOT.value:
    plot(pts, _PLOT.value)


if __name__ == "__main__":
  cli.run(main)
