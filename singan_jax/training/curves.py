"""Training curves of a run: errD, errG, rec and it/s against the run-wide iteration, read from
WORKDIR/metrics.jsonl and drawn to WORKDIR/sheets/curves.png, since a GAN's health is read
off its curves. matplotlib (the `plot` extra) is imported only when drawing; without it a
warning names the fix and nothing is written.

Redraw an existing workdir: python -m singan_jax.training.curves --workdir=DIR
"""

import io
import json
import os
import sys

from absl import logging
import numpy as np

from singan_jax.io import writer

METRICS = "metrics.jsonl"
CURVES = os.path.join("sheets", "curves.png")
# (record key, y label, log y axis when the values are positive and span a decade or more)
PANELS = (
  ("errD", "errD (critic)", False),
  ("errG", "errG (generator)", False),
  ("rec", "rec (reconstruction)", True),
  ("it_per_s", "it/s", False),
)
INSTALL = "pip install 'singan_jax[plot]'"
_warned_missing = False  # the missing-matplotlib warning is given once per process


def parse_line(line: str) -> dict | None:
  """One metrics.jsonl line as a record, or None. A SIGKILLed run can leave a half-written
  last line, which the resumed run's first record is then appended to: the records are flat
  (no nested objects), so the text from the line's last '{' is tried as well."""
  for text in (line, line[line.rfind("{") :] if "{" in line else ""):
    try:
      record = json.loads(text)
    except ValueError:
      continue
    if isinstance(record, dict):
      return record
  return None


def read_records(path: str) -> list:
  """The iteration records of a metrics.jsonl in file order (those with an integer scale and
  iter); lines that do not parse are skipped. A missing file reads as no records."""
  if not os.path.isfile(path):
    return []
  records = []
  with open(path, encoding="utf-8", errors="replace") as f:
    for line in f:
      record = parse_line(line.strip()) if line.strip() else None
      if record is None:
        continue
      if isinstance(record.get("scale"), int) and isinstance(record.get("iter"), int):
        records.append(record)
  return records


def latest_per_iteration(records: list) -> list:
  """The last record of each (scale, iter), sorted by (scale, iter): a resumed run appends
  the iterations it re-runs after the in-scale checkpoint, and only its values are kept (the
  ones the pyramid was trained with), so the curves never double back."""
  latest = {(r["scale"], r["iter"]): r for r in records}
  return [latest[k] for k in sorted(latest)]


def _stats(value):
  """(mean, min, max) over a record's per-image values (a list, or a number); NaN for
  anything else."""
  try:
    v = np.atleast_1d(np.asarray(value, np.float64)).ravel()
  except (TypeError, ValueError):
    v = np.zeros((0,))
  if v.size == 0:
    return np.nan, np.nan, np.nan
  return float(v.mean()), float(v.min()), float(v.max())


def _value(record: dict, key: str):
  """A record's value of key; NaN when absent, and for it/s 0 too: a rate logged on the
  scale's first iteration measures nothing yet."""
  value = record.get(key, np.nan)
  return np.nan if key == "it_per_s" and value == 0 else value


def curve_data(records: list, niter: int | None = None) -> dict:
  """Per-scale arrays to draw from de-duplicated records: {"niter", "images", "scales":
  {n: {"x": run-wide iterations n * niter + iter, key: (mean, min, max) arrays}}}. niter
  defaults to the largest logged iteration (every finished scale logs its last one)."""
  niter = niter or max(r["iter"] for r in records)
  images = max(np.size(r.get("errD", 0)) for r in records)
  scales = {}
  for r in records:
    scales.setdefault(r["scale"], []).append(r)
  out = {}
  for n, rows in scales.items():
    data = {"x": np.array([n * niter + r["iter"] for r in rows], np.float64)}
    for key, _, _ in PANELS:
      stats = [_stats(_value(r, key)) for r in rows]
      data[key] = tuple(np.array(s, np.float64) for s in zip(*stats))
    out[n] = data
  return {"niter": niter, "images": images, "scales": out}


def _matplotlib():
  """(Figure, FigureCanvasAgg), or None (warned once) when matplotlib is not installed. The
  Agg canvas is used directly: no pyplot, so no GUI backend and no global figure state."""
  global _warned_missing
  try:
    from matplotlib.backends.backend_agg import FigureCanvasAgg  # pylint: disable=g-import-not-at-top
    from matplotlib.figure import Figure  # pylint: disable=g-import-not-at-top
  except ImportError:
    if not _warned_missing:
      logging.warning("training curves not drawn: matplotlib is not installed (%s)", INSTALL)
      _warned_missing = True
    return None
  return Figure, FigureCanvasAgg


def _panel(ax, data: dict, key: str, label: str, log: bool) -> None:
  """One metric: per scale a line (the mean over the batch) and, for a batch, its min-max
  band; scales are drawn apart, so a new scale's jump is not drawn as a slope."""
  values = []  # every drawn value (the bands included) decides the axis scale
  for n in sorted(data["scales"]):
    s = data["scales"][n]
    mean, lo, hi = s[key]
    ax.plot(s["x"], mean, ".-" if len(s["x"]) <= 30 else "-", color="C0", lw=1, ms=4)
    if data["images"] > 1:
      ax.fill_between(s["x"], lo, hi, color="C0", alpha=0.25, lw=0)
    values += [lo, hi]
  ax.set_ylabel(label, fontsize=9)
  ax.grid(True, alpha=0.3)
  ax.tick_params(which="both", labelsize=8)
  finite = np.concatenate(values)
  finite = finite[np.isfinite(finite)]
  if log and finite.size and finite.min() > 0 and finite.max() >= 10 * finite.min():
    ax.set_yscale("log")  # only where it helps: values over a decade or more


def _scale_marks(axes, data: dict) -> None:
  """A dashed line where each scale starts (all panels), 'scale n' over it (top panel)."""
  niter = data["niter"]
  for n in sorted(data["scales"]):
    for ax in axes:
      ax.axvline(n * niter, color="0.5", lw=0.8, ls="--")
    axes[0].text(
      (n + 0.5) * niter,
      1.02,
      f"scale {n}",
      transform=axes[0].get_xaxis_transform(),
      ha="center",
      va="bottom",
      fontsize=8,
    )


def draw(data: dict, path: str) -> bool:
  """Draws the four panels of curve_data's output to path (PNG, replaced atomically so an
  interrupted write leaves the previous picture); False when matplotlib is missing."""
  mpl = _matplotlib()
  if mpl is None:
    return False
  figure_cls, canvas_cls = mpl
  fig = figure_cls(figsize=(10, 9), dpi=90, layout="constrained")
  canvas_cls(fig)
  axes = fig.subplots(len(PANELS), 1, sharex=True)
  for ax, (key, label, log) in zip(axes, PANELS):
    _panel(ax, data, key, label, log)
  _scale_marks(axes, data)
  b = data["images"]
  batch = f"{b} images: mean, band min-max" if b > 1 else "1 image"
  axes[-1].set_xlabel(f"run-wide iteration (scale n starts at n x {data['niter']}); {batch}")
  axes[-1].set_xlim(0, (max(data["scales"]) + 1) * data["niter"])
  png = io.BytesIO()
  fig.savefig(png, format="png")
  os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
  writer.write_atomically(path, png.getvalue())
  return True


def write_curves(workdir: str, niter: int | None = None) -> str | None:
  """Draws workdir/sheets/curves.png from workdir/metrics.jsonl; returns its path, or None
  (logged) when there is nothing to draw or matplotlib is missing."""
  records = latest_per_iteration(read_records(os.path.join(workdir, METRICS)))
  if not records:
    logging.warning("training curves not drawn: %s has no iteration records", workdir)
    return None
  path = os.path.join(workdir, CURVES)
  return path if draw(curve_data(records, niter), path) else None


def redraw(workdir: str, niter: int | None = None) -> None:
  """write_curves for the training loop: a failure to draw is a warning, never a failed run."""
  try:
    write_curves(workdir, niter)
  except Exception as e:  # pylint: disable=broad-except  (pictures must not stop training)
    logging.warning("training curves not drawn (%s: %s); training goes on", type(e).__name__, e)


def _fail(message: str):
  """The CLI's one-line error, exit status 2."""
  print(f"singan-jax curves: error: {message}", file=sys.stderr)
  raise SystemExit(2)


def main(argv) -> None:
  """The CLI: redraws curves.png of an existing workdir."""
  from absl import flags  # pylint: disable=g-import-not-at-top

  if len(argv) > 1:
    _fail(f"unexpected arguments: {' '.join(argv[1:])}: give only --workdir=DIR")
  workdir = flags.FLAGS.workdir
  if not workdir:
    _fail("no workdir: give --workdir=DIR (a training run's folder)")
  metrics = os.path.join(workdir, METRICS)
  if not os.path.isfile(metrics):
    _fail(f"{metrics} does not exist: give the --workdir of a training run")
  path = write_curves(workdir)
  if path is None:
    _fail("nothing drawn: the warning above says why")
  print(f"wrote {path}")


if __name__ == "__main__":
  from absl import flags  # pylint: disable=g-import-not-at-top

  from singan_jax import cli  # pylint: disable=g-import-not-at-top

  flags.DEFINE_string("workdir", None, "A training run's folder (holds metrics.jsonl).")
  cli.run(main)
