"""compat='2019' pyramids bit for bit: the reals and both mask pyramids our training builds
equal the port's 2019 mode (singan_jax/reference/legacy.py), which follows the 2019 code's
read, uint8 round trips and imresize as shared/REFERENCE.md's last sections describe them."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from singan_jax import config as defaults  # noqa: E402
from singan_jax import inputs  # noqa: E402
from singan_jax import reference as ref  # noqa: E402
from singan_jax.core import compat2019  # noqa: E402
from singan_jax.core import pyramid  # noqa: E402
from singan_jax.io import images as image_io  # noqa: E402
from singan_jax.reference import legacy  # noqa: E402
from singan_jax.training import pyramids  # noqa: E402
from singan_jax.core import schema  # noqa: E402

pytestmark = pytest.mark.parity


def _example():
  return inputs.read_pair(*image_io.example_paths())  # the bundled example, 166 x 250


def _random(h=47, w=61, seed=0):
  rng = np.random.default_rng(seed)
  pixels = rng.integers(0, 256, (h, w, 3)).astype(np.uint8)
  hole = np.zeros((h, w), bool)
  hole[11:29, 17:40] = True
  hole[35, 5:50] = True  # a one-pixel scratch: every touched coarse pixel becomes hole
  return pixels, hole


def _ours(pixels, hole, max_size, mask_mode="threshold"):
  cfg = defaults.get_config()
  cfg.max_size, cfg.min_size, cfg.compat, cfg.mask_mode = max_size, 25, "2019", mask_mode
  cfg = defaults.with_compat_implied(cfg)
  plan = defaults.scale_plan(cfg, *pixels.shape[:2])
  reals, knowns = pyramids.build_pyramids(
    schema.Networks.from_config(cfg), plan, image_io.to_float(pixels)[None], hole[None]
  )
  port_plan = ref.scale_plan(*pixels.shape[:2], max_size=max_size, min_size=25)
  assert [tuple(s) for s in port_plan["shapes"]] == list(plan.shapes)
  return [r[0, 0] for r in reals], [k[0, 0, ..., 0] for k in knowns], port_plan


def _off(ours, theirs) -> list[int]:
  """Values that differ at all, per scale: ours (h, w, 3) or (h, w), theirs (1, C, h, w)."""
  out = []
  for o, t in zip(ours, theirs):
    t = t[0].permute(1, 2, 0).numpy()
    out.append(int((o != (t[..., 0] if o.ndim == 2 else t)).sum()))
  return out


@pytest.mark.parametrize("case", ["example-250", "example-128", "random-odd"])
def test_reals_and_mask_pyramids_equal_the_2019_port_bit_for_bit(case):
  pixels, hole = _random() if case == "random-odd" else _example()
  max_size = {"example-250": 250, "example-128": 128, "random-odd": 61}[case]
  reals, knowns, port_plan = _ours(pixels, hole, max_size)
  assert _off(reals, legacy.reals_pyramid(pixels, port_plan)) == [0] * len(reals)
  assert _off(knowns, legacy.mask_pyramid(hole, port_plan, 0.01)) == [0] * len(knowns)
  assert all(0 < k.mean() < 1 for k in knowns)  # a hole at every scale, known pixels too
  _, boxes, _ = _ours(pixels, hole, max_size, "bbox")
  assert _off(boxes, legacy.bbox_mask_pyramid(hole, port_plan)) == [0] * len(boxes)


def test_our_own_conventions_differ_from_the_2019_reals():
  """Without compat the reals are float resizes (no uint8 levels): the two must not agree,
  or the test above would prove nothing about the 2019 order."""
  pixels, hole = _random()
  cfg = defaults.get_config()
  cfg.max_size, cfg.min_size = 61, 25
  plan = defaults.scale_plan(cfg, *pixels.shape[:2])
  ours = pyramid.image_pyramid(image_io.to_float(pixels), plan)
  port_plan = ref.scale_plan(*pixels.shape[:2], max_size=61, min_size=25)
  off = _off([np.asarray(r) for r in ours], legacy.reals_pyramid(pixels, port_plan))
  assert all(n > 0 for n in off[:-1])


def test_the_port_reads_and_rounds_in_the_2019_float_order():
  """REFERENCE.md: / 255 in float64, float32, then (x - 0.5) * 2; back as 255 * clamp((x + 1)
  / 2) truncated. In that order some exact levels come back one lower, and a different set
  than in the order our own reader uses (float64 throughout, one cast at the end)."""
  levels = np.arange(256, dtype=np.uint8)[None, :, None].repeat(3, axis=2)
  x = legacy.read(levels)
  assert x.dtype == torch.float32
  back = legacy.to_uint8(x)
  by_hand = np.float32(levels / 255)
  np.testing.assert_array_equal(x[0].permute(1, 2, 0).numpy(), np.clip((by_hand - 0.5) * 2, -1, 1))
  dropped = set(np.nonzero(back[0, :, 0] != levels[0, :, 0])[0])
  assert dropped and all(back[0, k, 0] == k - 1 for k in dropped)
  ours = compat2019.to_levels(image_io.to_float(levels))[0, :, 0]
  assert dropped != set(np.nonzero(ours != levels[0, :, 0])[0])
  np.testing.assert_array_equal(compat2019.to_levels(compat2019.read(levels)), back)


def test_the_2019_read_drops_the_levels_reference_md_counts():
  """REFERENCE.md (2026-12-03): on the bundled example the 2019 read -> uint8 drops a level at
  13,281 of 124,500 values, a float path of another order (ours, io.images.to_float) at
  22,979, and the two disagree at 9,698."""
  pixels, _ = _example()
  port = legacy.to_uint8(legacy.read(pixels))
  other = compat2019.to_levels(image_io.to_float(pixels))
  assert pixels.size == 124_500
  assert ((port != pixels).sum(), (other != pixels).sum(), (port != other).sum()) == (
    13_281,
    22_979,
    9_698,
  )
  np.testing.assert_array_equal(compat2019.to_levels(compat2019.read(pixels)), port)


def test_the_2019_bounding_box_keeps_its_corner():
  """REFERENCE.md's structured pyramid on a hand-made case: a 20 x 20 box at (x, y) =
  (40, 60) in a 100 x 100 input. At 50 x 50 its size is int(20 * 0.5) = 10 and its corner
  (40 - 5, 60 - 5) = (35, 55): below the image's last row, so the level has no hole; at
  80 x 80 it is 16 wide at (38, 58), 10 rows below the hole's scaled position (48, 32)."""
  hole = np.zeros((100, 100), bool)
  hole[60:80, 40:60] = True
  plan = {"shapes": [(50, 50), (80, 80), (100, 100)]}
  coarse, middle, finest = legacy.bbox_mask_pyramid(hole, plan)
  assert bool(coarse.all())
  want = torch.ones(1, 1, 80, 80)
  want[..., 58:74, 38:54] = 0
  assert torch.equal(middle, want)
  assert torch.equal(finest[0, 0] == 0, torch.from_numpy(hole))

  class Plan:  # ours reads the plan's shapes only
    shapes = plan["shapes"]

  ours = compat2019.bbox_mask_pyramid(hole, Plan)
  for o, t in zip(ours, (coarse, middle, finest)):
    np.testing.assert_array_equal(o[..., 0], t[0, 0].numpy())


def main():
  """Prints docs/parity_2019.md's pyramid table: per scale, values off from the 2019 port."""
  from singan_jax.core import resize  # pylint: disable=g-import-not-at-top

  pixels, hole = _example()
  print("| pyramid | max_size | values off per scale 0..N (of) | max off (uint8 levels) |")
  print("|---|---|---|---|")
  for max_size in (250, 128):
    reals, knowns, port_plan = _ours(pixels, hole, max_size)
    theirs = legacy.reals_pyramid(pixels, port_plan)
    cfg = defaults.get_config()
    cfg.max_size, cfg.min_size = max_size, 25
    plan = defaults.scale_plan(cfg, *pixels.shape[:2])
    x = image_io.to_float(pixels)
    top = resize.resize(x, plan.scale1, plan.shapes[-1], "2019")  # the float32 matmul path
    floats = [
      resize.resize(top, plan.scale_factor ** (plan.stop_scale - i), s, "2019")
      for i, s in enumerate(plan.shapes[:-1])
    ] + [resize.resize(top, 1.0, None, "2019")]
    rows = {"reals, compat 2019": reals, "reals, the float32 resize (before)": floats}
    for name, ours in rows.items():
      ours = [np.asarray(o) for o in ours]
      worst = max(np.abs(o - t[0].permute(1, 2, 0).numpy()).max() for o, t in zip(ours, theirs))
      off = " / ".join(str(n) for n in _off(ours, theirs))
      print(f"| {name} | {max_size} | {off} ({ours[-1].size} at N) | {worst * 127.5:.2f} |")
    port_masks = legacy.mask_pyramid(hole, port_plan, 0.01)
    for name, masks in {
      "masks, compat 2019": knowns,
      "masks, ours at 0.01": pyramid.mask_pyramid(hole, plan, 0.01),
      "masks, ours at 0.5": pyramid.mask_pyramid(hole, plan, 0.5),
    }.items():
      masks = [np.asarray(m).reshape(m.shape[:2]) for m in masks]
      off = " / ".join(str(n) for n in _off(masks, port_masks))
      print(f"| {name} | {max_size} | {off} | - |")


if __name__ == "__main__":
  main()
