"""The application modes through the CLI on one tiny trained workdir, their refused inputs
(one line, exit status 2, nothing written), and a batch of two images (--config.images): a
harmonize manifest with a reference per row and a bad row, then animate and super_resolve over
a glob of the same images without masks on the batch's pyramid."""

import concurrent.futures
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from helpers import tiny_flags

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
H, W = 30, 40
TINY = tiny_flags(max_size=40, niter=3, log_every=None, fill=None, inject_scale=None)


def run_cli(args):
  env = dict(os.environ, JAX_PLATFORMS="cpu")
  env["XLA_FLAGS"] = (env.get("XLA_FLAGS", "") + " --xla_backend_optimization_level=0").strip()
  return subprocess.run(
    [sys.executable, "-m", "singan_jax.main", *args],
    cwd=REPO,
    env=env,
    capture_output=True,
    text=True,
    timeout=900,
  )


def _save(path, pixels):
  Image.fromarray(pixels).save(path)
  return str(path)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
  """Paths of the training image (no mask), a composite, its region, a painting."""
  d = tmp_path_factory.mktemp("mode_inputs")
  rng = np.random.default_rng(0)
  yy, xx = np.mgrid[0:H, 0:W]
  img = np.stack([120 + 80 * np.sin(xx / 2), 120 + 80 * np.cos(yy / 3), 4 * xx], -1)
  img = np.clip(img + rng.normal(0, 10, img.shape), 0, 255).astype(np.uint8)
  ref, region = img.copy(), np.zeros((H, W), np.uint8)
  ref[8:18, 20:32], region[8:18, 20:32] = img[2:12, 2:14], 255
  paint = np.zeros((H, W, 3), np.uint8)
  paint[:, : W // 2], paint[:, W // 2 :] = (200, 50, 40), (40, 60, 200)
  return {
    "image": _save(d / "i.png", img),
    "ref": _save(d / "ref.png", ref),
    "region": _save(d / "ref_mask.png", region),
    "paint": _save(d / "paint.png", paint),
    "small": _save(d / "small.png", img[:20, :20]),
    "wide_mask": _save(d / "wide_mask.png", np.zeros((H, W + 2), np.uint8)),
    "black": _save(d / "black.png", np.zeros((H, W), np.uint8)),
    "dir": d,
  }


@pytest.fixture(scope="module")
def trained(tmp_path_factory, files):
  """A workdir holding a trained tiny pyramid of files['image'], trained without a mask by the
  first mode run on it (--mode=train needs a mask: it trains for inpainting)."""
  work = tmp_path_factory.mktemp("mode_work") / "work"
  args = ["--mode=animate", *TINY, f"--config.image={files['image']}", f"--workdir={work}"]
  p = run_cli([*args, "--config.animate_frames=2"])
  assert p.returncode == 0, p.stderr[-3000:]
  return work


MODE_ARGS = {
  "harmonize": lambda f: [f"--config.ref_image={f['ref']}", f"--config.ref_mask={f['region']}"],
  "edit": lambda f: [
    f"--config.ref_image={f['ref']}",
    f"--config.ref_mask={f['region']}",
    "--config.ref_scale=1",
  ],
  "paint2image": lambda f: [f"--config.ref_image={f['paint']}", "--config.quantize=True"],
  "animate": lambda f: ["--config.animate_frames=3"],
  "super_resolve": lambda f: ["--config.sr_factor=2"],
}
SIZES = {  # (width, height) of each output, training image 40x30, finest scale 40x30
  "harmonize": (W, H),
  "edit": (W, H),
  "paint2image": (W, H),
  "animate": (W, H),
  "super_resolve": (2 * W, 2 * H),
}


@pytest.mark.parametrize("mode", sorted(MODE_ARGS))
def test_mode_writes_its_output(mode, trained, files):
  from singan_jax.core import applications

  p = run_cli([f"--mode={mode}", f"--workdir={trained}", *MODE_ARGS[mode](files)])
  assert p.returncode == 0, p.stderr[-3000:]
  out = trained / applications.BY_NAME[mode].output
  with Image.open(out) as img:
    assert img.size == SIZES[mode]
    if mode == "animate":
      assert img.n_frames == 3


def _fresh(f, mode, *extra):
  return [f"--mode={mode}", *TINY, f"--config.image={f['image']}", *extra]


REFUSED = {
  # id: (args(files), fragment of the one error line)
  "harmonize_without_ref": (lambda f: _fresh(f, "harmonize"), "needs --config.ref_image"),
  "harmonize_ref_missing": (
    lambda f: _fresh(f, "harmonize", f"--config.ref_image={f['dir'] / 'nope.png'}"),
    "does not exist",
  ),
  "harmonize_ref_size": (
    lambda f: _fresh(f, "harmonize", f"--config.ref_image={f['small']}"),
    "needs the training image's size 30x40",
  ),
  "harmonize_without_mask": (
    lambda f: _fresh(f, "harmonize", f"--config.ref_image={f['ref']}"),
    "needs --config.ref_mask",
  ),
  "edit_mask_size": (
    lambda f: _fresh(
      f, "edit", f"--config.ref_image={f['ref']}", f"--config.ref_mask={f['wide_mask']}"
    ),
    "give a mask with the image's height and width",
  ),
  "edit_mask_empty": (
    lambda f: _fresh(
      f, "edit", f"--config.ref_image={f['ref']}", f"--config.ref_mask={f['black']}"
    ),
    "marks no region",
  ),
  "harmonize_scale_beyond": (
    lambda f: _fresh(f, "harmonize", *MODE_ARGS["harmonize"](f), "--config.ref_scale=9"),
    "takes 1..",
  ),
  "paint_other_shape": (
    lambda f: _fresh(f, "paint2image", f"--config.ref_image={f['small']}"),
    "another shape than the training image",
  ),
  "animate_start_beyond": (
    lambda f: _fresh(f, "animate", "--config.animate_start_scale=9"),
    "takes 0..",
  ),
  "sr_factor_one": (
    lambda f: _fresh(f, "super_resolve", "--config.sr_factor=1.0"),
    "--config.sr_factor=1.0 must lie in (1, 16]",
  ),
  "batch_common_size": (
    lambda f: [
      "--mode=harmonize",
      *TINY,
      f"--config.images={f['dir'] / '*.png'}",
      "--config.common_size=30x40",
    ],
    "drop --config.common_size",
  ),
}


RUN_LEVEL = {"sr_factor_one", "batch_common_size"}  # refused for the whole run, batch or not


def _as_batch(args, folder):
  """The args with --config.image=X as a one-row manifest (its references stay the config's),
  or None for a case without --config.image."""
  image = [a for a in args if a.startswith("--config.image=")]
  if not image:
    return None
  folder.mkdir()
  (folder / "list.csv").write_text(f"image\n{image[0].split('=', 1)[1]}\n")
  return [f"--config.images={folder / 'list.csv'}" if a == image[0] else a for a in args]


@pytest.fixture(scope="module")
def refused(tmp_path_factory, files):
  """Every REFUSED case on a fresh workdir, alone and as a batch of one, two at a time:
  {(id, batch): (process, workdir)}."""
  runs = {}
  for case, (build, _) in REFUSED.items():
    d = tmp_path_factory.mktemp(case)
    runs[case, False] = (build(files), d / "work")
    batch = _as_batch(build(files), d / "batch")
    if batch is not None:
      runs[case, True] = (batch, d / "batch_work")
  with concurrent.futures.ThreadPoolExecutor(2) as pool:
    futures = {k: pool.submit(run_cli, [*a, f"--workdir={w}"]) for k, (a, w) in runs.items()}
    return {k: (fut.result(), runs[k][1]) for k, fut in futures.items()}


def _error_line(proc):
  """The one `singan-jax: error:` line of a refused run (and no traceback)."""
  assert proc.returncode == 2, (proc.returncode, proc.stderr[-2000:])
  assert "Traceback" not in proc.stderr, proc.stderr[-2000:]
  lines = [ln for ln in proc.stderr.splitlines() if ln.startswith("singan-jax: error:")]
  assert len(lines) == 1, proc.stderr[-2000:]
  return lines[0][len("singan-jax: error: ") :]


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_refused_with_one_line_and_nothing_written(case, refused):
  proc, work = refused[case, False]
  assert REFUSED[case][1] in _error_line(proc)
  assert not os.path.exists(work), os.listdir(work)


@pytest.mark.parametrize("case", sorted(set(REFUSED) - {"batch_common_size"}))
def test_a_batch_of_one_fails_the_image_with_the_same_message(case, refused):
  """As batch inpainting: the image fails alone (its report line, exit status 3), nothing
  trained; a config-level problem is the run's error, as for one image."""
  message = _error_line(refused[case, False][0])
  proc, work = refused[case, True]
  if case in RUN_LEVEL:
    assert _error_line(proc) == message
    assert not os.path.exists(work), os.listdir(work)
    return
  assert proc.returncode == 3, (proc.returncode, proc.stdout[-2000:], proc.stderr[-2000:])
  assert "Traceback" not in proc.stderr, proc.stderr[-2000:]
  failed = [ln for ln in proc.stdout.splitlines() if ln.startswith("failed ")]
  assert len(failed) == 1 and failed[0].endswith(f": {message}"), (failed, message)
  assert proc.stdout.splitlines()[-1] == "0 of 1 image(s) done, 1 failed", proc.stdout
  assert set(os.listdir(work)) <= {".lock", "status.json"}, os.listdir(work)


# -- batches (--config.images) -------------------------------------------------------------


@pytest.fixture(scope="module")
def batch(tmp_path_factory, files, trained):
  """A batch harmonize run of a manifest: row i (files['image'], its composite and region),
  row j (another image, its own composite and region), and a row whose ref_image is missing;
  beside it the single-image harmonize of row i's inputs on `trained` (the same pyramid: image
  id 0, the same keys). Returns {'proc', 'work', 'imgs', 'j_ref', 'single'}."""
  base = tmp_path_factory.mktemp("mode_batch")
  imgs, refs = base / "imgs", base / "refs"
  imgs.mkdir(), refs.mkdir()
  shutil.copy(files["image"], imgs / "i.png")
  j = np.asarray(Image.open(files["image"]))[::-1, ::-1].copy()  # another image, same size
  j_ref, j_region = j.copy(), np.zeros((H, W), np.uint8)
  j_ref[16:26, 4:16], j_region[16:26, 4:16] = j[0:10, 28:40], 255
  _save(imgs / "j.png", j), _save(refs / "j_ref.png", j_ref), _save(refs / "j_mask.png", j_region)
  (imgs / "list.csv").write_text(
    "image,ref_image,ref_mask,output\n"
    f"i.png,{files['ref']},{files['region']},\n"
    "j.png,../refs/j_ref.png,../refs/j_mask.png,\n"
    "i.png,../refs/nope.png,../refs/j_mask.png,bad.png\n"
  )
  work = base / "work"
  args = [*TINY, f"--config.images={imgs / 'list.csv'}", f"--workdir={work}"]
  single = [f"--workdir={trained}", *MODE_ARGS["harmonize"](files)]
  with concurrent.futures.ThreadPoolExecutor(2) as pool:
    proc = pool.submit(run_cli, ["--mode=harmonize", *args])
    one = pool.submit(run_cli, ["--mode=harmonize", *single])
    proc, one = proc.result(), one.result()
  assert one.returncode == 0, one.stderr[-3000:]
  return {"proc": proc, "work": work, "imgs": imgs, "j_ref": j_ref, "single": trained}


def _pixels(path):
  return np.asarray(Image.open(path).convert("RGB")).astype(int)


def test_batch_harmonize_writes_each_row_and_fails_the_bad_one_alone(batch, files):
  proc, work = batch["proc"], batch["work"]
  assert proc.returncode == 3, proc.stderr[-3000:]
  lines = proc.stdout.splitlines()
  assert lines[-1] == "2 of 3 image(s) done, 1 failed", proc.stdout
  assert any(ln.startswith("failed") and "nope.png" in ln for ln in lines), proc.stdout
  assert not os.path.exists(work / "bad.png")
  out_i, out_j = _pixels(work / "i" / "harmonized.png"), _pixels(work / "j" / "harmonized.png")
  assert out_i.shape == out_j.shape == (H, W, 3)
  # Row i is the single-image run of its inputs (same pyramid, keys): float32 drift only.
  single = _pixels(batch["single"] / "harmonized.png")
  assert np.abs(out_i - single).max() <= 2, np.abs(out_i - single).max()
  # Row j blends into its own composite, not row i's.
  j_ref, i_ref = batch["j_ref"].astype(int), _pixels(files["ref"])
  assert np.abs(out_j - j_ref).mean() < 0.5 * np.abs(out_j - i_ref).mean()
  assert np.abs(out_j - j_ref).max() > 0  # its region is regenerated


@pytest.mark.parametrize(
  "mode,extra,name,size",
  [
    ("animate", "--config.animate_frames=2", "animation.gif", (W, H)),
    ("super_resolve", "--config.sr_factor=2", "super_resolved.png", (2 * W, 2 * H)),
  ],
)
def test_batch_glob_without_masks_on_the_batch_pyramid(batch, mode, extra, name, size):
  """The glob's jobs are the manifest's first two (same images, no masks): their bucket's
  pyramid is reused, and each image gets its own output."""
  work = batch["work"]
  glob = f"--config.images={batch['imgs'] / '*.png'}"
  p = run_cli([f"--mode={mode}", *TINY, glob, f"--workdir={work}", extra])
  assert p.returncode == 0, p.stderr[-3000:]
  assert "2 of 2 image(s) done" in p.stdout, p.stdout
  buckets = [d for d in os.listdir(work) if d.startswith("bucket_")]
  assert len(buckets) == 1, buckets  # the manifest's bucket, restored (not a second one)
  frames = []
  for stem in ("i", "j"):
    with Image.open(work / stem / name) as img:
      assert img.size == size
      frames.append(np.asarray(img.convert("RGB")).astype(int))
  assert np.abs(frames[0] - frames[1]).max() > 0


def test_one_image_takes_the_slot_of_every_leaf():
  from singan_jax.modes import common
  from singan_jax.training import loop

  frozen = [{"z": np.arange(6).reshape(3, 2), "g": {"w": np.arange(9).reshape(3, 3)}}]
  reals, knowns = [np.arange(3)[:, None]], [np.arange(3)[:, None] * 10]
  pyr = loop.TrainedPyramid(plan="bucket", net=None, frozen=frozen, reals=reals, knowns=knowns)
  one = common.one_image(pyr, 1, "own")
  assert one.plan == "own" and common.one_image(pyr, 2).plan == "bucket"
  np.testing.assert_array_equal(one.frozen[0]["z"], [[2, 3]])
  np.testing.assert_array_equal(one.frozen[0]["g"]["w"], [[3, 4, 5]])
  assert one.reals[0].tolist() == [[1]] and one.knowns[0].tolist() == [[10]]
