"""Parity of the application modes' sampling paths against the PyTorch port (same weights and
noise): harmonisation (injection + the 2019 dilate/blur blend) and animation (every frame a
chain of the port's frozen generators on the walk's noise)."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402

from singan_jax import convert as torch_convert  # noqa: E402
from singan_jax import reference as ref  # noqa: E402
from singan_jax.core import pyramid  # noqa: E402
from singan_jax.core import sampling  # noqa: E402
from singan_jax.io import images as image_io  # noqa: E402
from singan_jax.modes import animate  # noqa: E402
from singan_jax.modes import harmonize  # noqa: E402
from singan_jax.reference import parity  # noqa: E402
from singan_jax.training import loop as trainer  # noqa: E402

pytestmark = pytest.mark.parity
NFC = 8
CASES = [("float32", True, "ratio"), ("float64", True, "ratio"), ("float64", False, "sum")]


def _pyramids(seed, dtype, partial, normalization):
  """The port's eval-mode generators and noise amplitudes, and the same as a TrainedPyramid
  (a batch of one) with z_opt: single-channel noise at scale 0, zeros above."""
  plan = pyramid.make_plan(30, 40, max_size=40, min_size=25, nfc=NFC, min_nfc=NFC, nfc_cap=NFC)
  g, td = torch.Generator().manual_seed(seed), parity.TORCH_DTYPES[dtype]
  Gs, amps, frozen = [], [], []
  for k, (h, w) in enumerate(plan.shapes):
    G = ref.Generator(NFC, NFC, partial=partial, normalization=normalization, generator=g)
    G = parity.perturb(G, g).to(td).eval()
    z = torch.randn(1, 1, h, w, generator=g, dtype=td).expand(1, 3, h, w)
    z = z if k == 0 else torch.zeros(1, 3, h, w, dtype=td)
    amp = 1.0 if k == 0 else 0.1 + 0.2 * float(torch.rand((), generator=g))
    Gs.append(G)
    amps.append(amp)
    params = torch_convert.torch_to_flax(G.state_dict(), dtype)
    frozen.append(sampling.FrozenScale(params, parity.nhwc(z), np.asarray(amp, dtype)))
  net = sampling.NetConfig(5, partial, normalization)
  batched = [jax.tree.map(lambda x: np.asarray(x)[None], fs) for fs in frozen]  # numpy: x64 later
  return Gs, amps, trainer.TrainedPyramid(plan, net, batched, [], [])


@pytest.mark.parametrize("dtype,partial,normalization", CASES)
def test_harmonize(dtype, partial, normalization):
  Gs, amps, pyr = _pyramids(0, dtype, partial, normalization)
  plan, td = pyr.plan, parity.TORCH_DTYPES[dtype]
  rng = np.random.default_rng(1)
  ref_pixels = rng.integers(0, 256, (*plan.shapes[-1], 3)).astype(np.uint8)
  region = np.zeros(plan.shapes[-1], bool)
  region[8:18, 12:26] = True
  x = torch.from_numpy(image_io.to_float(ref_pixels).transpose(2, 0, 1)[None]).to(td)
  with parity.precision(dtype):
    for n in range(1, plan.num_scales):
      key = jax.random.PRNGKey(n)
      got = harmonize.harmonize(pyr, ref_pixels, region, n, key, 7.0)
      noises = [
        parity.nchw(sampling.noise(jax.random.fold_in(key, k), 1, *s, k == 0, jnp.dtype(dtype)))
        if k >= n
        else None
        for k, s in enumerate(plan.shapes)
      ]
      want = ref.inject(Gs, amps, plan.shapes, x, n, noises, plan.scale_factor, partial=partial)
      parity.check(f"harmonize n={n}", got.generated[None], parity.nhwc(want), dtype)
      soft = ref.soft_mask(region, 7, 5.0)
      parity.check(f"harmonize soft n={n}", got.soft * ~region, soft * ~region, "float32")
      blended = ref.blend(x[0].numpy(), want[0].numpy(), np.where(region, 1.0, soft))
      want_out = image_io.from_float(blended.transpose(1, 2, 0).astype(np.float32))
      assert np.abs(got.output.astype(int) - want_out.astype(int)).max() <= 1


@pytest.mark.parametrize("dtype,partial,normalization", CASES)
def test_animate(dtype, partial, normalization):
  Gs, amps, pyr = _pyramids(1, dtype, partial, normalization)
  plan, frames, start = pyr.plan, 3, 1
  with parity.precision(dtype):
    key = jax.random.PRNGKey(7)
    got = animate.animate(pyr, key, frames, 0.1, 0.9, start_scale=start)
    zs = []
    for k, fs in enumerate(pyr.frozen):
      z_opt = fs.z_opt[0]
      if k >= start:
        zs.append(animate.walk(jax.random.fold_in(key, k), z_opt, frames, 0.1, 0.9, k == 0))
      else:
        zs.append(jnp.broadcast_to(z_opt, (frames, *z_opt.shape[1:])))
    for t in range(frames):
      noises = [parity.nchw(z[t : t + 1]) for z in zs]
      want = ref.sample(Gs, amps, plan.shapes, noises, sf=plan.scale_factor, partial=partial)
      parity.check(f"animate frame {t}", got[t : t + 1], parity.nhwc(want), dtype)
