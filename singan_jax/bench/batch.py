r"""Batched training throughput: images/s of one vmapped iteration for B images vs B = 1.

  python -m singan_jax.bench batch [--batch_sizes=1,2,4,8] [--scales=coarse,middle,finest]
      [--repeats=5] [--iters=2] [--conv_batching=auto,grouped]

Runs the default plan of the bundled example (paper defaults): at each chosen scale, one
jit-compiled, warmed-up iteration (Dsteps + Gsteps, coarser frozen scales included) for each B,
timed side by side in this process; the median of --repeats runs of --iters iterations. The
last line is one JSON object with images/s per (scale, B) and ratio_b<B>_<scale> (images/s at
B over images/s at B = 1).
"""

import argparse
import statistics
import time

import jax
import jax.numpy as jnp
import numpy as np

from singan_jax import config as defaults
from singan_jax import rng
from singan_jax.io import images as image_io
from singan_jax.core import partial_conv
from singan_jax.core import sampling
from singan_jax.training import step as train_step
from singan_jax.training import loop as trainer
from singan_jax.bench import common


SCALE_NAMES = ("coarse", "middle", "finest")


def scale_indices(plan) -> dict:
  """{'coarse': 0, 'middle': N // 2, 'finest': N} for a plan with scales 0..N."""
  stop = plan.stop_scale
  return dict(zip(SCALE_NAMES, (0, stop // 2, stop)))


def batch_inputs(cfg, plan, n: int, b: int, seed: int = 0):
  """(state, inputs) of scale n for b images: random networks for scales 0..n, a real image
  with a square hole. Shapes and keys as training/loop.py's prepare_scale builds them."""
  net, tc = defaults.net_settings(cfg, b), defaults.train_settings(cfg)
  draws = np.random.default_rng(seed)
  # Jitted: one compile per scale instead of one per eager op of the init.
  init = jax.jit(trainer.init_networks, static_argnums=(0, 1, 2, 4, 5))
  frozen = []
  for k in range(n + 1):
    h, w = plan.shapes[k]
    k_init, _, keys = jax.vmap(lambda i, k=k: rng.train_keys(seed, i, k))(jnp.arange(b))
    g_vars, d_vars = init(plan, k, net, k_init, h, w)
    z_opt = jnp.asarray(draws.normal(size=(b, 1, h, w, 3)), jnp.float32)
    if k < n:
      frozen.append(sampling.FrozenScale(g_vars, z_opt, jnp.full((b,), 0.1, jnp.float32)))
  h, w = plan.shapes[n]
  real = jnp.asarray(np.tanh(draws.normal(size=(b, 1, h, w, 3))), jnp.float32)
  known = np.ones((b, 1, h, w, 1), np.float32)
  known[:, :, h // 3 : h // 2, w // 3 : w // 2] = 0
  state = jax.vmap(lambda g, d: train_step.init_state(g, d, tc))(g_vars, d_vars)
  inputs = train_step.ScaleInputs(
    real,
    jnp.asarray(known),
    z_opt,
    jnp.zeros_like(real),
    jnp.full((b,), 0.1, jnp.float32),
    keys,
    tuple(frozen),
  )
  return state, inputs


def images_per_second(cfg, plan, n: int, b: int, repeats: int, iters: int) -> tuple[float, float]:
  """(images/s, achieved GFLOP/s) of the jitted, vmapped scale-n iteration for b images:
  b / the median seconds per iteration; FLOPs from XLA's cost analysis of the program."""
  net, tc = defaults.net_settings(cfg, b), defaults.train_settings(cfg)
  state, inputs = batch_inputs(cfg, plan, n, b)
  step = (
    jax.jit(jax.vmap(train_step.make_iteration(plan, n, net, tc))).lower(state, inputs).compile()
  )
  flops = common.compiled_flops(step)
  state = jax.block_until_ready(step(state, inputs)[0])  # warm up

  def run():
    nonlocal state
    for _ in range(iters):
      state, _ = step(state, inputs)
    jax.block_until_ready(state)

  per_iter = statistics.median(common.time_calls(run, repeats, warmup=1)) / iters
  return b / per_iter, flops / per_iter / 1e9


def layer_gflops(h: int, w: int, c: int, repeats: int) -> float:
  """GFLOP/s of ONE image's 3x3 conv layer of this scale (padded input h+10 x w+10, c -> c):
  forward, input gradient and weight gradient, jitted. What a single image's convolutions
  reach on this machine: once B = 1 runs at it, batching has no idle compute to fill."""
  hp, wp = h + 2 * sampling.PAD, w + 2 * sampling.PAD
  x = jnp.ones((1, hp, wp, c), jnp.float32)
  k = jnp.full((3, 3, c, c), 0.01, jnp.float32)
  f = jax.jit(jax.grad(lambda x, k: jnp.sum(partial_conv.conv2d_valid(x, k) ** 2), argnums=(0, 1)))
  t = min(common.time_calls(lambda: jax.block_until_ready(f(x, k)), repeats, warmup=1))
  return 3 * 2 * (hp - 2) * (wp - 2) * 9 * c * c / t / 1e9


# The summary table's columns: one row per (scale, conv_batching, B).
TABLE_COLUMNS = [
  "scale",
  "n",
  "shape",
  "nfc",
  "conv_batching",
  "B",
  "images/s",
  "ratio to B=1",
  "GFLOP/s",
  "one-layer GFLOP/s",
]


def parse(argv) -> argparse.Namespace:
  """The command line; batch_sizes, scales and conv_batching become checked lists (B = 1 added:
  the ratios need it)."""
  parser = argparse.ArgumentParser(prog=argv[0], description=__doc__.splitlines()[0])
  parser.add_argument("--batch_sizes", default="1,2,4,8")
  parser.add_argument(
    "--scales", default="coarse,middle,finest", help="comma list of coarse, middle, finest"
  )
  parser.add_argument("--repeats", type=int, default=5, help="timed runs (median)")
  parser.add_argument("--iters", type=int, default=2, help="iterations per timed run")
  parser.add_argument(
    "--conv_batching",
    default="auto",
    help="comma list of auto, unrolled, grouped (partial_conv docstring); "
    "the first gives ratio_b<B>_<scale>, the others add a _<name> suffix",
  )
  parser.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE", help="config")
  args = parser.parse_args(argv[1:])
  args.batch_sizes = [int(v) for v in args.batch_sizes.split(",")]
  if 1 not in args.batch_sizes:
    args.batch_sizes = [1] + args.batch_sizes
  args.conv_batching = args.conv_batching.split(",")
  for v in args.conv_batching:
    if v not in partial_conv.BATCHINGS:
      parser.error(f"--conv_batching: unknown {v!r}, use {','.join(partial_conv.BATCHINGS)}")
  args.scales = args.scales.split(",")
  unknown = set(args.scales) - set(SCALE_NAMES)
  if unknown:
    parser.error(f"--scales: unknown {sorted(unknown)}, use {','.join(SCALE_NAMES)}")
  return args


def time_scale(cfg, plan, name: str, n: int, args, record: dict, rows: list) -> None:
  """Times scale n: one conv layer's ceiling, then every B of each conv_batching variant side
  by side ('auto' at B = 1 is JAX's own rule, a plain convolution; 'unrolled' at B = 1 adds
  custom_vjp bookkeeping). Adds the figures to record and one row per (variant, B) to rows."""
  h, w = plan.shapes[n]
  ceiling = layer_gflops(h, w, plan.nfc[n], args.repeats)
  record[f"layer_gflops_{name}"] = round(ceiling, 1)
  print(
    f"scale {name} ({n}): one conv layer (fwd + both gradients) {ceiling:.1f} GFLOP/s", flush=True
  )
  for v_i, variant in enumerate(args.conv_batching):
    cfg.conv_batching = variant
    suffix = "" if v_i == 0 else f"_{variant}"
    res = {
      b: images_per_second(cfg, plan, n, b, args.repeats, args.iters) for b in args.batch_sizes
    }
    ips = {b: r[0] for b, r in res.items()}
    for b in args.batch_sizes:
      ratio, gflops = ips[b] / ips[1], res[b][1]
      record[f"ips_b{b}_{name}{suffix}"] = round(ips[b], 4)
      record[f"ratio_b{b}_{name}{suffix}"] = round(ratio, 3)
      record[f"gflops_b{b}_{name}{suffix}"] = round(gflops, 1)
      rows.append([name, n, f"{h}x{w}", plan.nfc[n], variant, b, ips[b], ratio, gflops, ceiling])
      print(
        f"scale {name} ({n}) {variant} B={b}: {ips[b]:.3f} images/s, "
        f"x{ratio:.2f}, {gflops:.1f} GFLOP/s",
        flush=True,
      )


def main(argv):
  args = parse(argv)
  cfg = common.override(defaults.get_config(), args.set)
  pixels = image_io.read_image(image_io.example_paths()[0])
  plan = defaults.scale_plan(cfg, *pixels.shape[:2])
  named = scale_indices(plan)
  print(
    f"default plan: {plan.num_scales} scales {plan.shapes}, nfc {plan.nfc}; "
    f"{jax.device_count()} {jax.default_backend()} device(s), "
    f"median of {args.repeats} x {args.iters} iterations",
    flush=True,
  )
  record, rows = {"devices": jax.device_count(), "backend": jax.default_backend()}, []
  t0 = time.time()
  for name in args.scales:
    time_scale(cfg, plan, name, named[name], args, record, rows)
  common.print_table(TABLE_COLUMNS, rows)
  record["seconds"] = round(time.time() - t0, 1)
  common.print_json(record)
