"""Parity of the Generator and Discriminator forwards (train- and eval-mode BatchNorm)."""

import pytest

torch = pytest.importorskip("torch")

import jax.numpy as jnp  # noqa: E402

from singan_jax.core import models  # noqa: E402
from singan_jax import convert as torch_convert  # noqa: E402

from singan_jax import reference as ref
from singan_jax.reference import parity

pytestmark = pytest.mark.parity
DTYPES = ("float32", "float64")
SEEDS = (0, 1, 2)
H, W = 25, 30
# (nfc, min_nfc): equal widths as at the paper's scales, and halving widths floored at min_nfc.
WIDTHS = ((8, 8), (16, 4))


def make_nets(seed, dtype, nfc, min_nfc, partial, normalization="sum"):
  """Port G and D with fresh random weights (and perturbed BN statistics)."""
  g = torch.Generator().manual_seed(seed)
  td = parity.TORCH_DTYPES[dtype]
  G = ref.Generator(nfc, min_nfc, partial=partial, normalization=normalization, generator=g)
  D = ref.Discriminator(nfc, min_nfc, partial=partial, normalization=normalization, generator=g)
  return parity.perturb(G, g).to(td), parity.perturb(D, g).to(td)


def flax_vars(module, dtype):
  return torch_convert.torch_to_flax(module.state_dict(), dtype)


def check_stats(prefix, batch_stats, module, dtype):
  """Our updated BatchNorm running averages against the port module's after its forward."""
  want = flax_vars(module, dtype)["batch_stats"]["net"]
  assert set(batch_stats["net"]) == set(want)
  for layer, bn in want.items():
    for k, v in bn["bn"].items():
      parity.check(f"{prefix} {layer} running {k}", batch_stats["net"][layer]["bn"][k], v, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("partial,normalization", [(False, "sum"), (True, "sum"), (True, "ratio")])
@pytest.mark.parametrize("train", [True, False])
def test_generator(dtype, partial, normalization, train):
  for seed in SEEDS:
    nfc, min_nfc = WIDTHS[seed % 2]
    G, _ = make_nets(seed, dtype, nfc, min_nfc, partial, normalization)
    variables = flax_vars(G, dtype)
    g = torch.Generator().manual_seed(50 + seed)
    td = parity.TORCH_DTYPES[dtype]
    x = torch.randn(1, 3, H + 10, W + 10, generator=g, dtype=td)
    y = torch.randn(1, 3, H + 10, W + 10, generator=g, dtype=td)
    mask = torch.nn.functional.pad(parity.random_known(H, W, g).to(td), [5] * 4)
    G.train(train)
    with torch.no_grad():
      want = G(x, y, mask if partial else None)
    with parity.precision(dtype):
      ours = models.Generator(nfc, min_nfc, 5, partial, normalization)
      args = (
        jnp.asarray(parity.nhwc(x)),
        jnp.asarray(parity.nhwc(y)),
        jnp.asarray(parity.nhwc(mask)) if partial else None,
      )
      if train:
        got, upd = ours.apply(variables, *args, train=True, mutable=["batch_stats"])
        check_stats(f"G seed {seed}", upd["batch_stats"], G, dtype)
      else:
        got = ours.apply(variables, *args, train=False)
      parity.check(f"G seed {seed}", got, parity.nhwc(want), dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("partial,normalization", [(False, "sum"), (True, "sum"), (True, "ratio")])
@pytest.mark.parametrize("train", [True, False])
def test_discriminator(dtype, partial, normalization, train):
  for seed in SEEDS:
    nfc, min_nfc = WIDTHS[seed % 2]
    _, D = make_nets(seed, dtype, nfc, min_nfc, partial, normalization)
    variables = flax_vars(D, dtype)
    g = torch.Generator().manual_seed(70 + seed)
    td = parity.TORCH_DTYPES[dtype]
    x = torch.randn(2, 3, H, W, generator=g, dtype=td)
    known = parity.random_known(H, W, g, batch=2).to(td)
    D.train(train)
    with torch.no_grad():
      want = D(x * known if partial else x, known if partial else None)
    with parity.precision(dtype):
      ours = models.Discriminator(nfc, min_nfc, 5, partial, normalization)
      xj, kj = jnp.asarray(parity.nhwc(x)), jnp.asarray(parity.nhwc(known))
      args = (xj * kj, kj) if partial else (xj, None)
      if train:
        got, upd = ours.apply(variables, *args, train=True, mutable=["batch_stats"])
        check_stats(f"D seed {seed}", upd["batch_stats"], D, dtype)
      else:
        got = ours.apply(variables, *args, train=False)
      parity.check(f"D seed {seed}", got, parity.nhwc(want), dtype)
