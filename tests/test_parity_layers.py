"""Parity of the layers: resize, partial / vanilla convolution, ConvBlock (train and eval BN)."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402

from singan_jax.core import models  # noqa: E402
from singan_jax.core import partial_conv  # noqa: E402
from singan_jax.core import resize as resize_lib  # noqa: E402

from singan_jax import reference as ref
from singan_jax.reference import parity

pytestmark = pytest.mark.parity
DTYPES = ("float32", "float64")
SEEDS = (0, 1, 2)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(
  "in_hw,scale,out_hw",
  [
    ((25, 30), 0.75, None),  # shrink (antialiased)
    ((19, 23), 1 / 0.75, (25, 30)),  # grow and crop to the next scale's grid
    ((40, 33), 0.3, None),  # strong shrink: wide kernel, mirrored borders
    ((12, 17), 1.0, None),
  ],
)  # identity
def test_resize(dtype, in_hw, scale, out_hw):
  np.testing.assert_allclose(
    resize_lib.resize_matrix(in_hw[0], float(scale), out_hw and out_hw[0]),
    ref.resize_matrix(in_hw[0], scale, out_hw[0] if out_hw else int(np.ceil(in_hw[0] * scale))),
    rtol=0,
    atol=1e-15,
  )
  for seed in SEEDS:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(2, 3, *in_hw, generator=g, dtype=parity.TORCH_DTYPES[dtype])
    want = ref.resize(x, scale, out_hw)
    with parity.precision(dtype):
      got = resize_lib.resize(jnp.asarray(parity.nhwc(x)), scale, out_hw)
      assert got.dtype == jnp.dtype(dtype)
      parity.check(f"resize seed {seed}", got, parity.nhwc(want), dtype)


def _conv_case(seed, dtype, cin=4, cout=5, h=13, w=16):
  g = torch.Generator().manual_seed(seed)
  td = parity.TORCH_DTYPES[dtype]
  x = torch.randn(2, cin, h, w, generator=g, dtype=td)
  known = parity.random_known(h, w, g, batch=2).to(td)
  known[1, :, 4:11, 5:13] = 0  # a hole wider than the window: outputs with sum(M) = 0
  weight = torch.randn(cout, cin, 3, 3, generator=g, dtype=td)
  bias = torch.randn(cout, generator=g, dtype=td)
  return x, known, weight, bias


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("normalization", ["sum", "ratio"])
def test_partial_conv(dtype, normalization):
  for seed in SEEDS:
    x, known, weight, bias = _conv_case(seed, dtype)
    y_ref, m_ref = ref.partial_conv2d(x, known, weight, bias, normalization)
    y_2019, _ = ref.partial_conv2d(x, known, weight, bias, normalization, faithful=True)
    with parity.precision(dtype):
      y, m = partial_conv.partial_conv(
        jnp.asarray(parity.nhwc(x)),
        jnp.asarray(parity.nhwc(known)),
        jnp.asarray(parity.to_np(weight).transpose(2, 3, 1, 0)),
        jnp.asarray(bias.numpy()),
        normalization,
      )
      parity.check(f"partial conv seed {seed}", y, parity.nhwc(y_ref), dtype)
      parity.check(f"partial conv (2019 mask conv) seed {seed}", y, parity.nhwc(y_2019), dtype)
      parity.check_exact(f"new mask seed {seed}", m, parity.nhwc(m_ref))
      assert float(jnp.min(m)) == 0.0  # the case does have empty windows


@pytest.mark.parametrize("dtype", DTYPES)
def test_vanilla_conv(dtype):
  for seed in SEEDS:
    x, _, weight, bias = _conv_case(seed, dtype)
    want = torch.nn.functional.conv2d(x, weight, bias)
    with parity.precision(dtype):
      got = partial_conv.conv(
        jnp.asarray(parity.nhwc(x)),
        jnp.asarray(parity.to_np(weight).transpose(2, 3, 1, 0)),
        jnp.asarray(bias.numpy()),
      )
      parity.check(f"conv seed {seed}", got, parity.nhwc(want), dtype)


def _block_vars(block, dtype):
  """The port's ConvBlock -> our ConvBlock variables."""
  sd = {k: v.detach().numpy().astype(dtype) for k, v in block.state_dict().items()}
  return {
    "params": {
      "conv": {"kernel": sd["conv.weight"].transpose(2, 3, 1, 0), "bias": sd["conv.bias"]},
      "bn": {"scale": sd["bn.weight"], "bias": sd["bn.bias"]},
    },
    "batch_stats": {"bn": {"mean": sd["bn.running_mean"], "var": sd["bn.running_var"]}},
  }


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("partial", [False, True])
@pytest.mark.parametrize("train", [True, False])
def test_conv_block(dtype, partial, train):
  for seed in SEEDS:
    x, known, _, _ = _conv_case(seed, dtype)
    g = torch.Generator().manual_seed(100 + seed)
    block = ref.ConvBlock(4, 6, partial=partial, normalization="sum")
    ref.weights_init(block, g)
    block = parity.perturb(block, g).to(parity.TORCH_DTYPES[dtype])
    variables = _block_vars(block, dtype)
    block.train(train)
    with torch.no_grad():
      y_ref, m_ref = block(x, known if partial else None)
    after = _block_vars(block, dtype)["batch_stats"]
    with parity.precision(dtype):
      ours = models.ConvBlock(6, models.bound_conv(partial, "sum"))
      mask = jnp.asarray(parity.nhwc(known)) if partial else None
      if train:
        (y, m), upd = ours.apply(
          variables, jnp.asarray(parity.nhwc(x)), mask, True, mutable=["batch_stats"]
        )
        for k in ("mean", "var"):
          parity.check(
            f"running {k} seed {seed}", upd["batch_stats"]["bn"][k], after["bn"][k], dtype
          )
      else:
        y, m = ours.apply(variables, jnp.asarray(parity.nhwc(x)), mask, False)
      parity.check(f"block out seed {seed}", y, parity.nhwc(y_ref), dtype)
      if partial:
        parity.check_exact(f"block mask seed {seed}", m, parity.nhwc(m_ref))


def test_float64_is_scoped():
  """precision('float64') must not leak x64 into the other tests."""
  with parity.precision("float64"):
    assert jnp.zeros(1, jnp.float64).dtype == jnp.float64
  assert not jax.config.jax_enable_x64
