"""The evaluation harness: seeded holes of the stated sizes, and a tiny end-to-end run."""

import dataclasses
import json

import imageio.v3 as iio
import numpy as np
import pytest

from singan_jax.evaluate import cases as cases_lib
from singan_jax.evaluate import methods as methods_lib
from singan_jax.evaluate import report as report_lib
from singan_jax.evaluate import run as evaluate


HOLE_SHARES = {
  "blob": (0.08, 0.15),
  "strokes": (0.15, 0.25),
  "rect": (0.10, 0.15),
  "large": (0.25, 0.35),
  "scratches": (0.03, 0.07),
}


@pytest.mark.parametrize("kind", cases_lib.HOLES)
@pytest.mark.parametrize("hw", [(64, 64), (43, 64), (128, 109)])
def test_holes_cover_the_stated_share_and_are_seeded(kind, hw):
  lo, hi = HOLE_SHARES[kind]
  for seed in range(4):
    hole = cases_lib.make_hole(kind, hw, seed, 1)
    assert hole.shape == hw
    assert lo - 0.01 <= hole.mean() <= hi + 0.01, (kind, hw, seed, hole.mean())
    np.testing.assert_array_equal(hole, cases_lib.make_hole(kind, hw, seed, 1))
  assert (cases_lib.make_hole(kind, hw, 0, 1) != cases_lib.make_hole(kind, hw, 1, 1)).any()
  assert (cases_lib.make_hole(kind, hw, 0, 1) != cases_lib.make_hole(kind, hw, 0, 2)).any()


def test_unknown_hole_kind_is_refused():
  with pytest.raises(ValueError, match="hole kind"):
    cases_lib.make_hole("circle", 64, 0, 0)


def test_scratches_are_thin_and_large_holes_one_piece():
  from scipy import ndimage

  scratches = cases_lib.make_hole("scratches", (128, 128), 0, 3)
  # thin: no 5x5 square fits inside a scratch
  assert not ndimage.binary_erosion(scratches, np.ones((5, 5), bool)).any()
  large = cases_lib.make_hole("large", (85, 128), 0, 3)
  assert ndimage.label(large)[1] == 1


def test_a_hole_keeps_its_shape_across_input_sizes():
  small = cases_lib.make_hole("blob", (64, 96), 0, 2)
  big = cases_lib.make_hole("blob", (128, 192), 0, 2)
  down = big.reshape(64, 2, 96, 2).mean(axis=(1, 3)) > 0.5
  assert (down == small).mean() > 0.97


def test_development_set_halves_are_fixed_and_disjoint():
  assert len(cases_lib.DEV_SET) >= 10 and len(set(cases_lib.DEV_SET)) == len(cases_lib.DEV_SET)
  assert not set(cases_lib.TUNE) & set(cases_lib.TEST)
  # every earlier default was chosen on these four: they may only be tune images
  assert {"chelsea", "coffee", "brick", "astronaut"} <= set(cases_lib.TUNE)
  assert cases_lib.SPLITS["all"] == cases_lib.TUNE + cases_lib.TEST


def test_blob_is_one_piece_away_from_the_border():
  hole = cases_lib.make_hole("blob", 64, 3, 0)
  assert not hole[0].any() and not hole[-1].any() and not hole[:, 0].any()
  ys, xs = np.nonzero(hole)
  assert hole[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1].mean() > 0.5  # compact


def test_cases_are_whole_images_read_back_from_files_with_nothing_of_the_hole(tmp_path):
  pytest.importorskip("skimage")
  opts = methods_lib.Options(
    str(tmp_path), images=("chelsea", "grace_hopper"), holes=("rect", "scratches"), size=48
  )
  cases = cases_lib.make_cases(opts)
  assert [(c.name, c.hole_kind) for c in cases] == [
    ("chelsea", "rect"),
    ("chelsea", "scratches"),
    ("grace_hopper", "rect"),
    ("grace_hopper", "scratches"),
  ]
  assert cases[0].truth.shape == (32, 48, 3)  # 300x451, whole, longer side 48
  assert cases[2].truth.shape == (48, 41, 3)  # 600x512
  assert [c.split for c in cases] == ["tune", "tune", "test", "test"]
  assert len({c.case_id for c in cases}) == 4
  for c in cases:
    assert (c.damaged[c.hole] == 255).all()
    np.testing.assert_array_equal(c.damaged[~c.hole], c.truth[~c.hole])
    stem = tmp_path / "inputs" / f"{c.name}_{c.hole_kind}"
    np.testing.assert_array_equal(iio.imread(f"{stem}.png")[..., :3], c.damaged)
    assert (iio.imread(f"{stem}_mask.png") > 127).sum() == c.hole.sum()


def test_a_case_keeps_its_draws_in_any_selection():
  assert cases_lib.case_id("camera", "rect") == cases_lib.case_id("camera", "rect")
  ids = {cases_lib.case_id(n, k) for n in cases_lib.DEV_SET for k in cases_lib.HOLES}
  assert len(ids) == len(cases_lib.DEV_SET) * len(cases_lib.HOLES)


def _scores(psnr, ssim, seam, swd, detail):
  return {"psnr": psnr, "ssim": ssim, "seam": seam, "patch_swd": swd, "detail": detail}


def test_wins_count_cases_that_beat_that_cases_best_baseline():
  results = [
    {  # ours beats both baselines on PSNR and seam; detail nearer the truth's 1.2
      "truth_detail": 1.2,
      "scores": {
        "telea": _scores(20.0, 0.8, 0.3, 0.05, 0.4),
        "biharmonic": _scores(21.0, 0.9, 0.2, 0.06, 0.5),
        "ours": _scores(22.0, 0.85, 0.1, 0.055, 1.0),
      },
    },
    {  # ours beats Telea's PSNR but not biharmonic's; its detail overshoots the most
      "truth_detail": 1.0,
      "scores": {
        "telea": _scores(20.0, 0.8, 0.3, 0.05, 0.9),
        "biharmonic": _scores(23.0, 0.9, 0.2, 0.06, 0.5),
        "ours": _scores(21.0, 0.95, 0.4, 0.04, 1.5),
      },
    },
  ]
  w = report_lib.wins(results)
  assert set(w) == {"ours"}
  assert w["ours"] == {
    "psnr": 1,
    "ssim": 1,
    "seam": 1,
    "patch_swd": 1,
    "detail": 1,
    "psnr_vs_telea": 2,
    "cases": 2,
  }


def test_the_smooth_baselines_and_the_texture_pass_alone_keep_the_known_pixels(tmp_path):
  pytest.importorskip("skimage")
  opts = methods_lib.Options(str(tmp_path), images=("brick",), holes=("blob",), size=48)
  case = cases_lib.make_cases(opts)[0]
  cfg = methods_lib.base_config(opts)
  far = ndimage_far(case.hole, cfg.blend_feather)
  for out in (
    methods_lib.classical("biharmonic", case, 0, case.case_id),
    methods_lib.classical("harmonic", case, 0, case.case_id),
    methods_lib.texture_only(case, cfg, case.case_id),
  ):
    assert out.shape == case.truth.shape and out.dtype == np.uint8
    np.testing.assert_array_equal(out[far], case.truth[far])
    assert np.abs(out[case.hole].astype(int) - 255).mean() > 30  # the white hole was filled


def test_the_shifted_truth_oracle_moves_the_truth_into_the_hole_only(tmp_path):
  opts = methods_lib.Options(str(tmp_path), images=("brick",), holes=("blob",), size=48)
  case = cases_lib.make_cases(opts)[0]
  out = methods_lib.shifted_truth(case, 2)
  np.testing.assert_array_equal(out[~case.hole], case.truth[~case.hole])
  ys, xs = np.nonzero(case.hole)
  np.testing.assert_array_equal(out[ys, xs], case.truth[ys - 2, xs - 2])  # the blob is inland
  assert np.abs(out[case.hole].astype(int) - case.truth[case.hole]).mean() > 1  # not the truth


def ndimage_far(hole, feather):
  from scipy import ndimage

  return ndimage.distance_transform_edt(~hole) > feather


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


def _tiny_evaluation(tmp_path, **fields) -> evaluate.Options:
  """An evaluation of rect holes on 32 px images with 2-iteration, 8-channel pyramids."""
  return evaluate.Options(
    str(tmp_path), holes=("rect",), size=32, min_size=20, niter=2, nfc=8, **fields
  )


@pytest.mark.slow
def test_tiny_evaluation_writes_json_table_and_sheet(tmp_path, monkeypatch):
  """Two images of two sizes (two pyramid buckets), one per half, ours and the baselines:
  results.json, the table, the sheets, and a re-run that scores nothing again."""
  pytest.importorskip("skimage")
  opts = _tiny_evaluation(
    tmp_path, images=("chelsea", "camera"), vanilla=False, methods=("ours:notex",)
  )
  summary = evaluate.run(opts)
  saved = json.loads((tmp_path / "results.json").read_text())
  assert saved["pooled"] == summary["pooled"]
  methods = set(saved["pooled"])
  assert {"mean", "local_means", "patchmatch", "exemplar", "biharmonic", "harmonic"} <= methods
  assert {"ours", "ours:nogan", "ours:notex"} <= methods
  for s in saved["pooled"].values():
    assert all(np.isfinite(v) for v in s.values())
  assert saved["pooled"]["mean"]["psnr"] != saved["pooled"]["ours"]["psnr"]  # really ran
  assert [c["split"] for c in saved["cases"]] == ["tune", "test"]
  assert len(saved["plans"]) == 2  # chelsea (21x32) and camera (32x32): two buckets
  assert saved["cases"][0]["hole_share"] == pytest.approx(
    cases_lib.make_hole("rect", (21, 32), 0, cases_lib.DEV_SET.index("chelsea")).mean()
  )
  assert saved["wins"]["ours"]["cases"] == 2
  table = (tmp_path / "table.md").read_text()
  assert "| ours |" in table and "| mean |" in table
  assert "**tune: per-case wins**" in table and "**test: all holes (1 cases)**" in table
  # one sheet per (half, hole kind): damaged | ours | best baseline | truth, on 32 px squares
  assert iio.imread(tmp_path / "sheets" / "tune_rect.png").shape == (32, 4 * 32 + 3 * 2, 3)
  assert iio.imread(tmp_path / "sheets" / "test_rect.png").shape == (32, 4 * 32 + 3 * 2, 3)
  sheet = iio.imread(tmp_path / "sheets" / "chelsea_rect.png")
  tiles = 2 + sum(m in methods for m in report_lib.SHEET_METHODS)
  assert sheet.shape == (21, tiles * 32 + (tiles - 1) * 2, 3)

  # A re-run with the same options scores nothing again: every case was kept as it finished.
  def must_not_score(*args):
    raise AssertionError("a scored case was scored again")

  monkeypatch.setattr(evaluate, "score_case", must_not_score)
  assert evaluate.run(opts)["pooled"] == summary["pooled"]
  np.testing.assert_array_equal(iio.imread(tmp_path / "sheets" / "chelsea_rect.png"), sheet)


@pytest.mark.slow
def test_tiny_evaluation_scores_every_method_and_pyramid(tmp_path):
  """One case, every SinGAN method (candidates, rings, switches, the report's pipeline) on the
  PC, vanilla and concurrent pyramids, each pyramid's training time recorded."""
  pytest.importorskip("skimage")
  opts = _tiny_evaluation(
    tmp_path,
    images=("chelsea",),
    candidates=2,
    rings=2,
    vanilla=True,
    train_variants=("concurrent_2",),
  )
  saved = evaluate.run(opts)
  methods = set(saved["pooled"])
  assert {
    "ours",
    "ours:nogan",
    "ours+cand",
    "ours+prog",
    "ours+cand+prog",
    "ours:free",
    "ours:sr",
    "ours:soft",
    "report",
    "vanilla",
    "train:concurrent_2",
    "train:concurrent_2:notex",
  } <= methods
  seconds = json.loads((tmp_path / "training_seconds.json").read_text())
  assert set(seconds) == {"pc", "vanilla", "concurrent_2"}
  assert all(len(b) == 1 and min(b.values()) > 0 for b in seconds.values())
  for s in saved["pooled"].values():
    assert all(np.isfinite(v) for v in s.values())


def test_training_variants_name_their_pyramids_settings():
  opts = evaluate.Options("/unused", niter=100, train_variants=("concurrent_3", "concurrent_2_40"))
  variants = methods_lib.training_variants(opts)
  assert variants["concurrent_3"] == {"schedule": "concurrent", "train_depth": 3}
  assert variants["concurrent_2_40"] == {
    "schedule": "concurrent",
    "train_depth": 2,
    "niter": 40,
    "log_every": 20,
  }
  with pytest.raises(ValueError, match="concurrent_<depth>"):
    methods_lib.training_variants(dataclasses.replace(opts, train_variants=("fast",)))


def test_extra_methods_parse_into_typed_config_overrides():
  name, overrides = methods_lib.parse_extra(
    "loc:texture_locality=0.5,inject_scale=3,coherence=false"
  )
  assert name == "loc"
  assert overrides == {"texture_locality": 0.5, "inject_scale": 3, "coherence": False}
  for bad in ("noname", "x:nofield=1", "x:texture_locality", ":texture_locality=1"):
    with pytest.raises(ValueError, match="--extra"):
      methods_lib.parse_extra(bad)


def test_buckets_group_cases_by_pyramid_shape_and_split_them_by_batch(tmp_path):
  pytest.importorskip("skimage")
  opts = methods_lib.Options(
    str(tmp_path),
    images=("chelsea", "coffee", "camera"),
    holes=("rect", "blob"),
    size=32,
    min_size=20,
    batch=0,
  )
  cases = cases_lib.make_cases(opts)
  groups = evaluate.buckets(opts, cases)
  assert sorted(groups.values()) == [[0, 1, 2, 3], [4, 5]]  # chelsea, coffee: 21x32 both
  small = evaluate.buckets(dataclasses.replace(opts, batch=3), cases)
  assert sorted(small.values()) == [[0, 1, 2], [3], [4, 5]]
  assert len(set(small)) == 3
  auto = evaluate.buckets(dataclasses.replace(opts, batch=-1), cases)  # this CPU: one a case
  assert sorted(auto.values()) == [[i] for i in range(6)]


def test_time_to_quality_points_table_and_plot(tmp_path):
  """One point per trained pyramid: its schedule and budget, median seconds per case, and the
  medians of its methods with and without the texture pass."""
  from singan_jax.evaluate import time_to_quality as ttq

  def scores(psnr):
    return {"psnr": psnr, "ssim": 0.5, "patch_swd": 0.05, "detail": 0.8}

  cases = [
    {
      "scores": {
        "ours": scores(15.0),
        "ours:notex": scores(14.0),
        "train:concurrent_3_12": scores(16.0),
      }
    },
    {
      "scores": {
        "ours": scores(17.0),
        "ours:notex": scores(15.0),
        "train:concurrent_3_12": scores(18.0),
      }
    },
  ]
  (tmp_path / "results.json").write_text(json.dumps({"options": {"niter": 100}, "cases": cases}))
  seconds = {"pc": {"a_0": 40.0, "b_1": 60.0}, "concurrent_3_12": {"a_0": 10.0, "b_1": 20.0}}
  (tmp_path / "training_seconds.json").write_text(json.dumps(seconds))
  pts = {(p["schedule"], p["niter"]): p for p in ttq.points(str(tmp_path))}
  assert set(pts) == {("singan", 100), ("concurrent (depth 3)", 12)}
  singan, concurrent = pts[("singan", 100)], pts[("concurrent (depth 3)", 12)]
  assert singan["seconds"] == 50.0 and singan["warm_seconds"] == 40.0
  assert singan["ours"]["psnr"] == 16.0
  assert singan["gan_alone"]["psnr"] == 14.5
  assert concurrent["seconds"] == 15.0 and concurrent["gan_alone"] is None
  table = ttq.table(list(pts.values()))
  assert "| singan | 100 | 50 | 40 | 16.000 |" in table
  assert "| concurrent (depth 3) | 12 | 15 | 10 |" in table
  pytest.importorskip("matplotlib")
  ttq.plot(list(pts.values()), str(tmp_path / "plot.png"))
  assert iio.imread(tmp_path / "plot.png").ndim == 3
