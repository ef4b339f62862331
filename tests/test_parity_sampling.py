"""Parity of drawing from a 3-scale pyramid: 'rand' and 'rec' draws with noise_amp, full
samples, and injection at scale n (frozen generators, eval-mode BatchNorm)."""

import functools

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402

from singan_jax.core import pyramid  # noqa: E402
from singan_jax.core import sampling  # noqa: E402
from singan_jax import convert as torch_convert  # noqa: E402

from singan_jax import reference as ref
from singan_jax.reference import parity

pytestmark = pytest.mark.parity
NFC = 8
CASES = [
  ("float32", False, "sum"),
  ("float32", True, "sum"),
  ("float64", False, "sum"),
  ("float64", True, "ratio"),
]


@functools.lru_cache(maxsize=None)
def _plan():
  plan = pyramid.make_plan(30, 40, max_size=40, min_size=25, nfc=NFC, min_nfc=NFC, nfc_cap=NFC)
  assert plan.num_scales == 3
  return plan


def _pyramid(seed, dtype, partial, normalization):
  """Port generators (eval mode), z_opts and noise amplitudes, and our FrozenScales."""
  plan = _plan()
  g = torch.Generator().manual_seed(seed)
  td = parity.TORCH_DTYPES[dtype]
  Gs, z_opts, amps, frozen = [], [], [], []
  for k, (h, w) in enumerate(plan.shapes):
    G = (
      parity.perturb(
        ref.Generator(NFC, NFC, partial=partial, normalization=normalization, generator=g), g
      )
      .to(td)
      .eval()
    )
    z = (
      torch.randn(1, 1, h, w, generator=g, dtype=td).expand(1, 3, h, w)
      if k == 0
      else torch.zeros(1, 3, h, w, dtype=td)
    )
    amp = 1.0 if k == 0 else 0.1 + 0.2 * float(torch.rand((), generator=g))
    Gs.append(G)
    z_opts.append(z)
    amps.append(amp)
    frozen.append(
      sampling.FrozenScale(
        torch_convert.torch_to_flax(G.state_dict(), dtype), parity.nhwc(z), np.asarray(amp, dtype)
      )
    )
  gens = sampling.Generators.of(plan, sampling.NetConfig(5, partial, normalization))
  return Gs, z_opts, amps, frozen, gens


def _jax_noises(key, shapes, first, dtype, batch=1):
  """The noise maps sampling.chain draws from `key` (scale k: fold_in(key, k)), NCHW."""
  return {
    k: parity.nchw(
      sampling.noise(
        jax.random.fold_in(key, k), batch, *shapes[k], single_channel=(k == 0), dtype=dtype
      )
    )
    for k in range(first, len(shapes))
  }


@pytest.mark.parametrize("dtype,partial,normalization", CASES)
def test_draw_rand_and_rec_across_scales(dtype, partial, normalization):
  plan = _plan()
  for seed in (0, 1):
    Gs, z_opts, amps, frozen, gens = _pyramid(seed, dtype, partial, normalization)
    with parity.precision(dtype):
      key = jax.random.PRNGKey(seed)
      noises = _jax_noises(key, plan.shapes, 0, dtype)
      frozen_j = jax.tree.map(jnp.asarray, frozen)
      for n in range(plan.num_scales + 1):  # prev of scales 0..2, then a full sample
        if n < plan.num_scales:
          args = (gens.first(n), frozen_j[:n])
          got_rand = sampling.draw_prev(*args, "rand", key, 1, dtype)
          got_rec = sampling.draw_prev(*args, "rec", None, 1, dtype)
          want_rand = ref.draw(
            Gs[:n],
            z_opts,
            amps,
            plan.shapes,
            "rand",
            [noises[k] for k in range(n)],
            sf=plan.scale_factor,
            partial=partial,
            dtype=parity.TORCH_DTYPES[dtype],
          )
          want_rec = ref.draw(
            Gs[:n],
            z_opts,
            amps,
            plan.shapes,
            "rec",
            sf=plan.scale_factor,
            partial=partial,
            dtype=parity.TORCH_DTYPES[dtype],
          )
        else:
          x0 = jnp.zeros((1, *plan.shapes[0], 3), dtype)
          args = (gens, frozen_j, x0, 0)
          got_rand = sampling.chain(*args, "rand", key)
          got_rec = sampling.chain(*args, "rec")
          want_rand = ref.sample(
            Gs,
            amps,
            plan.shapes,
            [noises[k] for k in range(n)],
            sf=plan.scale_factor,
            partial=partial,
          )
          want_rec = ref.sample(
            Gs, amps, plan.shapes, z_opts, sf=plan.scale_factor, partial=partial
          )
        assert got_rand.dtype == jnp.dtype(dtype)
        parity.check(f"rand n={n} seed {seed}", got_rand, parity.nhwc(want_rand), dtype)
        parity.check(f"rec n={n} seed {seed}", got_rec, parity.nhwc(want_rec), dtype)


@pytest.mark.parametrize("dtype,partial,normalization", CASES)
def test_injection(dtype, partial, normalization):
  plan = _plan()
  for seed in (0, 1):
    Gs, _, amps, frozen, gens = _pyramid(seed, dtype, partial, normalization)
    g = torch.Generator().manual_seed(200 + seed)
    filled = (
      torch.rand(1, 3, *plan.shapes[-1], generator=g, dtype=parity.TORCH_DTYPES[dtype]) * 2 - 1
    )
    with parity.precision(dtype):
      key = jax.random.PRNGKey(10 + seed)
      frozen_j = jax.tree.map(jnp.asarray, frozen)
      for n in range(1, plan.num_scales):
        noises = _jax_noises(key, plan.shapes, n, dtype)
        got = sampling.inject(gens, frozen_j, jnp.asarray(parity.nhwc(filled)), n, key)
        want = ref.inject(
          Gs,
          amps,
          plan.shapes,
          filled,
          n,
          [noises.get(k) for k in range(plan.num_scales)],
          plan.scale_factor,
          partial=partial,
        )
        parity.check(f"inject n={n} seed {seed}", got, parity.nhwc(want), dtype)
        in_s = sampling.injection_input(
          jnp.asarray(parity.nhwc(filled)), plan.shapes, plan.scale_factor, n
        )
        want_in = ref.resize(
          ref.resize(
            filled, plan.scale_factor ** (plan.stop_scale - n + 1), out_hw=plan.shapes[n - 1]
          ),
          1 / plan.scale_factor,
          out_hw=plan.shapes[n],
        )
        parity.check(f"in_s n={n} seed {seed}", in_s, parity.nhwc(want_in), dtype)
