"""Scale plan against hand-computed cases; image and mask pyramids."""

import numpy as np
import pytest

from singan_jax.core import pyramid


def test_plan_of_the_report_example():
  # 590x887 (city1_edit.png), paper defaults. By hand: scale1 = 250/887; finest
  # ceil(590*scale1) x 250 = 167x250; num_scales = ceil(ln(25/590)/ln .75) + 1 = 12;
  # scale2stop = ceil(ln(250/887)/ln .75) = 5; stop_scale 7; sf = (25/167)**(1/7).
  plan = pyramid.make_plan(590, 887)
  assert plan.scale1 == pytest.approx(250 / 887)
  assert plan.stop_scale == 7
  assert plan.scale_factor == pytest.approx((25 / 167) ** (1 / 7))
  assert plan.shapes == (
    (25, 38),
    (33, 50),
    (44, 65),
    (57, 85),
    (75, 111),
    (98, 146),
    (128, 191),
    (167, 250),
  )
  assert plan.nfc == (32, 32, 32, 32, 64, 64, 64, 64)


def test_plan_of_an_image_below_max_size():
  # 166x250 at max_size 250: scale1 = 1, scale2stop = 0, num_scales = ceil(6.58) + 1 = 8,
  # so stop_scale 8 (nine scales) and nfc reaches the 128 cap at scale 8.
  plan = pyramid.make_plan(166, 250)
  assert plan.scale1 == 1.0 and plan.stop_scale == 8
  assert plan.shapes[0] == (25, 38) and plan.shapes[-1] == (166, 250)
  assert plan.nfc[-1] == 128 and plan.nfc[:4] == (32,) * 4


def test_plan_portrait_and_min_size_on_the_shorter_side():
  plan = pyramid.make_plan(300, 200, max_size=120, min_size=20)
  assert plan.shapes[-1] == (120, 80)
  # sf is re-fitted so that the coarsest shorter side is min_size; ceil() of a float product
  # may add one pixel, exactly as in the reference.
  assert min(plan.shapes[0]) in (20, 21)
  hs = [s[0] for s in plan.shapes]
  assert hs == sorted(hs)


@pytest.mark.parametrize(
  "kwargs,message",
  [
    (dict(h=20, w=40), "smaller than min_size"),
    (dict(h=100, w=100, scale_factor=1.0), "scale_factor"),
    (dict(h=100, w=100, min_size=50, max_size=40), "max_size"),
  ],
)
def test_plan_rejects_bad_inputs_with_a_fix(kwargs, message):
  h, w = kwargs.pop("h"), kwargs.pop("w")
  with pytest.raises(ValueError, match=message):
    pyramid.make_plan(h, w, **kwargs)


def test_plan_round_trips_through_a_dict():
  plan = pyramid.make_plan(590, 887)
  assert pyramid.ScalePlan.from_dict(plan.to_dict()) == plan


def test_image_pyramid_shapes_and_constant_image():
  plan = pyramid.make_plan(60, 90, max_size=60, min_size=20)
  x = np.full((60, 90, 3), 0.25, np.float32)
  reals = pyramid.image_pyramid(x, plan)
  assert [r.shape[:2] for r in reals] == list(plan.shapes)
  for r in reals:
    np.testing.assert_allclose(np.asarray(r), 0.25, atol=1e-6)


def _hole(h, w):
  hole = np.zeros((h, w), bool)
  hole[20:31, 40:47] = True  # a rectangle
  hole[50, 10] = True  # and a single pixel
  return hole


@pytest.mark.parametrize("mode", ["threshold", "bbox"])
def test_mask_pyramid_covers_the_hole_at_every_scale(mode):
  """Every scale's pixel that contains a hole pixel's centre is hole."""
  h, w = 64, 96
  hole = _hole(h, w)
  plan = pyramid.make_plan(h, w, max_size=96, min_size=20)
  masks = pyramid.mask_pyramid(hole, plan, 0.01, mode)
  ys, xs = np.nonzero(hole)
  if mode == "bbox":
    ys, xs = np.nonzero(np.ones_like(hole)[20:51, 10:47])
    ys, xs = ys + 20, xs + 10
  for i, (known, (sh, sw)) in enumerate(zip(masks, plan.shapes)):
    assert known.shape == (sh, sw, 1) and set(np.unique(known)) <= {0.0, 1.0}
    scale = plan.scale1 * plan.scale_factor ** (plan.stop_scale - i)  # imresize's factor
    iy = np.minimum(np.floor((ys + 0.5) * scale).astype(int), sh - 1)
    ix = np.minimum(np.floor((xs + 0.5) * scale).astype(int), sw - 1)
    assert not known[iy, ix, 0].any(), f"hole pixel left known at scale {sh}x{sw}"
    assert known.mean() > 0.5  # and the hole does not swallow the image


def test_mask_pyramid_far_pixels_stay_known():
  hole = _hole(64, 96)
  plan = pyramid.make_plan(64, 96, max_size=96, min_size=20)
  finest = pyramid.mask_pyramid(hole, plan)[-1][..., 0]
  dist_ok = np.ones_like(hole)
  dist_ok[14:37, 34:53] = False  # the rectangle grown by 6 px
  dist_ok[44:57, 4:17] = False  # the pixel grown by 6 px
  assert finest[dist_ok].all()


def test_mask_pyramid_without_hole_is_all_known():
  plan = pyramid.make_plan(40, 40, max_size=40, min_size=20)
  for m in pyramid.mask_pyramid(np.zeros((40, 40), bool), plan):
    assert m.all()
