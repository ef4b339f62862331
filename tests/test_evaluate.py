"""The evaluation harness: seeded holes of the stated sizes, and a tiny end-to-end run."""

import json

import imageio.v3 as iio
import numpy as np
import pytest

from singan_jax.evaluate import cases as cases_lib
from singan_jax.evaluate import methods as methods_lib
from singan_jax.evaluate import report as report_lib
from singan_jax.evaluate import run as evaluate


@pytest.mark.parametrize(
  "kind, lo, hi", [("blob", 0.08, 0.15), ("strokes", 0.15, 0.25), ("rect", 0.10, 0.15)]
)
def test_holes_cover_the_stated_share_and_are_seeded(kind, lo, hi):
  for seed in range(6):
    hole = cases_lib.make_hole(kind, 64, seed, 1)
    assert lo - 0.01 <= hole.mean() <= hi + 0.01, (kind, seed, hole.mean())
    np.testing.assert_array_equal(hole, cases_lib.make_hole(kind, 64, seed, 1))
  assert (cases_lib.make_hole(kind, 64, 0, 1) != cases_lib.make_hole(kind, 64, 1, 1)).any()
  with pytest.raises(ValueError, match="hole kind"):
    cases_lib.make_hole("circle", 64, 0, 0)


def test_blob_is_one_piece_away_from_the_border():
  hole = cases_lib.make_hole("blob", 64, 3, 0)
  assert not hole[0].any() and not hole[-1].any() and not hole[:, 0].any()
  ys, xs = np.nonzero(hole)
  assert hole[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1].mean() > 0.5  # compact


def test_pooled_medians_per_method():
  results = [
    {"hole": "rect", "scores": {"a": {"psnr": 10.0}, "b": {"psnr": 20.0}}},
    {"hole": "blob", "scores": {"a": {"psnr": 14.0}, "b": {"psnr": 30.0}}},
  ]
  assert report_lib.pooled(results) == {
    "a": {"psnr": 12.0, "cases": 2},
    "b": {"psnr": 25.0, "cases": 2},
  }
  assert report_lib.pooled(results, "blob")["b"] == {"psnr": 30.0, "cases": 1}
  results.append({"hole": "rect", "scores": {"a": {"psnr": 100.0}}})  # an outlier
  assert report_lib.pooled(results)["a"] == {"psnr": 14.0, "cases": 3}


@pytest.mark.slow
def test_tiny_evaluation_writes_json_table_and_sheet(tmp_path):
  pytest.importorskip("skimage")
  opts = evaluate.Options(
    str(tmp_path),
    images=("chelsea",),
    holes=("rect",),
    size=32,
    min_size=25,
    niter=2,
    nfc=8,
    candidates=2,
    rings=2,
    sweeps=False,
    train_variants=(),
  )
  summary = evaluate.run(opts)
  saved = json.loads((tmp_path / "results.json").read_text())
  assert saved["pooled"] == summary["pooled"]
  methods = set(saved["pooled"])
  assert {
    "mean",
    "local_means",
    "patchmatch",
    "ours",
    "ours+cand",
    "ours+prog",
    "ours+cand+prog",
    "ours:free",
    "ours:sr",
    "ours:soft",
    "report",
    "vanilla",
  } <= methods
  for s in saved["pooled"].values():
    assert all(np.isfinite(v) for v in s.values())
  assert saved["pooled"]["mean"]["psnr"] != saved["pooled"]["ours"]["psnr"]  # really ran
  assert saved["cases"][0]["hole_share"] == pytest.approx(
    cases_lib.make_hole("rect", 32, 0, 0).mean()
  )
  table = (tmp_path / "table.md").read_text()
  assert "| ours |" in table and "| mean |" in table
  sheet = iio.imread(tmp_path / "sheets" / "chelsea_rect.png")
  tiles = 2 + sum(m in methods for m in report_lib.SHEET_METHODS)
  assert sheet.shape == (32, tiles * 32 + (tiles - 1) * 2, 3)


def test_extra_methods_parse_into_typed_config_overrides():
  name, overrides = methods_lib.parse_extra(
    "loc:texture_locality=0.5,inject_scale=3,coherence=false"
  )
  assert name == "loc"
  assert overrides == {"texture_locality": 0.5, "inject_scale": 3, "coherence": False}
  for bad in ("noname", "x:nofield=1", "x:texture_locality", ":texture_locality=1"):
    with pytest.raises(ValueError, match="--extra"):
      methods_lib.parse_extra(bad)
