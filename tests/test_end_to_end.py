"""End to end through the real CLI: train a tiny pyramid, inpaint, check the output file."""

import os
import subprocess
import sys

import imageio.v3 as iio
import numpy as np
import pytest

from helpers import tiny_flags

TINY = [
  "--config=configs/demo.py",
  *tiny_flags(
    max_size=32,
    min_size=20,
    log_every=2,
    Dsteps=None,
    Gsteps=None,
    sheets=None,
    fill=None,
    # the blend is in finest-scale pixels; a 32 px finest scale needs a narrow one
    blend_radius=1,
    blend_sigma=0.5,
  ),
]
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _run(args, tmp_path):
  env = dict(os.environ, JAX_PLATFORMS="cpu")
  return subprocess.run(
    [sys.executable, "-m", "singan_jax.main", *TINY, *args],
    cwd=ROOT,
    env=env,
    capture_output=True,
    text=True,
    timeout=900,
  )


@pytest.mark.slow
def test_inpaint_own_image_keeps_size_and_known_pixels(tmp_path):
  rng = np.random.default_rng(0)
  h, w = 45, 61  # odd sizes on purpose: the output must keep them
  yy, xx = np.mgrid[0:h, 0:w]
  img = np.stack(
    [128 + 100 * np.sin(xx / 3.0), 128 + 100 * np.cos(yy / 4.0), np.full((h, w), 90.0)], -1
  )
  img = np.clip(img + rng.normal(0, 5, img.shape), 0, 255).astype(np.uint8)
  hole = np.zeros((h, w), bool)
  hole[15:27, 20:33] = True
  img_path, mask_path = tmp_path / "img.png", tmp_path / "mask.png"
  iio.imwrite(img_path, img)
  iio.imwrite(mask_path, (hole * 255).astype(np.uint8))
  workdir = tmp_path / "run"
  r = _run(
    [
      "--mode=inpaint",
      f"--config.image={img_path}",
      f"--config.mask={mask_path}",
      f"--workdir={workdir}",
    ],
    tmp_path,
  )
  assert r.returncode == 0, r.stderr[-3000:]
  out = iio.imread(workdir / "inpainted.png")
  assert out.shape == img.shape and out.dtype == np.uint8
  soft = iio.imread(workdir / "soft_mask.png")
  outside = soft == 0
  assert outside.mean() > 0.3
  np.testing.assert_array_equal(out[outside], img[outside])  # bit-identical known pixels
  assert (out[hole] != img[hole]).any()  # the hole was regenerated
  for name in (
    "filled.png",
    "generated.png",
    "metrics.jsonl",
    "run.json",
    "sheets/scale_0.png",
    "sheets/scale_1.png",
  ):
    assert (workdir / name).exists(), name
  # A second inpaint reuses the trained pyramid: no training, same output.
  r2 = _run(
    [
      "--mode=inpaint",
      f"--config.image={img_path}",
      f"--config.mask={mask_path}",
      f"--workdir={workdir}",
    ],
    tmp_path,
  )
  assert r2.returncode == 0, r2.stderr[-3000:]
  assert "already trained" in r2.stderr and " it 2/4 " not in r2.stderr
  np.testing.assert_array_equal(iio.imread(workdir / "inpainted.png"), out)


@pytest.mark.slow
def test_bundled_example_and_sample_mode(tmp_path):
  workdir = tmp_path / "example"
  r = _run(["--mode=inpaint", f"--workdir={workdir}"], tmp_path)
  assert r.returncode == 0, r.stderr[-3000:]
  example = iio.imread(os.path.join(ROOT, "singan_jax", "data", "example.png"))
  assert iio.imread(workdir / "inpainted.png").shape == example.shape
  r = _run(
    [
      "--mode=sample",
      "--config.num_samples=2",
      "--config.sample_scale_w=1.5",
      f"--workdir={workdir}",
    ],
    tmp_path,
  )
  assert r.returncode == 0, r.stderr[-3000:]
  samples = sorted(os.listdir(workdir / "samples"))
  assert samples == ["sample_0.png", "sample_1.png"]
  # the finest scale is 22x32; samples may have any size (here 1.5x as wide)
  assert iio.imread(workdir / "samples" / samples[0]).shape == (22, 48, 3)
