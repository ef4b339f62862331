"""Training curves (singan_jax/training/curves.py): sheets/curves.png drawn from a resumed,
SIGKILL-truncated metrics.jsonl, nothing (and one warning) without matplotlib, a drawing
failure never fails training. That training draws it beside the sheets is checked on
tests/test_modes.py's trained pyramid (one training for both)."""

import builtins
import importlib.util
import json
import os
import subprocess
import sys

import imageio.v3 as iio
import numpy as np
import pytest

from singan_jax.training import curves
from helpers import REPO

NITER = 6
NO_MATPLOTLIB = "matplotlib is missing: pip install -e '.[test]' installs it"


def _record(n, it, value, b=2):
  """A log_iteration record of scale n, iteration it: per-image values value + image index."""
  per_image = [value + i for i in range(b)]
  return {
    "scale": n,
    "iter": it,
    "it_per_s": 5.0 + n,
    "compile_s": 1.5,
    "errD": [-v for v in per_image],
    "errG": per_image,
    "rec": [0.1 * v for v in per_image],
    "gp": [0.0] * b,
  }


def _lines():
  """3 scales of NITER iterations logged every 2, with the log of a run SIGKILLed inside
  scale 1 (its iteration-6 line cut mid-write), resumed from iteration 2 of scale 1 (the
  in-scale checkpoint): iterations 4 and 6 logged again, the first glued to the cut line,
  with new values (100 + it); then SIGKILLed again while writing scale 2's last line."""
  lines = [json.dumps(_record(0, it, it)) for it in (2, 4, 6)]
  lines += [json.dumps(_record(1, it, it)) for it in (2, 4)]
  resumed = [json.dumps(_record(1, it, 100 + it)) for it in (4, 6)]
  lines.append(json.dumps(_record(1, 6, 6))[:40] + resumed[0])
  lines += resumed[1:] + [json.dumps(_record(2, it, it)) for it in (2, 4)]
  lines.append(json.dumps(_record(2, 6, 6))[:50])  # no newline: the kill cut it
  return "\n".join(lines)


def _workdir(tmp_path, text):
  workdir = tmp_path / "run"
  workdir.mkdir()
  (workdir / curves.METRICS).write_text(text, encoding="utf-8")
  return str(workdir)


def test_records_keep_the_last_value_of_each_iteration_in_order(tmp_path):
  records = curves.read_records(os.path.join(_workdir(tmp_path, _lines()), curves.METRICS))
  # the glued line yields the resumed record; the cut lines are dropped
  keys = [(r["scale"], r["iter"]) for r in records]
  assert keys == [(0, 2), (0, 4), (0, 6), (1, 2), (1, 4), (1, 4), (1, 6), (2, 2), (2, 4)]
  kept = curves.latest_per_iteration(records)
  assert [(r["scale"], r["iter"]) for r in kept] == sorted(set(keys))
  scale1 = [r["errG"][0] for r in kept if r["scale"] == 1]
  assert scale1 == [2, 104, 106]  # the resumed run's values win


def test_curve_data_places_scales_on_the_run_wide_axis():
  records = [_record(n, it, it) for n in (0, 1) for it in (2, 4, 6)] + [_record(2, 2, 2)]
  records[3] = dict(records[3], it_per_s=0.0)  # a rate logged on the first iteration
  data = curves.curve_data(curves.latest_per_iteration(records))
  assert data["niter"] == NITER and data["images"] == 2
  np.testing.assert_array_equal(data["scales"][1]["x"], [8, 10, 12])
  np.testing.assert_array_equal(data["scales"][2]["x"], [14])
  mean, lo, hi = data["scales"][0]["errG"]
  np.testing.assert_allclose(mean, [2.5, 4.5, 6.5])
  np.testing.assert_allclose(lo, [2, 4, 6])
  np.testing.assert_allclose(hi, [3, 5, 7])
  assert np.isnan(data["scales"][1]["it_per_s"][0][0])
  assert data["scales"][1]["it_per_s"][0][1] == 6.0


def test_rec_is_log_scaled_only_where_it_spans_a_decade():
  assert importlib.util.find_spec("matplotlib"), NO_MATPLOTLIB
  figure_cls, _ = curves._matplotlib()
  scales = []
  for spread in (100.0, 2.0):  # rec from 0.1 to 0.1 x spread
    records = [dict(_record(0, it, 1.0), rec=[0.1 * spread ** (it / 6)]) for it in (0, 3, 6)]
    data = curves.curve_data(records)
    ax = figure_cls().subplots()
    curves._panel(ax, data, "rec", "rec", True)
    scales.append(ax.get_yscale())
  assert scales == ["log", "linear"]


def test_curves_png_from_a_resumed_truncated_log(tmp_path):
  assert importlib.util.find_spec("matplotlib"), NO_MATPLOTLIB
  workdir = _workdir(tmp_path, _lines())
  path = curves.write_curves(workdir)
  assert path == os.path.join(workdir, "sheets", "curves.png")
  with open(path, "rb") as f:
    assert f.read(8) == b"\x89PNG\r\n\x1a\n"
  image = iio.imread(path)
  assert image.ndim == 3 and image.shape[0] >= 400 and image.shape[1] >= 600
  assert image[..., :3].std() > 10  # drawn on, not a blank canvas
  assert os.listdir(os.path.dirname(path)) == ["curves.png"]  # no temporary file left


@pytest.mark.parametrize("text", ["", "\n", '{"scale": 0, "it'])
def test_nothing_to_draw_writes_nothing(tmp_path, caplog, text):
  workdir = _workdir(tmp_path, text)
  assert curves.write_curves(workdir) is None
  assert not os.path.exists(os.path.join(workdir, "sheets"))
  assert "no iteration records" in caplog.text


def test_without_matplotlib_one_warning_names_the_extra_and_nothing_is_written(
  tmp_path, monkeypatch, caplog
):
  real_import = builtins.__import__

  def no_matplotlib(name, *args, **kwargs):
    if name.split(".")[0] == "matplotlib":
      raise ImportError(f"No module named {name!r}")
    return real_import(name, *args, **kwargs)

  monkeypatch.setattr(builtins, "__import__", no_matplotlib)
  monkeypatch.setattr(curves, "_warned_missing", False)
  workdir = _workdir(tmp_path, _lines())
  assert curves.write_curves(workdir) is None
  curves.redraw(workdir)  # the training hook: no second warning, no error
  warnings = [r for r in caplog.records if "matplotlib is not installed" in r.getMessage()]
  assert len(warnings) == 1 and warnings[0].levelname == "WARNING"
  assert "pip install 'singan_jax[plot]'" in warnings[0].getMessage()
  assert not os.path.exists(os.path.join(workdir, "sheets"))


def test_a_drawing_failure_is_a_warning(tmp_path, monkeypatch, caplog):
  def broken(workdir, niter=None):
    raise RuntimeError("no space left on device")

  monkeypatch.setattr(curves, "write_curves", broken)
  curves.redraw(str(tmp_path))
  assert "curves not drawn (RuntimeError: no space left on device)" in caplog.text


def test_cli_redraws_an_existing_workdir_and_names_a_missing_one(tmp_path):
  assert importlib.util.find_spec("matplotlib"), NO_MATPLOTLIB
  workdir = _workdir(tmp_path, _lines())
  run = lambda *args: subprocess.run(
    [sys.executable, "-m", "singan_jax.training.curves", *args],
    cwd=REPO,
    capture_output=True,
    text=True,
    timeout=300,
  )
  r = run(f"--workdir={workdir}")
  assert r.returncode == 0, r.stderr[-2000:]
  assert os.path.isfile(os.path.join(workdir, "sheets", "curves.png"))
  r = run(f"--workdir={tmp_path / 'nowhere'}")
  assert r.returncode == 2 and "metrics.jsonl does not exist: give the --workdir" in r.stderr
