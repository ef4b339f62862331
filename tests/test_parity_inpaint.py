"""Parity of the discrete and image-space parts: scale plan, image and mask pyramids (exact),
hole initialisers (mean, local means), soft blending mask and blend."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import jax.numpy as jnp  # noqa: E402

from singan_jax.inpainting import fill  # noqa: E402
from singan_jax.inpainting import blend  # noqa: E402
from singan_jax.core import pyramid  # noqa: E402

from singan_jax import reference as ref
from singan_jax.reference import parity

pytestmark = pytest.mark.parity
# (H, W, max_size, min_size): paper defaults on a 590x887 photo, and tiny test pyramids.
PLANS = [(590, 887, 250, 25), (60, 90, 40, 12), (30, 40, 40, 25), (77, 51, 64, 19)]


@pytest.mark.parametrize("h,w,max_size,min_size", PLANS)
def test_scale_plan(h, w, max_size, min_size):
  ours = pyramid.make_plan(h, w, max_size, min_size, 0.75)
  want = ref.scale_plan(h, w, max_size, min_size, 0.75)
  assert ours.stop_scale == want["stop_scale"]
  assert [tuple(s) for s in ours.shapes] == [tuple(s) for s in want["shapes"]]
  assert ours.scale_factor == want["scale_factor"] and ours.scale1 == want["scale1"]
  assert list(ours.nfc) == want["nfc"]


def _hole(h, w, seed):
  """(H, W) bool hole: a rectangle and a few blobs."""
  rng = np.random.default_rng(seed)
  hole = np.zeros((h, w), bool)
  y, x = rng.integers(0, h // 2), rng.integers(0, w // 2)
  hole[y : y + h // 4 + 1, x : x + w // 3 + 1] = True
  for _ in range(3):
    cy, cx, r = rng.integers(0, h), rng.integers(0, w), rng.integers(1, 4)
    yy, xx = np.mgrid[:h, :w]
    hole |= (yy - cy) ** 2 + (xx - cx) ** 2 <= r * r
  return hole


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("h,w,max_size,min_size", PLANS[1:])
def test_image_and_mask_pyramids(dtype, h, w, max_size, min_size):
  plan = pyramid.make_plan(h, w, max_size, min_size, 0.75)
  rplan = ref.scale_plan(h, w, max_size, min_size, 0.75)
  td = parity.TORCH_DTYPES[dtype]
  for seed in (0, 1, 2):
    x = torch.rand(1, 3, h, w, dtype=td, generator=torch.Generator().manual_seed(seed)) * 2 - 1
    hole = _hole(h, w, seed)
    want_reals = ref.reals_pyramid(x, rplan)
    want_masks = ref.mask_pyramid(torch.from_numpy(hole[None, None].astype(dtype)), rplan)
    with parity.precision(dtype):
      reals = pyramid.image_pyramid(jnp.asarray(parity.nhwc(x)), plan)
      masks = pyramid.mask_pyramid(hole, plan, 0.01)  # the 2019 threshold, as the port
      for i, (r, m) in enumerate(zip(reals, masks)):
        parity.check(f"real {i} seed {seed}", r, parity.nhwc(want_reals[i]), dtype)
        parity.check_exact(f"mask {i} seed {seed}", m, parity.nhwc(want_masks[i])[0])
        assert 0 < m.sum() < m.size


def test_local_means_and_mean_fill():
  # Our initialisers compute in float32 whatever the input: compared at float32 tolerance.
  for seed in (0, 1, 2):
    rng = np.random.default_rng(seed)
    h, w = 25, 30
    x = rng.uniform(-1, 1, (h, w, 3)).astype(np.float32)
    known = ~_hole(h, w, seed)
    for radius in (1, 4):
      got = fill.fill_local_means(jnp.asarray(x), jnp.asarray(known), radius=radius)
      want = ref.local_means(x.transpose(2, 0, 1).astype(np.float64), known, radius)
      parity.check(f"local means r={radius} seed {seed}", got, want.transpose(1, 2, 0), "float32")
      np.testing.assert_array_equal(np.asarray(got)[known], x[known])
    got = fill.fill_mean(jnp.asarray(x), jnp.asarray(known))
    want = ref.mean_fill(x.transpose(2, 0, 1), known)
    parity.check(f"mean fill seed {seed}", got, want.transpose(1, 2, 0), "float32")


@pytest.mark.parametrize("radius,sigma", [(7, 5.0), (2, 1.0)])
def test_soft_mask_and_blend(radius, sigma):
  for seed in (0, 1, 2):
    hole = _hole(40, 50, seed)
    got = blend.soft_mask(hole, radius, sigma)
    want = ref.soft_mask(hole, radius, sigma)
    # Deliberate difference: ours forces the hole itself to 1 (never blends unknown pixels
    # back in) and zeroes values < 1e-7 (exact 0 far from the hole).
    assert (got[hole] == 1).all()
    parity.check(f"soft mask outside the hole seed {seed}", got * ~hole, want * ~hole, "float32")
    rng = np.random.default_rng(seed)
    real, gen = rng.uniform(-1, 1, (2, 3, 40, 50))
    parity.check(
      f"blend seed {seed}",
      (1 - got) * real + got * gen,
      ref.blend(real, gen, np.where(hole, 1.0, want)),
      "float32",
    )
