"""The inpainting web page (singan_jax/ui/): its worker's pieces, and the page itself driven in
Debian's chromium by playwright (slow): upload, paint a stroke, inpaint, reuse, a refusal."""

import os
import shutil
import socket
import subprocess
import sys
import time

import imageio.v3 as iio
import numpy as np
import pytest

from singan_jax import configs
from singan_jax.ui import jobs

from helpers import REPO

CHROMIUM = "/usr/bin/chromium"
# Chromium as root in a closed network: no sandbox, no background connections (they are refused)
CHROMIUM_ARGS = [
  "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
  "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip
TINY_RUN = [  # every page run: a 2-scale 32 px pyramid of 4 iterations, a narrow feather
  "--config.max_size=32", "--config.min_size=20", "--config.niter=4", "--config.nfc=8",
  "--config.min_nfc=8", "--config.log_every=2", "--config.checkpoint_every=0",
  "--config.blend_radius=1", "--config.blend_sigma=0.5",
]  # fmt: skip


def test_budgets_are_the_shipped_configs_as_flags():
  assert jobs.budget_flags("default") == []
  demo = dict(f.removeprefix("--config.").split("=") for f in jobs.budget_flags("demo"))
  assert demo == {k: str(v) for k, v in configs.demo().items() if v != configs.default()[k]}
  custom = jobs.budget_flags("custom", 7)
  assert "--config.niter=7" in custom and "--config.log_every=7" in custom
  with pytest.raises(ValueError, match="at least 1 iteration"):
    jobs.budget_flags("custom", 0)


def test_painted_layers_make_the_hole():
  layer = np.zeros((4, 5, 4), np.uint8)
  layer[1, 2, 3] = 255
  other = np.zeros((4, 5, 4), np.uint8)
  other[3, 0] = (255, 0, 255, 40)  # a half-transparent stroke still marks the hole
  hole = jobs.hole_of([layer, other], (4, 5, 3))
  assert hole.sum() == 2 and hole[1, 2] and hole[3, 0]
  assert not jobs.hole_of(None, (4, 5, 3)).any()


def test_the_same_inputs_find_the_same_job(tmp_path):
  photo = np.arange(4 * 5 * 3, dtype=np.uint8).reshape(4, 5, 3)
  hole = np.zeros((4, 5), bool)
  hole[1:3, 1:3] = True
  first = jobs.prepare(str(tmp_path), photo, hole, ["--config.niter=3"])
  assert first == jobs.prepare(str(tmp_path), photo, hole, ["--config.niter=3"])
  assert first != jobs.prepare(str(tmp_path), photo, hole, ["--config.niter=4"])
  assert first != jobs.prepare(str(tmp_path), photo, ~hole, ["--config.niter=3"])
  np.testing.assert_array_equal(iio.imread(first.mask), np.where(hole, 255, 0))
  np.testing.assert_array_equal(iio.imread(first.photo), photo)
  assert first.newest_sheet() is None


def test_progress_and_errors_are_read_off_the_command_lines_log():
  assert jobs.progress_of([]) == (0.0, "starting (compiling the first scale)")
  line = "I1206 12:00:00 loop.py:1] scale 1/2 it 2/4  3.1 it/s  ETA 1s  errD 0.1 errG 0.2 rec 0.3"
  fraction, text = jobs.progress_of(["scale plan: 3 scales", line])
  assert (
    fraction == pytest.approx(6 / 12) and text == "scale 1/2: iteration 2/4, this scale's ETA 1s"
  )
  assert jobs.progress_of(["scale 2/2: already trained, restored"])[0] == 1.0
  refusal = "singan-jax: error: mask m.png is 3x4 but image p.png is 5x6: give a mask of its size"
  assert jobs.error_of(["I... starting", refusal, "more"]).startswith("mask m.png is 3x4")
  assert jobs.error_of(["Traceback", "KeyError: x"]) == "the run failed: Traceback | KeyError: x"


def _free_port() -> int:
  with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    return s.getsockname()[1]


@pytest.fixture
def page_server(tmp_path):
  """(url, jobs folder): `python -m singan_jax.ui` serving the tiny runs."""
  if not os.path.exists(CHROMIUM):
    if os.environ.get("CI"):
      pytest.fail(f"{CHROMIUM} is missing: .ci/run installs Debian's chromium")
    pytest.skip(f"needs Debian's chromium at {CHROMIUM} (apt-get install chromium)")
  port, jobs_dir = _free_port(), tmp_path / "jobs"
  overrides = [f"--override={f}" for f in TINY_RUN]
  command = [sys.executable, "-m", "singan_jax.ui", f"--port={port}", f"--jobs_dir={jobs_dir}"]
  env = dict(os.environ, JAX_PLATFORMS="cpu", GRADIO_ANALYTICS_ENABLED="False")
  log = open(tmp_path / "ui.log", "w", encoding="utf-8")  # pylint: disable=consider-using-with
  server = subprocess.Popen([*command, *overrides], cwd=REPO, env=env, stdout=log, stderr=log)
  url = f"http://127.0.0.1:{port}"
  for _ in range(240):
    with socket.socket() as s:
      if s.connect_ex(("127.0.0.1", port)) == 0:
        break
    assert server.poll() is None, (tmp_path / "ui.log").read_text()
    time.sleep(0.5)
  yield url, jobs_dir
  server.terminate()
  server.wait(timeout=60)
  log.close()


def _photo(path, h=96, w=128):
  rng = np.random.default_rng(0)
  yy, xx = np.mgrid[0:h, 0:w]
  x = np.stack([128 + 90 * np.sin(xx / 2.5), 128 + 90 * np.cos(yy / 3.0), 60 + 2 * xx], -1)
  photo = np.clip(x + rng.normal(0, 8, x.shape), 0, 255).astype(np.uint8)
  iio.imwrite(path, photo)
  return photo


def _paint_stroke(page):
  """A short horizontal drag across the middle of the editor's canvas."""
  box = page.locator("#photo canvas").first.bounding_box()
  x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
  page.mouse.move(x - 40, y)
  page.mouse.down()
  page.mouse.move(x + 40, y, steps=8)
  page.mouse.up()
  page.wait_for_timeout(1000)  # the editor commits the stroke to its value


def _wait_for_status(page, marker: str, timeout_ms=600_000):
  """Waits until the status line contains marker, failing at once with an error toast's text."""
  page.wait_for_function(
    "(m) => document.querySelector('#status').innerText.includes(m)"
    " || document.querySelector('.toast-body') !== null",
    arg=marker,
    timeout=timeout_ms,
  )
  toasts = page.locator(".toast-body")
  assert toasts.count() == 0, toasts.first.inner_text()


def _grown(hole, radius):
  out = hole.copy()
  for dy in range(-radius, radius + 1):
    for dx in range(-radius, radius + 1):
      out |= np.roll(hole, (dy, dx), axis=(0, 1))
  return out


@pytest.mark.slow
def test_the_page_paints_a_hole_and_inpaints_it_in_chromium(page_server, tmp_path):
  sync_api = pytest.importorskip("playwright.sync_api")
  url, jobs_dir = page_server
  photo = _photo(tmp_path / "photo.png")
  iio.imwrite(tmp_path / "small_mask.png", np.zeros((10, 12), np.uint8))
  with sync_api.sync_playwright() as p:
    browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    page = browser.new_page(viewport={"width": 1400, "height": 1100})
    page.goto(url)
    page.wait_for_load_state("networkidle")  # the page's scripts ready to take the upload
    page.wait_for_timeout(1000)
    page.locator("#photo input[type=file]").first.set_input_files(str(tmp_path / "photo.png"))
    page.wait_for_load_state("networkidle")  # the photo uploaded and shown in the editor
    page.wait_for_timeout(1500)
    _paint_stroke(page)
    page.locator("#run").click()
    _wait_for_status(page, "done: ")
    assert page.locator("#status").inner_text().startswith("done: 128x96 px")
    page.wait_for_selector("#result img")
    page.screenshot(path=str(tmp_path / "page.png"), full_page=True)  # docs/ui.png is one
    (job,) = os.listdir(jobs_dir)
    hole = iio.imread(jobs_dir / job / "mask.png") > 0
    assert 0 < hole.mean() < 0.5  # the stroke, not the whole photo
    with page.expect_download() as download:
      page.get_by_text("Download the inpainted PNG").click()
    download.value.save_as(tmp_path / "downloaded.png")
    out = iio.imread(tmp_path / "downloaded.png")
    assert out.shape == photo.shape
    known = ~_grown(hole, 2)  # beyond the 1 px feather
    np.testing.assert_array_equal(out[known], photo[known])
    assert (out[hole] != photo[hole]).any()

    page.locator("#run").click()  # the same photo and hole: the trained pyramid, no training
    _wait_for_status(page, "pyramid reused")
    assert os.listdir(jobs_dir) == [job]
    log = "\n".join(open(jobs_dir / job / "run" / "metrics.jsonl", encoding="utf-8"))
    assert log.count('"scale": 1') == 2  # scale 1 logged at iterations 2 and 4, once

    page.locator("#mask input[type=file]").set_input_files(str(tmp_path / "small_mask.png"))
    page.wait_for_timeout(1000)
    page.locator("#run").click()  # a mask of another size: the command line's refusal
    page.get_by_text("is 10x12 but image").first.wait_for(timeout=300_000)
    browser.close()
  shutil.rmtree(jobs_dir)
