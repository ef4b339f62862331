"""Sanity tests of the PyTorch reference port itself (singan_jax/reference/)."""

import math

import numpy as np
import pytest
import torch

from singan_jax import reference as ref


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
  # tiny tensors: intra-op threads only add contention on a busy CI box
  n = torch.get_num_threads()
  torch.set_num_threads(1)
  yield
  torch.set_num_threads(n)


def _gen(seed=0):
  return torch.Generator().manual_seed(seed)


# ---------------------------------------------------------------- resize
@pytest.mark.parametrize(
  "in_len,scale,out_len",
  [(4, 0.5, 2), (25, 0.75, 19), (167, 0.7624, 128), (33, 1 / 0.7624, 44), (10, 1.0, 10)],
)
def test_resize_matrix_rows_sum_to_one(in_len, scale, out_len):
  m = ref.resize_matrix(in_len, scale, out_len)
  assert m.shape == (out_len, in_len) and m.dtype == np.float64
  np.testing.assert_allclose(m.sum(axis=1), 1.0, atol=1e-12)


def test_resize_identity_at_scale_one():
  np.testing.assert_allclose(ref.resize_matrix(7, 1.0, 7), np.eye(7), atol=1e-15)


def test_resize_hand_computed_downscale():
  # in_len 4, scale 0.5: kernel k(d) = 0.5 * cubic(0.5 d), width 8, 10 taps.
  # Output 1: u = 1.5, left = floor(1.5 - 4) = -3, taps (1-based) -3..6, d = 4.5..-4.5
  # cubic(0.5 d) for |0.5 d| = 2.25, 1.75, 1.25, 0.75, 0.25:
  #   0, -0.0234375, -0.0703125, 0.2265625, 0.8671875 (rows already sum to 2 -> 1 after 0.5).
  w = 0.5 * np.array(
    [
      0,
      -0.0234375,
      -0.0703125,
      0.2265625,
      0.8671875,
      0.8671875,
      0.2265625,
      -0.0703125,
      -0.0234375,
      0,
    ]
  )
  # 0-based taps -4..5 mirror to 3,2,1,0,0,1,2,3,3,2.
  row0 = np.zeros(4)
  np.add.at(row0, [3, 2, 1, 0, 0, 1, 2, 3, 3, 2], w)
  np.testing.assert_allclose(row0, [0.546875, 0.3984375, 0.1015625, -0.046875])
  expected = np.stack([row0, row0[::-1]])  # output 2 is the mirror image
  np.testing.assert_allclose(ref.resize_matrix(4, 0.5, 2), expected, atol=1e-15)
  x = torch.tensor([1.0, 2.0, 4.0, 8.0], dtype=torch.float64).view(1, 1, 1, 4)
  y = ref.resize(x, 0.5, out_hw=(1, 2))[0, 0, 0]
  np.testing.assert_allclose(y.numpy(), expected @ np.array([1.0, 2, 4, 8]), atol=1e-14)


def test_resize_interior_matches_pil():
  # Independent implementation: PIL's float bicubic (a = -0.5, antialiased) uses the same
  # kernel and pixel-centre convention; only the borders differ (PIL truncates the kernel
  # and renormalises, MATLAB mirrors), so compare away from them.
  Image = pytest.importorskip("PIL.Image")
  x = np.random.default_rng(0).random((1, 40)).astype(np.float32)
  for out in (20, 30, 80):
    pil = np.asarray(Image.fromarray(x, mode="F").resize((out, 1), Image.BICUBIC))[0]
    ours = ref.resize_matrix(40, out / 40, out) @ x[0]
    k = math.ceil(4 * max(40 / out, 1))
    np.testing.assert_allclose(ours[k:-k], pil[k:-k], atol=1e-6)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_resize_constant_and_shapes(dtype):
  x = torch.full((2, 3, 25, 38), 0.3, dtype=dtype)
  for scale in (0.75, 1 / 0.75, 0.3):
    y = ref.resize(x, scale)
    assert y.dtype == dtype
    assert y.shape[2:] == (math.ceil(25 * scale), math.ceil(38 * scale))
    torch.testing.assert_close(y, torch.full_like(y, 0.3))
  # out_hw == same scale, more/fewer rows: crop of the default output.
  full = ref.resize(torch.randn(1, 3, 25, 38, dtype=dtype, generator=_gen()), 1 / 0.75)
  part = ref.resize(
    torch.randn(1, 3, 25, 38, dtype=dtype, generator=_gen()), 1 / 0.75, out_hw=(30, 40)
  )
  torch.testing.assert_close(part, full[:, :, :30, :40])


# ---------------------------------------------------------------- scale plan and pyramids
def test_scale_plan_590x887():
  plan = ref.scale_plan(590, 887)
  assert plan["stop_scale"] == 7 and plan["num_scales"] == 12
  assert len(plan["shapes"]) == 8
  assert plan["shapes"][-1] == (167, 250)
  assert min(plan["shapes"][0]) == 25
  assert plan["shapes"][0] == (25, 38)
  assert plan["nfc"] == [32] * 4 + [64] * 4
  assert abs(plan["scale_factor"] - (25 / 167) ** (1 / 7)) < 1e-15


def test_pyramids_shapes_and_masks():
  plan = ref.scale_plan(60, 90, max_size=40, min_size=12)
  x = torch.rand(1, 3, 60, 90, dtype=torch.float64, generator=_gen()) * 2 - 1
  hole = torch.zeros(1, 1, 60, 90, dtype=torch.float64)
  hole[:, :, 20:30, 40:55] = 1
  reals = ref.reals_pyramid(x, plan)
  masks = ref.mask_pyramid(hole, plan)
  boxes = ref.bbox_mask_pyramid(hole, plan)
  for r, m, b, hw in zip(reals, masks, boxes, plan["shapes"]):
    assert r.shape == (1, 3, *hw) and m.shape == b.shape == (1, 1, *hw)
    assert set(m.unique().tolist()) == {0.0, 1.0}
    assert (m <= b).all()  # a rectangle's thresholded mask covers at least its box
    assert 0 < m.sum() < m.numel()


# ---------------------------------------------------------------- partial conv
def _conv_inputs(dtype=torch.float64, cin=4, cout=5):
  g = _gen(1)
  x = torch.randn(2, cin, 9, 11, dtype=dtype, generator=g)
  w = torch.randn(cout, cin, 3, 3, dtype=dtype, generator=g)
  b = torch.randn(cout, dtype=dtype, generator=g)
  return x, w, b


def test_partial_conv_all_known_ratio_is_conv():
  x, w, b = _conv_inputs()
  y, m = ref.partial_conv2d(x, torch.ones_like(x[:, :1]), w, b, "ratio")
  torch.testing.assert_close(y, torch.nn.functional.conv2d(x, w, b))
  assert (m == 1).all()
  y_sum, _ = ref.partial_conv2d(x, torch.ones_like(x[:, :1]), w, b, "sum")
  torch.testing.assert_close(y_sum, torch.nn.functional.conv2d(x, w) / 36 + b.view(1, -1, 1, 1))


@pytest.mark.parametrize("normalization", ["sum", "ratio"])
def test_partial_conv_holes_and_faithful(normalization):
  x, w, b = _conv_inputs()
  mask = torch.ones_like(x[:, :1])
  mask[:, :, 2:7, 3:9] = 0  # 5x6 hole -> 3x4 all-hole windows in the output
  mask[1, :, 0, 0] = 0
  x = x.requires_grad_(True)
  y, m = ref.partial_conv2d(x, mask, w, b, normalization)
  yf, mf = ref.partial_conv2d(x, mask, w, b, normalization, faithful=True)
  torch.testing.assert_close(y, yf)
  torch.testing.assert_close(m, mf)
  assert m.shape == (2, 1, 7, 9)
  assert (m[:, :, 2:5, 3:7] == 0).all() and m.sum() == 2 * (63 - 12)
  assert (y[:, :, 2:5, 3:7] == 0).all()
  # values at holes of x never matter
  y2, _ = ref.partial_conv2d(x + 100 * (1 - mask), mask, w, b, normalization)
  torch.testing.assert_close(y2, y)
  (g,) = torch.autograd.grad(y.square().sum(), x)
  assert torch.isfinite(g).all() and (g * (1 - mask) == 0).all()


# ---------------------------------------------------------------- models
@pytest.mark.parametrize("partial", [False, True])
def test_model_shapes(partial):
  G = ref.Generator(32, 32, partial=partial)
  D = ref.Discriminator(32, 32, partial=partial)
  assert set(G.state_dict()) == set(ref.Generator(32, 32, partial=not partial).state_dict())
  x = torch.randn(1, 3, 35, 48, generator=_gen())
  mask = torch.nn.functional.pad(torch.ones(1, 1, 25, 38), [5] * 4) if partial else None
  y = torch.randn(1, 3, 35, 48, generator=_gen(2))
  out = G(x, y, mask)
  assert out.shape == (1, 3, 25, 38)
  d = D(x[:, :, 5:-5, 5:-5], None if mask is None else mask[:, :, 5:-5, 5:-5])
  assert d.shape == (1, 1, 15, 28)
  if partial:  # values under the hole never reach the output
    dmask = torch.ones(1, 1, 25, 38)
    dmask[:, :, 5:15, 8:20] = 0
    xr = x[:, :, 5:-5, 5:-5]
    torch.testing.assert_close(D(xr + 50 * (1 - dmask), dmask), D(xr, dmask))
  G64 = ref.Generator(64, 64)
  assert G64.tail.conv.weight.shape == (3, 64, 3, 3)
  assert [blk.conv.weight.shape[:2] for blk in G64.body] == [(64, 64)] * 3


# ---------------------------------------------------------------- training
def _iteration_inputs(dtype, partial, h=16, w=19, dsteps=3):
  g = _gen(3)
  real = torch.rand(1, 3, h, w, dtype=dtype, generator=g) * 2 - 1
  known = torch.ones(1, 1, h, w, dtype=dtype)
  known[:, :, 5:10, 6:12] = 0
  noise = torch.randn(1, 3, h, w, dtype=dtype, generator=g)
  z_opt = torch.randn(1, 3, h, w, dtype=dtype, generator=g)
  z_prev = torch.randn(1, 3, h, w, dtype=dtype, generator=g) * 0.1
  prevs = [torch.randn(1, 3, h, w, dtype=dtype, generator=g) * 0.1 for _ in range(dsteps)]
  alphas = [torch.rand((), dtype=dtype, generator=g) for _ in range(dsteps)]
  return dict(
    real=real,
    known=known if partial else None,
    noise=noise,
    z_opt=z_opt,
    z_prev=z_prev,
    prevs=prevs,
    alphas=alphas,
    partial=partial,
  )


@pytest.mark.parametrize(
  "dtype,partial",
  [(torch.float64, False), (torch.float32, False), (torch.float64, True), (torch.float32, True)],
)
def test_train_iteration_runs_and_updates(dtype, partial):
  G = ref.Generator(16, 16, partial=partial, generator=_gen(4)).to(dtype)
  D = ref.Discriminator(16, 16, partial=partial, generator=_gen(5)).to(dtype)
  optG, optD = ref.make_optimizers(G, D, 5e-4, 5e-4, 0.5)
  before = {
    k: v.clone()
    for k, v in {
      **{"G" + k: v for k, v in G.state_dict().items()},
      **{"D" + k: v for k, v in D.state_dict().items()},
    }.items()
  }
  inputs = _iteration_inputs(dtype, partial)
  amp = ref.compute_noise_amp(inputs["real"], inputs["z_prev"], inputs["known"])
  out = ref.train_iteration(G, D, optG, optD, noise_amp=amp, **inputs)
  assert set(out) >= {"errD", "errG", "rec", "gp"}
  assert all(math.isfinite(v) for v in out.values())
  after = {
    **{"G" + k: v for k, v in G.state_dict().items()},
    **{"D" + k: v for k, v in D.state_dict().items()},
  }
  for k, v in after.items():
    assert v.dtype == before[k].dtype
    # (conv biases: D's tail bias gets exactly zero gradient, the others feed BatchNorm)
    if k.endswith(("weight", "bn.bias", "running_mean", "running_var")):
      assert not torch.equal(v, before[k]), k
  assert int(after["Ghead.bn.num_batches_tracked"]) == 3 + 3 * 2  # 1 per D step, 2 per G step
  assert int(after["Dhead.bn.num_batches_tracked"]) == 3 * 3 + 3  # 3 per D step, 1 per G step


def test_gp_gradients_finite_with_holes():
  D = ref.Discriminator(16, 16, partial=True, generator=_gen(6)).double()
  inputs = _iteration_inputs(torch.float64, True)
  gp = ref.gradient_penalty(
    D, inputs["real"], inputs["noise"], inputs["alphas"][0], inputs["known"]
  )
  grads = [
    g for g in torch.autograd.grad(gp, list(D.parameters()), allow_unused=True) if g is not None
  ]  # (the tail bias does not reach the GP)
  assert torch.isfinite(gp) and all(torch.isfinite(g).all() for g in grads)
  assert any(g.abs().sum() > 0 for g in grads)


def test_reconstruction_loss_and_lr():
  real = torch.zeros(1, 3, 2, 2, dtype=torch.float64)
  rec = torch.ones_like(real)
  rec[:, :, 0, 0] = 5
  known = torch.tensor([[[[0.0, 1], [1, 1]]]], dtype=torch.float64)
  assert float(ref.reconstruction_loss(rec, real, known)) == 1.0
  assert float(ref.reconstruction_loss(rec, real)) == (25 + 3) / 4
  assert ref.lr_at(5e-4, 1599, 2000) == 5e-4 and ref.lr_at(5e-4, 1600, 2000) == 5e-5


# ---------------------------------------------------------------- sampling
@pytest.mark.parametrize("partial", [False, True])
def test_draw_and_inject_shapes(partial):
  plan = ref.scale_plan(60, 90, max_size=60, min_size=25)
  shapes, sf = plan["shapes"], plan["scale_factor"]
  Gs = [
    ref.Generator(8, 8, partial=partial, generator=_gen(k)).double() for k in range(len(shapes))
  ]
  g = _gen(7)
  noises = [
    torch.randn(1, 1 if k == 0 else 3, *hw, dtype=torch.float64, generator=g)
    for k, hw in enumerate(shapes)
  ]
  z_opts = [noises[0].expand(-1, 3, -1, -1)] + [
    torch.zeros(1, 3, *hw, dtype=torch.float64) for hw in shapes[1:]
  ]
  amps = [1.0] + [0.1] * (len(shapes) - 1)
  assert ref.draw([], z_opts, amps, shapes, "rand", sf=sf).abs().sum() == 0
  for n in range(1, len(shapes)):
    prev = ref.draw(Gs[:n], z_opts, amps, shapes, "rand", noises, sf=sf, partial=partial)
    z_prev = ref.draw(Gs[:n], z_opts, amps, shapes, "rec", sf=sf, partial=partial)
    assert prev.shape == z_prev.shape == (1, 3, *shapes[n])
    if n == 1:  # at k = 0 the 'rand' noise is the z_opt noise here
      torch.testing.assert_close(prev, z_prev)
  filled = torch.rand(1, 3, *shapes[-1], dtype=torch.float64, generator=g)
  out = ref.inject(Gs, amps, shapes, filled, 1, noises, sf, partial=partial)
  assert out.shape == (1, 3, *shapes[-1]) and torch.isfinite(out).all()
  assert ref.sample(Gs, amps, shapes, noises, sf=sf, partial=partial).shape == (1, 3, *shapes[-1])


# ---------------------------------------------------------------- inpainting helpers
def test_local_means_soft_mask_blend():
  x = np.stack([np.tile(np.arange(12.0), (10, 1))] * 3)  # horizontal ramp
  known = np.ones((10, 12), bool)
  known[3:7, 4:8] = False
  filled = ref.local_means(np.where(known, x, -99.0), known, radius=1)
  assert np.isfinite(filled).all() and filled.min() >= 0 and filled.max() <= 11
  np.testing.assert_array_equal(filled[:, known], x[:, known])
  # first ring pixel (3, 4): window rows 2..4, cols 3..5, known: row 2 cols 3..5 and (3,3),(4,3)
  np.testing.assert_allclose(filled[0, 3, 4], np.mean([3, 4, 5, 3, 3]))
  const = ref.local_means(np.where(known, 2.0, 0.0)[None], known, radius=4)
  np.testing.assert_allclose(const, 2.0)
  np.testing.assert_allclose(ref.mean_fill(x, known)[:, ~known], x[:, known].mean())
  hole = ~known
  soft = ref.soft_mask(hole, radius=2, sigma=1.0)
  assert soft.min() == 0 and soft.max() == 1 and soft[5, 6] > soft[0, 0]
  out = ref.blend(np.zeros((3, 10, 12)), np.ones((3, 10, 12)), soft)
  np.testing.assert_allclose(out[0], soft)
