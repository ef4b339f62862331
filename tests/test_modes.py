"""The application modes on a tiny trained pyramid (singan_jax/modes/): shapes, determinism,
and what each keeps of its input."""

import json
import os

import imageio.v3 as iio
import jax
import numpy as np
import pytest

from singan_jax import config as config_lib
from singan_jax import inputs
from singan_jax.modes import animate
from singan_jax.modes import common
from singan_jax.modes import harmonize
from singan_jax.modes import paint
from singan_jax.modes import super_resolve
from singan_jax.io import images as image_io
from singan_jax.training import loop as trainer
from helpers import tiny_config

H, W = 30, 40


def _texture(h=H, w=W, seed=0):
  rng = np.random.default_rng(seed)
  yy, xx = np.mgrid[0:h, 0:w]
  x = np.stack([0.6 * np.sin(xx / 1.5), 0.6 * np.cos(yy / 2.0), xx / w - 0.5], -1)
  return np.clip(x + rng.normal(0, 0.15, x.shape), -1, 1).astype(np.float32)


@pytest.fixture(scope="module")
def tiny_workdir(tmp_path_factory):
  return tmp_path_factory.mktemp("modes")


@pytest.fixture(scope="module")
def tiny(tiny_workdir):
  """(cfg, pyramid): 3 scales, 30x40, trained on the whole image (no hole) for 3 iterations,
  with its sheets and curves (test_training_wrote_the_sheets_and_curves)."""
  cfg = tiny_config(max_size=40, niter=3, log_every=3, sheets=True)
  x = _texture()
  pyr = trainer.train(
    config_lib.settings(cfg), str(tiny_workdir), x[None], np.zeros((1, H, W), bool)
  )
  assert pyr.plan.num_scales == 3
  return cfg, pyr


def _paste():
  """(reference uint8 (H, W, 3), region (H, W) bool): a patch of the texture pasted elsewhere."""
  ref = image_io.from_float(_texture())
  region = np.zeros((H, W), bool)
  region[8:18, 20:32] = True
  ref[region] = image_io.from_float(_texture(seed=5))[2:12, 3:15].reshape(-1, 3)
  return ref, region


@pytest.mark.parametrize("mode", ["harmonize", "edit"])
def test_harmonize_regenerates_the_region_and_keeps_far_pixels(tiny, mode):
  _, pyr = tiny
  ref, region = _paste()
  key = jax.random.PRNGKey(0)
  out = harmonize.harmonize(pyr, ref, region, 1, key, harmonize.BLEND_RADIUS[mode])
  assert out.output.shape == ref.shape and out.output.dtype == ref.dtype
  again = harmonize.harmonize(pyr, ref, region, 1, key, harmonize.BLEND_RADIUS[mode])
  np.testing.assert_array_equal(out.output, again.output)
  other = harmonize.harmonize(pyr, ref, region, 1, jax.random.PRNGKey(1), 7.0)
  assert not np.array_equal(out.generated, other.generated)
  assert (out.soft[region] == 1).all()
  far = out.soft == 0
  assert far.any() and np.array_equal(out.output[far], ref[far])
  assert not np.array_equal(out.output[region], ref[region])


def test_edit_blends_wider_than_harmonize(tiny):
  _, pyr = tiny
  ref, region = _paste()
  key = jax.random.PRNGKey(0)
  soft_h = harmonize.harmonize(pyr, ref, region, 1, key, harmonize.BLEND_RADIUS["harmonize"])
  soft_e = harmonize.harmonize(pyr, ref, region, 1, key, harmonize.BLEND_RADIUS["edit"])
  assert soft_e.soft.sum() > soft_h.soft.sum() + 10


def test_paint2image_shape_determinism_and_palette(tiny):
  _, pyr = tiny
  blocks = np.zeros((H // 2, W // 2, 3), np.uint8)  # half size: resized to the image's
  blocks[:, : W // 4] = (200, 40, 40)
  blocks[:, W // 4 :] = (30, 60, 190)
  key = jax.random.PRNGKey(0)
  out = paint.paint2image(pyr, blocks, 1, key)
  assert out.shape == (H, W, 3) and np.isfinite(out).all()
  np.testing.assert_array_equal(out, paint.paint2image(pyr, blocks, 1, key))
  centres = paint.palette(pyr, 1, 4, seed=0)
  assert centres.shape == (4, 3)
  np.testing.assert_array_equal(centres, paint.palette(pyr, 1, 4, seed=0))
  q = paint.quantize(image_io.to_float(blocks), centres)
  assert {tuple(c) for c in q.reshape(-1, 3)} <= {tuple(c) for c in centres}
  assert not np.array_equal(paint.paint2image(pyr, blocks, 1, key, centres), out)


def test_walk_follows_the_2019_recursion():
  z_opt = jax.random.normal(jax.random.PRNGKey(3), (1, 5, 6, 3))
  key = jax.random.PRNGKey(4)
  got = np.asarray(animate.walk(key, z_opt, 4, 0.1, 0.9))
  fresh = np.asarray(animate.sampling.noise(key, 5, 5, 6, False))
  z = np.asarray(z_opt[0])
  z1, z2 = 0.95 * z + 0.05 * fresh[0], z
  for t in range(4):
    d = 0.9 * (z1 - z2) + 0.1 * fresh[t + 1]
    z1, z2 = 0.1 * z + 0.9 * (z1 + d), z1
    np.testing.assert_allclose(got[t], z1, rtol=1e-5, atol=1e-6)
  grey = jax.numpy.broadcast_to(z_opt[..., :1], z_opt.shape)  # scale 0: one channel, as z_opt
  assert np.asarray(animate.walk(key, grey, 3, 0.1, 0.9, single_channel=True)).std(-1).max() < 1e-6


def test_animate_frames_differ_and_repeat(tiny, tmp_path):
  _, pyr = tiny
  key = jax.random.PRNGKey(0)
  frames = np.asarray(animate.animate(pyr, key, 4))
  assert frames.shape == (4, *pyr.plan.shapes[-1], 3)
  np.testing.assert_array_equal(frames, np.asarray(animate.animate(pyr, key, 4)))
  assert np.abs(frames[0] - frames[1]).max() > 1e-4
  held = np.asarray(animate.animate(pyr, key, 3, start_scale=pyr.plan.stop_scale + 1))
  np.testing.assert_allclose(held[0], held[2], atol=1e-6)  # no walk: the reconstruction
  animate.write(str(tmp_path / "a.gif"), image_io.from_float(frames), fps=5)
  from PIL import Image

  with Image.open(tmp_path / "a.gif") as gif:
    assert gif.n_frames == 4 and gif.size == (pyr.plan.shapes[-1][1], pyr.plan.shapes[-1][0])


def test_super_resolve_size_and_determinism(tiny):
  _, pyr = tiny
  key = jax.random.PRNGKey(0)
  x = super_resolve.super_resolve(pyr, 2.0, key)
  assert x.shape == (2 * H, 2 * W, 3) and np.isfinite(x).all()
  np.testing.assert_array_equal(x, super_resolve.super_resolve(pyr, 2.0, key))
  assert not np.array_equal(x, super_resolve.super_resolve(pyr, 2.0, jax.random.PRNGKey(1)))


def test_training_wrote_the_sheets_and_curves(tiny, tiny_workdir):
  """The training loop's hook: curves.png beside the sheets (singan_jax/training/curves.py)."""
  names = sorted(os.listdir(tiny_workdir / "sheets"))
  assert names == ["curves.png", "scale_0.png", "scale_1.png", "scale_2.png"]
  assert image_io.read_image(str(tiny_workdir / "sheets" / "curves.png")).shape[0] >= 400


def test_training_wrote_tensorboard_events_matching_metrics_jsonl(tiny, tiny_workdir):
  """WORKDIR/tb read back with TensorBoard's own reader: every metrics.jsonl value per scale
  and iteration, and one sheet per scale on the image slider (step = scale)."""
  from tensorboard.backend.event_processing import event_accumulator as ea

  everything = {ea.SCALARS: 0, ea.IMAGES: 0}
  events = ea.EventAccumulator(str(tiny_workdir / "tb"), size_guidance=everything)
  events.Reload()
  with open(tiny_workdir / "metrics.jsonl", encoding="utf-8") as f:
    records = [json.loads(line) for line in f]
  assert len(records) == 3  # one per scale (log_every = niter)
  for r in records:
    for name in ("errD", "errG", "rec", "gp", "it_per_s"):
      (event,) = events.Scalars(f"scale_{r['scale']}/{name}")
      want = r[name] if name == "it_per_s" else r[name][0]  # a batch of one image
      assert event.step == r["iter"] and event.value == pytest.approx(want, rel=1e-6)
  sheets = events.Images("sheet")
  assert [s.step for s in sheets] == [0, 1, 2]
  shown = iio.imread(sheets[-1].encoded_image_string)
  np.testing.assert_array_equal(shown, iio.imread(tiny_workdir / "sheets" / "scale_2.png"))


def test_injection_scale_default_and_range(tiny):
  cfg, pyr = tiny
  cfg = cfg.copy_and_resolve_references()
  stop = pyr.plan.stop_scale
  assert common.injection_scale(cfg, "harmonize", pyr.plan) == max(round(stop / 2), 1)
  assert common.injection_scale(cfg, "paint2image", pyr.plan) == 1
  cfg.ref_scale = stop + 1
  with pytest.raises(inputs.UsageError, match=f"takes 1..{stop}"):
    common.injection_scale(cfg, "edit", pyr.plan)


def test_library_defaults_are_the_config_defaults():
  import inspect

  cfg = config_lib.get_config()

  def defaults(fn):
    return {
      k: p.default for k, p in inspect.signature(fn).parameters.items() if p.default != p.empty
    }

  assert defaults(animate.animate) == {
    "frames": cfg.animate_frames,
    "alpha": cfg.animate_alpha,
    "beta": cfg.animate_beta,
    "start_scale": cfg.animate_start_scale,
  }
  assert defaults(animate.walk)["alpha"] == cfg.animate_alpha
  assert defaults(animate.walk)["beta"] == cfg.animate_beta
  assert defaults(animate.write)["fps"] == cfg.animate_fps
  assert defaults(super_resolve.super_resolve)["factor"] == cfg.sr_factor
  assert defaults(paint.palette) == {"colors": cfg.quantize_colors, "seed": cfg.seed}
