"""Parity of full training iterations: 3 D steps (with GP) + 3 G steps, Adam, the lr drop.

The JAX iteration is train_step.make_iteration_core fed the port's noise map, per-D-step prev
draws and GP scalars; after each of 5 iterations every parameter, BatchNorm statistic and
Adam moment is compared (niter = 5, so the learning-rate drop at int(0.8 * 5) = 4 is hit).
"""

import functools

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402

from singan_jax.core import pyramid  # noqa: E402
from singan_jax.core import sampling  # noqa: E402
from singan_jax import convert as torch_convert  # noqa: E402
from singan_jax.training import step as train_step  # noqa: E402

from singan_jax import reference as ref
from singan_jax.reference import parity

H, W = 25, 30
NFC = 8
ITERS = 5
# float64 only: in float32 Adam's eps turns rounding-level gradient differences of entries
# near 0 into ~lr-sized steps, and after a few iterations torch and JAX (like torch float32
# and torch float64) drift apart chaotically (measured: up to 5e-2 on errD after 4 iterations
# at scale 0), so a float32 bound would measure that chaos, not the implementation.
CASES = [("float64", False, "sum", 1), ("float64", True, "sum", 1), ("float64", True, "ratio", 0)]


@functools.lru_cache(maxsize=None)
def _core(partial, normalization, n):
  plan = pyramid.ScalePlan((H, W), 1.0, 0.75, ((H, W), (H, W)), (NFC, NFC), (NFC, NFC))
  net = sampling.NetConfig(5, partial, normalization)
  tc = train_step.TrainConfig(niter=ITERS)
  return jax.jit(train_step.make_iteration_core(plan, n, net, tc)), tc


def _adam(opt_state):
  """(mu, nu, count) of our Adam state (optax chain: scale_by_adam first)."""
  adam = opt_state[0]
  return adam.mu, adam.nu, adam.count


def _torch_adam(opt, module):
  """{name: exp_avg}, {name: exp_avg_sq}, step of a torch Adam over `module`."""
  mu, nu, steps = {}, {}, set()
  for name, p in module.named_parameters():
    st = opt.state[p]
    mu[name], nu[name] = st["exp_avg"], st["exp_avg_sq"]
    steps.add(int(st["step"]))
  assert len(steps) == 1
  return mu, nu, steps.pop()


def _named(params):
  """Our params-shaped tree -> {port parameter name: array}."""
  stats = jax.tree.map(lambda x: x, _fake_stats(params))
  sd = torch_convert.flax_to_torch({"params": params, "batch_stats": stats})
  return {k: v for k, v in sd.items() if "running" not in k and "num_batches" not in k}


def _fake_stats(params):
  net = params["net"]
  return {
    "net": {
      k: {"bn": {"mean": v["bn"]["bias"], "var": v["bn"]["bias"]}}
      for k, v in net.items()
      if "bn" in v
    }
  }


def _check_state(it, state, G, D, optG, optD, dtype, tc):
  """Every tensor of our ScaleState against the port's modules and optimizers.

  float64: per tensor, max|a - b| / max|b|, parameters, BatchNorm statistics and Adam moments.
  float32: parameters and statistics, max|a - b| over the tensor divided by the largest entry
  of its whole tree (G params, D stats, ...): Adam's step lr * m / (sqrt(v) + eps) maps a
  gradient entry near 0 to an update of up to lr set by float32 rounding (in torch as in JAX),
  so a small tensor's own maximum would measure Adam's eps rather than the implementation;
  float32 Adam moments, which carry that rounding forward undamped, are compared in float64.
  NOISY entries (see _noisy) are bounded by Adam's step size instead.
  """
  steps = {"G": (it + 1) * tc.Gsteps, "D": (it + 1) * tc.Dsteps}
  for tag, params, stats, module, opt_state, opt in (
    ("G", state.g_params, state.g_stats, G, state.g_opt, optG),
    ("D", state.d_params, state.d_stats, D, state.d_opt, optD),
  ):
    want = torch_convert.torch_to_flax(module.state_dict(), dtype)
    got = {**_named(params), **parity.flatten(stats)}
    ref_items = {**_named(want["params"]), **parity.flatten(want["batch_stats"])}
    for k in NOISY:  # |a - b| <= 2 * lr per step: both sides move by at most lr per step
      assert np.max(np.abs(np.asarray(got[k]) - parity.to_np(ref_items[k]))) <= (
        2 * tc.lr_g * steps[tag]
      ), k
    keep = lambda d: {k: v for k, v in d.items() if k not in NOISY}
    parity.check_tree(
      f"it {it} {tag} params ",
      keep(_named(params)),
      keep(_named(want["params"])),
      dtype,
      "train",
      tree_relative=dtype == "float32",
    )
    parity.check_tree(
      f"it {it} {tag} stats ",
      keep(parity.flatten(stats)),
      keep(parity.flatten(want["batch_stats"])),
      dtype,
      "train",
      tree_relative=dtype == "float32",
    )
    mu, nu, count = _adam(opt_state)
    t_mu, t_nu, t_step = _torch_adam(opt, module)
    assert int(count) == t_step == steps[tag]
    if dtype == "float64":
      parity.check_tree(f"it {it} {tag} adam mu ", keep(_named(mu)), keep(t_mu), dtype, "grad")
      parity.check_tree(f"it {it} {tag} adam nu ", keep(_named(nu)), keep(t_nu), dtype, "grad")


# Conv biases whose true gradient is 0 (they feed train-mode BatchNorm over a hole-free map),
# and the running means they shift. Their gradients are rounding noise near Adam's eps, which
# Adam turns into updates of up to ~lr / 10 with an arbitrary sign, in torch and JAX alike.
NOISY = parity.bn_fed_biases() + ("head/bn/mean",) + tuple(f"body_{i}/bn/mean" for i in range(3))
NOISY = tuple(k if "." in k else f"net/{k}" for k in NOISY)


@pytest.mark.parity
@pytest.mark.parametrize("dtype,partial,normalization,n", CASES)
def test_five_training_iterations(dtype, partial, normalization, n):
  seed = 11 * (n + 1) + (2 if partial else 0) + (5 if dtype == "float64" else 0)
  g = torch.Generator().manual_seed(seed)
  td = parity.TORCH_DTYPES[dtype]
  G = parity.perturb(
    ref.Generator(NFC, NFC, partial=partial, normalization=normalization, generator=g), g
  ).to(td)
  D = parity.perturb(
    ref.Discriminator(NFC, NFC, partial=partial, normalization=normalization, generator=g), g
  ).to(td)
  optG, optD = ref.make_optimizers(G, D, 5e-4, 5e-4, 0.5)
  real = torch.rand(1, 3, H, W, generator=g, dtype=td) * 2 - 1
  known = parity.random_known(H, W, g).to(td)
  z_opt = (
    torch.randn(1, 3, H, W, generator=g, dtype=td) if n == 0 else torch.zeros(1, 3, H, W, dtype=td)
  )
  z_prev = (
    0.3 * torch.randn(1, 3, H, W, generator=g, dtype=td) if n else torch.zeros(1, 3, H, W, dtype=td)
  )
  amp = ref.compute_noise_amp(real, z_prev, known if partial else None) if n else 1.0
  core, tc = _core(partial, normalization, n)
  with parity.precision(dtype):
    g_vars = torch_convert.torch_to_flax(G.state_dict(), dtype)
    d_vars = torch_convert.torch_to_flax(D.state_dict(), dtype)
    state = train_step.init_state(g_vars, d_vars, tc)
    inputs = train_step.ScaleInputs(
      jnp.asarray(parity.nhwc(real)),
      jnp.asarray(parity.nhwc(known)),
      jnp.asarray(parity.nhwc(z_opt)),
      jnp.asarray(parity.nhwc(z_prev)),
      jnp.asarray(amp, dtype),
      jax.random.PRNGKey(0),
      (),
    )
    for it in range(ITERS):
      if n == 0:  # one channel broadcast to 3, zeros as every prev at the coarsest scale
        noise = torch.randn(1, 1, H, W, generator=g, dtype=td).expand(1, 3, H, W)
        prevs = [torch.zeros(1, 3, H, W, dtype=td) for _ in range(tc.Dsteps)]
      else:
        noise = torch.randn(1, 3, H, W, generator=g, dtype=td)
        prevs = [0.3 * torch.randn(1, 3, H, W, generator=g, dtype=td) for _ in range(tc.Dsteps)]
      alphas = [float(torch.rand((), generator=g, dtype=torch.float64)) for _ in range(tc.Dsteps)]
      for opt, lr in ((optG, tc.lr_g), (optD, tc.lr_d)):
        ref.set_learning_rate(opt, lr, it, tc.niter, tc.gamma)
      out = ref.train_iteration(
        G,
        D,
        optG,
        optD,
        real,
        known,
        noise,
        z_opt,
        z_prev,
        prevs,
        alphas,
        amp,
        alpha=tc.alpha,
        partial=partial,
        Gsteps=tc.Gsteps,
        lambda_grad=tc.lambda_grad,
      )
      draws = train_step.IterationDraws(
        jnp.asarray(parity.nhwc(noise)),
        jnp.asarray(np.concatenate([parity.nhwc(p) for p in prevs])),
        jnp.asarray(np.asarray(alphas), dtype),
      )
      state, metrics = core(state, inputs, draws)
      assert int(state.step) == it + 1
      # Losses are sums of terms that cancel: measured against the sum of their magnitudes.
      scales = {
        "errD": abs(out["d_real"]) + abs(out["d_fake"]) + abs(out["gp"]),
        "errG": abs(out["errG"]) + tc.alpha * abs(out["rec"]),
      }
      out["errG"] += tc.alpha * out["rec"]  # our errG is the whole G loss
      for k in ("errD", "errG", "rec", "gp"):
        parity.check(
          f"it {it} {k}", metrics[k], np.asarray(out[k]), dtype, "train", scale=scales.get(k)
        )
      _check_state(it, state, G, D, optG, optD, dtype, tc)


def test_make_iteration_is_core_with_key_draws():
  """make_iteration == make_iteration_core fed make_draws(key folded with the step).

  Two differently fused programs round differently, and in float32 Adam turns rounding at the
  zero-gradient BatchNorm-fed biases into +-lr steps, so this runs in float64 (1e-10).
  """
  with parity.precision("float64"):
    f64 = jnp.float64
    plan = pyramid.ScalePlan((H, W), 1.0, 0.75, ((H, W), (H, W)), (NFC, NFC), (NFC, NFC))
    net = sampling.NetConfig(5, True, "sum")
    # 2 D + 1 G steps: every part of the iteration, a smaller program to compile
    tc = train_step.TrainConfig(niter=3, Dsteps=2, Gsteps=1)
    gen, disc = net.generator(NFC, NFC), net.discriminator(NFC, NFC)
    x = jnp.zeros((1, H + 10, W + 10, 3), f64)
    m = jnp.ones((1, H + 10, W + 10, 1), f64)
    g_vars = gen.init(jax.random.PRNGKey(1), x, x, m)
    d_vars = disc.init(jax.random.PRNGKey(2), x[:, 5:-5, 5:-5], m[:, 5:-5, 5:-5])
    state = train_step.init_state(g_vars, d_vars, tc)
    real = jax.random.uniform(jax.random.PRNGKey(3), (1, H, W, 3), f64, minval=-1, maxval=1)
    inputs = train_step.ScaleInputs(
      real,
      jnp.ones((1, H, W, 1), f64),
      jnp.zeros_like(real),
      jnp.zeros_like(real),
      jnp.asarray(0.1, f64),
      jax.random.PRNGKey(4),
      (),
    )
    s1, m1 = jax.jit(train_step.make_iteration(plan, 1, net, tc))(state, inputs)
    draws = train_step.make_draws(plan, 1, net, tc)(jax.random.fold_in(inputs.key, 0), (), f64)
    assert draws.z.shape == (1, H, W, 3) and draws.prevs.shape == (2, H, W, 3)
    assert draws.alphas.shape == (2,) and bool(jnp.all((draws.alphas >= 0) & (draws.alphas < 1)))
    s2, m2 = jax.jit(train_step.make_iteration_core(plan, 1, net, tc))(state, inputs, draws)
    # Other draws (a wrong key or step fold) change the losses at the 1e-2 level.
    for k in m1:
      np.testing.assert_allclose(np.asarray(m1[k]), np.asarray(m2[k]), rtol=1e-10, atol=1e-12)
    for a, b in zip(jax.tree.leaves(s1), jax.tree.leaves(s2)):
      np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-10, atol=1e-12)
