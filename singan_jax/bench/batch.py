r"""Batched training throughput: images/s of one vmapped iteration for B images vs B = 1.

  python -m singan_jax.bench batch [--batch_sizes=1,2,4,8] [--scales=coarse,middle,finest]
      [--repeats=5] [--iters=2]

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

from singan_jax import defaults
from singan_jax import image_io
from singan_jax import sampling
from singan_jax import train_step
from singan_jax import trainer
from singan_jax.bench import common


def scale_indices(plan) -> dict:
  """{'coarse': 0, 'middle': N // 2, 'finest': N} for a plan with scales 0..N."""
  stop = plan.stop_scale
  return {"coarse": 0, "middle": stop // 2, "finest": stop}


def batch_inputs(cfg, plan, n: int, b: int, seed: int = 0):
  """(state, inputs) of scale n for b images: random networks for scales 0..n, a real image
  with a square hole. Shapes as trainer._train_scale builds them."""
  net, tc = trainer.net_config(cfg), trainer.train_config(cfg)
  rng = np.random.default_rng(seed)
  # Jitted: one compile per scale instead of one per eager op of the init.
  init = jax.jit(trainer.init_networks, static_argnums=(0, 1, 2, 4, 5))
  frozen = []
  for k in range(n + 1):
    h, w = plan.shapes[k]
    keys = jax.vmap(lambda i, k=k: trainer.scale_key(seed, i, k))(jnp.arange(b))
    g_vars, d_vars = init(plan, k, net, keys, h, w)
    z_opt = jnp.asarray(rng.normal(size=(b, 1, h, w, 3)), jnp.float32)
    if k < n:
      frozen.append(sampling.FrozenScale(g_vars, z_opt, jnp.full((b,), 0.1, jnp.float32)))
  h, w = plan.shapes[n]
  real = jnp.asarray(np.tanh(rng.normal(size=(b, 1, h, w, 3))), jnp.float32)
  known = np.ones((b, 1, h, w, 1), np.float32)
  known[:, :, h // 3:h // 2, w // 3:w // 2] = 0
  state = jax.vmap(lambda g, d: train_step.init_state(g, d, tc))(g_vars, d_vars)
  inputs = train_step.ScaleInputs(real, jnp.asarray(known), z_opt, jnp.zeros_like(real),
                                  jnp.full((b,), 0.1, jnp.float32), keys, tuple(frozen))
  return state, inputs


def images_per_second(cfg, plan, n: int, b: int, repeats: int, iters: int) -> float:
  """b / median seconds per iteration of the jitted, vmapped scale-n iteration."""
  net, tc = trainer.net_config(cfg), trainer.train_config(cfg)
  step = jax.jit(jax.vmap(train_step.make_iteration(plan, n, net, tc)))
  state, inputs = batch_inputs(cfg, plan, n, b)
  state = jax.block_until_ready(step(state, inputs)[0])  # compile + warm up

  def run():
    nonlocal state
    for _ in range(iters):
      state, _ = step(state, inputs)
    jax.block_until_ready(state)

  per_iter = statistics.median(common.time_calls(run, repeats, warmup=1)) / iters
  return b / per_iter


def main(argv):
  parser = argparse.ArgumentParser(prog=argv[0], description=__doc__.splitlines()[0])
  parser.add_argument("--batch_sizes", default="1,2,4,8")
  parser.add_argument("--scales", default="coarse,middle,finest",
                      help="comma list of coarse, middle, finest")
  parser.add_argument("--repeats", type=int, default=5, help="timed runs (median)")
  parser.add_argument("--iters", type=int, default=2, help="iterations per timed run")
  args = parser.parse_args(argv[1:])
  sizes = [int(v) for v in args.batch_sizes.split(",")]
  if 1 not in sizes:
    sizes = [1] + sizes  # the ratios need B = 1
  cfg = defaults.get_config()
  pixels = image_io.read_image(image_io.example_paths()[0])
  plan = trainer.plan_for(cfg, *pixels.shape[:2])
  named = scale_indices(plan)
  unknown = set(args.scales.split(",")) - set(named)
  if unknown:
    parser.error(f"--scales: unknown {sorted(unknown)}, use {','.join(named)}")
  print(f"default plan: {plan.num_scales} scales {plan.shapes}, nfc {plan.nfc}; "
        f"{jax.device_count()} {jax.default_backend()} device(s), "
        f"median of {args.repeats} x {args.iters} iterations", flush=True)
  record, rows = {"devices": jax.device_count(), "backend": jax.default_backend()}, []
  t0 = time.time()
  for name in args.scales.split(","):
    n = named[name]
    ips = {b: images_per_second(cfg, plan, n, b, args.repeats, args.iters) for b in sizes}
    for b in sizes:
      record[f"ips_b{b}_{name}"] = round(ips[b], 4)
      record[f"ratio_b{b}_{name}"] = round(ips[b] / ips[1], 3)
      rows.append([name, n, f"{plan.shapes[n][0]}x{plan.shapes[n][1]}", plan.nfc[n], b,
                   ips[b], ips[b] / ips[1]])
      print(f"scale {name} ({n}) B={b}: {ips[b]:.3f} images/s, x{ips[b] / ips[1]:.2f}",
            flush=True)
  common.print_table(["scale", "n", "shape", "nfc", "B", "images/s", "ratio to B=1"], rows)
  record["seconds"] = round(time.time() - t0, 1)
  common.print_json(record)
