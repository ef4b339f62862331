"""Bad input through the real CLI (`python -m singan_jax.main` subprocesses).

Every refused case must exit non-zero with ONE line `singan-jax: error: <problem>: <fix>`, no
traceback, and leave nothing behind (a workdir the run created is gone, a pre-existing one
keeps its contents). Each case also runs as a batch of one (--config.images, a manifest with
that one image writing workdir/inpainted.png) and must give the same message: as the run's
error line (exit status 2) for the config and the workdir, as the image's line of the status
report (exit status 3) for the image, its mask and its output. The refused cases all fail
before training, so they run concurrently in one fixture. Odd but supported formats
(greyscale, RGBA, palette, 16-bit) must give the same result as the RGB file with the same
pixels: they reuse one tiny trained pyramid.
"""

import concurrent.futures
import csv
import os
import shutil

import numpy as np
import pytest
from PIL import Image

from singan_jax.io import images as image_io
from bad_inputs import H, REFUSED, RUN_LEVEL, TINY, W, good_args, grey_pixels, save, save_mask
from helpers import run_cli


def _snapshot(folder):
  return sorted(
    os.path.relpath(os.path.join(root, n), folder)
    for root, dirs, files in os.walk(folder)
    for n in dirs + files
  )


def as_batch(args, d):
  """The same run as a batch of one: --config.image/--config.mask become a manifest row whose
  output is workdir/inpainted.png, the single image's output."""
  value = lambda flag: next((a[len(flag) :] for a in args if a.startswith(flag)), "")
  image, mask = value("--config.image="), value("--config.mask=")
  with open(d / "batch.csv", "w", newline="", encoding="utf-8") as f:
    csv.writer(f).writerows([["image", "mask", "output"], [image, mask, "inpainted.png"]])
  rest = [a for a in args if not a.startswith(("--config.image=", "--config.mask="))]
  return [*rest, f"--config.images={d / 'batch.csv'}"], image


def _prepare(tmp_path_factory, case, batch):
  """(CLI args, workdir, listing of the workdir before the run or None, folder, image)."""
  d = tmp_path_factory.mktemp(f"{case}_batch" if batch else case)
  args = REFUSED[case][0](d)
  if not any(a.startswith("--workdir=") for a in args):
    args.append(f"--workdir={d / 'work'}")
  args, image = as_batch(args, d) if batch else (args, None)
  workdir = next(a for a in args if a.startswith("--workdir="))[len("--workdir=") :]
  before = _snapshot(workdir) if os.path.isdir(workdir) else None
  return ["--mode=inpaint", *TINY, *args], workdir, before, d, image


@pytest.fixture(scope="module")
def refused_runs(tmp_path_factory):
  """Runs every REFUSED case alone and as a batch of one, concurrently: {(id, batch):
  (CompletedProcess, workdir, listing of the workdir before the run or None, folder, image)}."""
  cache = tmp_path_factory.getbasetemp() / "jax_cache"
  jobs = {
    (case, batch): _prepare(tmp_path_factory, case, batch)
    for case in REFUSED
    for batch in (False, True)
  }
  with concurrent.futures.ThreadPoolExecutor(4) as pool:
    futures = {key: pool.submit(run_cli, job[0], cache) for key, job in jobs.items()}
    return {key: (fut.result(), *jobs[key][1:]) for key, fut in futures.items()}


def _error_line(proc):
  """The one `singan-jax: error:` line of a refused run (and no traceback)."""
  assert proc.returncode == 2, (proc.returncode, proc.stderr[-2000:])
  assert "Traceback" not in proc.stderr, proc.stderr[-2000:]
  lines = [ln for ln in proc.stderr.splitlines() if ln.startswith("singan-jax: error:")]
  assert len(lines) == 1, proc.stderr[-2000:]
  return lines[0]


def test_at_least_twenty_refused_cases():
  assert len(REFUSED) >= 20


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_refused_with_one_line_and_nothing_left(case, refused_runs):
  proc, workdir, before, _, _ = refused_runs[case, False]
  after = _snapshot(workdir) if os.path.isdir(workdir) else None
  line = _error_line(proc)
  expected = REFUSED[case][1]
  for fragment in (expected,) if isinstance(expected, str) else expected:
    assert fragment in line, line
  assert ": " in line[len("singan-jax: error: ") :], "the line must name a fix"
  if before is None:
    assert after is None or not os.path.isdir(workdir), f"{workdir} was left: {after}"
  else:  # a workdir that existed keeps what it held (plus the lock file)
    assert set(after) <= set(before) | {".lock"}, (before, after)


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_a_batch_of_one_gets_the_same_message(case, refused_runs):
  single, _, _, d, _ = refused_runs[case, False]
  proc, workdir, before, db, image = refused_runs[case, True]
  message = _error_line(single)[len("singan-jax: error: ") :]
  if case in RUN_LEVEL:
    batch_message = _error_line(proc)[len("singan-jax: error: ") :]
  else:  # the image fails alone: its line of the status report, exit status 3
    assert proc.returncode == 3, (proc.returncode, proc.stdout[-2000:], proc.stderr[-2000:])
    assert "Traceback" not in proc.stderr, proc.stderr[-2000:]
    failed = [ln for ln in proc.stdout.splitlines() if ln.startswith("failed ")]
    assert len(failed) == 1 and failed[0].startswith(f"failed  {image}: "), proc.stdout
    batch_message = failed[0][len(f"failed  {image}: ") :]
    assert proc.stdout.splitlines()[-1] == "0 of 1 image(s) done, 1 failed", proc.stdout
  # The same words, up to the folder each variant's files live in.
  assert batch_message.replace(str(db), "<d>") == message.replace(str(d), "<d>")
  after = _snapshot(workdir) if os.path.isdir(workdir) else None
  report = {"status.json"} if case not in RUN_LEVEL else set()  # nothing trained or written
  if before is None:
    assert after is None or set(after) <= {".lock"} | report, f"{workdir} was left: {after}"
  else:
    assert set(after) <= set(before) | {".lock"} | report, (before, after)


# ----------------------------------------------------------------------------- accepted cases


def test_empty_mask_writes_the_input_unchanged(tmp_path, tmp_path_factory):
  image = save(tmp_path / "i.png", grey_pixels(), "RGBA")
  mask = save(tmp_path / "m.png", np.zeros((H, W), np.uint8))
  work = tmp_path / "work"
  p = run_cli(
    [
      "--mode=inpaint",
      *TINY,
      f"--config.image={image}",
      f"--config.mask={mask}",
      f"--workdir={work}",
    ],
    tmp_path_factory.getbasetemp() / "jax_cache",
  )
  assert p.returncode == 0, p.stderr[-2000:]
  assert "nothing to inpaint" in p.stderr
  out = image_io.read_image(work / "inpainted.png")
  np.testing.assert_array_equal(out, image_io.read_image(image))
  assert not (work / "scales").exists()  # nothing was trained


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
  """One tiny pyramid trained on the RGB file, and its inpainted output."""
  d = tmp_path_factory.mktemp("trained")
  work = d / "work"
  p = run_cli(
    ["--mode=inpaint", *TINY, *good_args(d), f"--workdir={work}"],
    tmp_path_factory.getbasetemp() / "jax_cache",
  )
  assert p.returncode == 0, p.stderr[-3000:]
  return work, image_io.read_image(work / "inpainted.png")


def _palette(path):
  grey = grey_pixels()
  img = Image.fromarray(grey, "L").convert("P")  # palette entry i = (i, i, i): exact
  img.putpalette([v for i in range(256) for v in (i, i, i)])
  img.save(path)
  return str(path)


def _sixteen(path, grey_only):
  wide = grey_pixels().astype(np.uint16) * 257  # same [-1, 1] floats as the 8-bit file
  if grey_only:
    Image.fromarray(wide).save(path)
  else:
    image_io.write_image(path, np.repeat(wide[..., None], 3, axis=2))
  return str(path)


ODD = {
  "greyscale": lambda p: save(p, grey_pixels(), "L"),
  "rgba": lambda p: _rgba(p),
  "palette": _palette,
  "rgb_16bit": lambda p: _sixteen(p, False),
  "grey_16bit": lambda p: _sixteen(p, True),
}


def _rgba(path):
  grey = grey_pixels()
  alpha = np.random.default_rng(2).integers(0, 256, (H, W)).astype(np.uint8)
  Image.fromarray(np.stack([grey, grey, grey, alpha], axis=2), "RGBA").save(path)
  return str(path)


@pytest.mark.slow
@pytest.mark.parametrize("kind", sorted(ODD))
def test_odd_formats_give_the_rgb_result(kind, tmp_path, tmp_path_factory, trained):
  ref_work, ref_out = trained
  work = tmp_path / "work"
  shutil.copytree(ref_work, work)
  for name in ("inpainted.png", "filled.png", "generated.png", "soft_mask.png"):
    (work / name).unlink()
  image = ODD[kind](tmp_path / "odd.png")
  p = run_cli(
    [
      "--mode=inpaint",
      *TINY,
      f"--config.image={image}",
      f"--config.mask={save_mask(tmp_path / 'm.png')}",
      f"--workdir={work}",
    ],
    tmp_path_factory.getbasetemp() / "jax_cache",
  )
  assert p.returncode == 0, p.stderr[-3000:]
  assert "scales 0..1 are finished" in p.stderr  # same pixels: the pyramid is reused
  pixels = image_io.read_image(image)
  out = image_io.read_image(work / "inpainted.png")
  assert out.shape == (H, W, 3) and out.dtype == pixels.dtype
  soft = np.asarray(Image.open(work / "soft_mask.png"))
  outside = soft == 0
  assert outside.any() and (~outside).any()
  np.testing.assert_array_equal(out[outside], pixels[outside])  # known pixels untouched
  if out.dtype == np.uint8:
    np.testing.assert_array_equal(out, ref_out)
  else:
    diff = np.abs(out.astype(np.int64) / 257.0 - ref_out.astype(np.int64))
    assert diff.max() <= 1.0, diff.max()
