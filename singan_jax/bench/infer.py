"""Speed of one inpainting generation: inject at scale n, regenerate n..N (JAX vs the port).

  python -m singan_jax.bench infer [--size 250] [--inject -1] [--iters 5]

Untrained weights (timing does not depend on their values) on the default plan of the
report's example image (590x887, 8 scales). JAX: sampling.inject jit-compiled once; the port:
singan_jax/reference inject, eager, no_grad. The last line is one JSON object.
"""

import argparse
import sys
import time

import numpy as np

from singan_jax.bench import common
from singan_jax.bench import train as train_bench


def parse(argv):
  p = argparse.ArgumentParser(prog=argv[0], description=__doc__.split("\n")[0])
  p.add_argument("--size", type=int, default=250)
  p.add_argument(
    "--inject",
    type=int,
    default=-1,
    help="injection scale; -1: round(0.4 * N) as the default config",
  )
  p.add_argument("--iters", type=int, default=5)
  p.add_argument("--no-port", action="store_true")
  p.add_argument("--cores", type=int, default=None)
  return p.parse_args(argv[1:])


def main(argv):
  args = parse(argv)
  cores = common.pin_threads(args.cores)
  import jax  # pylint: disable=g-import-not-at-top
  import jax.numpy as jnp  # pylint: disable=g-import-not-at-top
  from singan_jax.core import pyramid  # pylint: disable=g-import-not-at-top
  from singan_jax.core import sampling  # pylint: disable=g-import-not-at-top
  from singan_jax.train import loop as trainer  # pylint: disable=g-import-not-at-top

  h_in, w_in, source = train_bench.image_shape()
  plan = pyramid.make_plan(h_in, w_in, max_size=args.size)
  stop = plan.stop_scale
  n = args.inject if args.inject >= 1 else int(min(max(round(0.4 * stop), 1), stop))
  net = sampling.NetConfig()
  frozen = []
  for k in range(plan.num_scales):
    hk, wk = plan.shapes[k]
    g_vars, _ = trainer.init_networks(plan, k, net, jax.random.PRNGKey(k)[None], hk, wk)
    frozen.append(
      sampling.FrozenScale(
        jax.tree.map(lambda a: a[0], g_vars), jnp.zeros((1, hk, wk, 3)), jnp.asarray(0.1)
      )
    )
  gens = [net.generator(plan.nfc[k], plan.min_nfc[k]) for k in range(plan.num_scales)]
  rng = np.random.default_rng(0)
  finest = jnp.asarray(rng.uniform(-1, 1, (1,) + plan.shapes[-1] + (3,)), jnp.float32)

  @jax.jit
  def generate(frozen, image, key):
    return sampling.inject(frozen, gens, plan.shapes, plan.scale_factor, image, n, key, True)

  key = jax.random.PRNGKey(1)
  t0 = time.perf_counter()
  compiled = generate.lower(tuple(frozen), finest, key).compile()
  compile_s = time.perf_counter() - t0
  times = common.time_calls(lambda: common.block(compiled(tuple(frozen), finest, key)), args.iters)
  jax_ms = min(times) * 1e3
  gflop = common.compiled_flops(compiled) / 1e9
  ceil = train_bench.ceilings(cores)["conv_fwd"]
  print(
    f"# bench infer: {source}, {plan.num_scales} scales, inject at {n} -> {stop}, {cores} cores"
  )
  print(
    f"# {gflop:.1f} GFLOP per generation; at the conv-forward ceiling measured now "
    f"({ceil:.0f} GFLOP/s) it cannot take less than {gflop / ceil * 1e3:.0f} ms"
  )
  rows = [["jax (jit)", jax_ms, compile_s]]
  record = {
    "inject_scale": n,
    "jax_ms": round(jax_ms, 2),
    "compile_s": round(compile_s, 2),
    "cores": cores,
    "gflop": round(gflop, 2),
    "conv_fwd_ceiling_gflops": round(ceil, 1),
    "bound_ms": round(gflop / ceil * 1e3, 1),
  }
  if not args.no_port:
    import torch  # pylint: disable=g-import-not-at-top
    from singan_jax import reference as ref  # pylint: disable=g-import-not-at-top

    gen = torch.Generator().manual_seed(0)
    gs = [
      ref.Generator(plan.nfc[k], plan.min_nfc[k], partial=True, generator=gen).eval()
      for k in range(plan.num_scales)
    ]
    amps = [0.1] * plan.num_scales
    img = torch.from_numpy(np.asarray(finest).transpose(0, 3, 1, 2).copy())

    def port():
      noises = [torch.randn(1, 3, *s) for s in plan.shapes]
      ref.inject(
        gs, amps, [tuple(s) for s in plan.shapes], img, n, noises, plan.scale_factor, partial=True
      )

    t_port = min(common.time_calls(port, args.iters)) * 1e3
    rows.append(["port (eager torch)", t_port, 0.0])
    record["port_ms"] = round(t_port, 2)
    record["ratio"] = round(jax_ms / t_port, 3)
  common.print_table(["variant", "ms / generation", "compile s"], rows)
  common.print_json(record)


if __name__ == "__main__":
  main(sys.argv)
