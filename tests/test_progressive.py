"""Progressive filling: the ring decomposition, when it applies, and the ring-by-ring result."""

import numpy as np
import pytest

from singan_jax.io import images as image_io
from singan_jax.inpainting import inpaint as inpaint_lib
from singan_jax.evaluate import metrics
from singan_jax.inpainting import progressive
from singan_jax.training import loop as trainer
from singan_jax import config as config_lib
from singan_jax.core import schema
from helpers import NARROW_BLEND, tiny_config


def tiny_inputs():
  """A textured 32x40 uint8 image."""
  rng = np.random.default_rng(0)
  yy, xx = np.mgrid[0:32, 0:40]
  img = np.stack(
    [128 + 90 * np.sin(xx / 2.0), 128 + 90 * np.cos(yy / 3.0), 60 + 3 * xx], -1
  ) + rng.normal(0, 8, (32, 40, 3))
  return np.clip(img, 0, 255).astype(np.uint8)


def _big_hole(h=32, w=40):
  hole = np.zeros((h, w), bool)
  hole[6:26, 8:32] = True  # 37.5% of the image, depth 10
  return hole


def test_depth_counts_steps_from_the_known_region():
  hole = np.zeros((9, 9), bool)
  hole[2:7, 2:7] = True
  d = progressive.depth(hole)
  assert d[~hole].max() == 0
  assert d[2, 2] == 1 and d[3, 3] == 2 and d[4, 4] == 3


def test_rings_partition_the_hole_outermost_first():
  hole = _big_hole()
  parts = progressive.rings(hole, 3)
  assert len(parts) == 3
  assert (np.sum(parts, axis=0) == hole).all()  # disjoint, and their union is the hole
  # ring 0 touches the known region, inner rings only touch the ring outside them
  assert (metrics.dilate(~hole, 1) & parts[0]).any()
  assert not (metrics.dilate(~hole, 1) & parts[1]).any()
  assert (metrics.dilate(parts[0], 1) & parts[1]).any()
  assert progressive.depth(hole)[parts[2]].min() > progressive.depth(hole)[parts[0]].max()


def test_thin_holes_get_fewer_rings():
  hole = np.zeros((20, 20), bool)
  hole[5:15, 9:11] = True  # 2 px wide: depth 1
  assert len(progressive.rings(hole, 4)) == 1
  with pytest.raises(ValueError, match="progressive_rings"):
    progressive.rings(hole, 0)
  with pytest.raises(ValueError, match="whole image"):
    progressive.depth(np.ones((4, 4), bool))


def test_applies_only_above_the_share_and_with_rings():
  cfg = tiny_config(**NARROW_BLEND)
  hole = _big_hole()
  assert not progressive.applies(hole, schema.Inpainting.from_config(cfg))  # default: off
  cfg.progressive_rings = 3
  cfg.progressive_share = 0.5
  assert not progressive.applies(hole, schema.Inpainting.from_config(cfg))  # 37.5% < 50%
  cfg.progressive_share = 0.2
  assert progressive.applies(hole, schema.Inpainting.from_config(cfg))


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
  cfg = tiny_config(**NARROW_BLEND)
  pixels = tiny_inputs()
  hole = _big_hole()
  pyr = trainer.train(
    config_lib.settings(cfg),
    str(tmp_path_factory.mktemp("pyr")),
    image_io.to_float(pixels)[None],
    hole[None],
  )
  return cfg, pyr, pixels, hole


@pytest.mark.slow
def test_progressive_inpaint_fills_ring_by_ring(trained):
  cfg, pyr, pixels, hole = trained
  cfg = cfg.copy_and_resolve_references()
  single = inpaint_lib.inpaint(pyr, pixels, hole, schema.Inpainting.from_config(cfg), seed=cfg.seed)
  cfg.progressive_rings, cfg.progressive_share = 3, 0.2
  calls = []

  def once(*args, **kwargs):
    calls.append(args[2].copy())
    return inpaint_lib.inpaint_once(*args, **kwargs)

  r = progressive.inpaint_rings(
    once, pyr, pixels, hole, schema.Inpainting.from_config(cfg), 0, 0, cfg.seed
  )
  assert r.rings == 3 and len(calls) == 3
  assert (calls[0] == hole).all() and calls[1].sum() < calls[0].sum() and calls[2].sum() > 0
  assert r.output.shape == pixels.shape and r.output.dtype == pixels.dtype
  outside = r.soft == 0
  assert outside.any()
  np.testing.assert_array_equal(r.output[outside], pixels[outside])
  assert (r.output[hole] != single.output[hole]).any()  # the inner rings were redone
  # inpaint() dispatches to the same thing when the hole is above the share.
  np.testing.assert_array_equal(
    inpaint_lib.inpaint(
      pyr, pixels, hole, schema.Inpainting.from_config(cfg), seed=cfg.seed
    ).output,
    r.output,
  )
  cfg.progressive_share = 0.9  # below the share: the single pass, unchanged
  np.testing.assert_array_equal(
    inpaint_lib.inpaint(
      pyr, pixels, hole, schema.Inpainting.from_config(cfg), seed=cfg.seed
    ).output,
    single.output,
  )
