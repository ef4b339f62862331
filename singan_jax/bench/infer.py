"""Speed of one inpainting generation: inject at scale n, regenerate n..N (JAX vs the port).

  python -m singan_jax.bench infer [--size 250] [--inject -1] [--iters 5] [--image PATH]

Untrained weights (timing does not depend on their values), the default config's plan and
networks (singan_jax.config, as the CLI builds them) of the image (--image; default the
bundled example). JAX: sampling.inject jit-compiled once; the port: singan_jax/reference
inject, eager, no_grad. The last line is one JSON object.
"""

import argparse
import sys
import time

import numpy as np

from singan_jax.bench import common
from singan_jax.bench import train as train_bench


def parse(argv):
  p = argparse.ArgumentParser(prog=argv[0], description=__doc__.split("\n")[0])
  p.add_argument("--size", type=int, default=250, help="max_size of the scale plan")
  p.add_argument("--image", default="", help="image whose plan is timed (default: the example)")
  p.add_argument(
    "--inject",
    type=int,
    default=-1,
    help="injection scale; -1: round(inject_fraction * N) as the default config",
  )
  p.add_argument("--iters", type=int, default=5)
  p.add_argument("--no-port", action="store_true")
  p.add_argument("--cores", type=int, default=None)
  return p.parse_args(argv[1:])


def main(argv):
  args = parse(argv)
  cores = common.pin_threads(args.cores)
  from singan_jax import config as config_lib  # pylint: disable=g-import-not-at-top
  from singan_jax.core import schema  # pylint: disable=g-import-not-at-top
  from singan_jax.inpainting import inpaint as inpaint_lib  # pylint: disable=g-import-not-at-top

  cfg = train_bench.bench_config(args)
  cfg.inject_scale = args.inject
  h_in, w_in, source = train_bench.image_shape(args.image)
  plan = config_lib.scale_plan(cfg, h_in, w_in)
  n = inpaint_lib.resolve_inject_scale(schema.Inpainting.from_config(cfg), plan)
  net = config_lib.net_settings(cfg, 1)
  rng = np.random.default_rng(0)
  finest = rng.uniform(-1, 1, (1,) + plan.shapes[-1] + (3,)).astype(np.float32)
  jax_ms, compile_s, gflop = time_jax(cfg, plan, net, n, finest, args.iters)
  ceil = common.ceilings(cores)["conv_fwd"]
  print(
    f"# bench infer: {source}, {plan.num_scales} scales, inject at {n} -> {plan.stop_scale}, "
    f"{cores} cores"
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
    t_port = time_port(plan, net, n, finest, args.iters)
    rows.append(["port (eager torch)", t_port, 0.0])
    record["port_ms"] = round(t_port, 2)
    record["ratio"] = round(jax_ms / t_port, 3)
  common.print_table(["variant", "ms / generation", "compile s"], rows)
  common.print_json(record)


def time_jax(cfg, plan, net, n, finest, iters) -> tuple[float, float, float]:
  """(best ms, compile s, GFLOP) of one jit-compiled injection at n of untrained scales."""
  import jax  # pylint: disable=g-import-not-at-top
  import jax.numpy as jnp  # pylint: disable=g-import-not-at-top
  from singan_jax import rng as rng_lib  # pylint: disable=g-import-not-at-top
  from singan_jax.core import sampling  # pylint: disable=g-import-not-at-top
  from singan_jax.training import loop as trainer  # pylint: disable=g-import-not-at-top

  frozen = []
  for k in range(plan.num_scales):
    hk, wk = plan.shapes[k]
    k_init = rng_lib.train_keys(cfg.seed, 0, k)[0]
    g_vars, _ = trainer.init_networks(plan, k, net, k_init[None], hk, wk)
    frozen.append(
      sampling.FrozenScale(
        jax.tree.map(lambda a: a[0], g_vars), jnp.zeros((1, hk, wk, 3)), jnp.asarray(0.1)
      )
    )
  gens = sampling.Generators.of(plan, net)

  @jax.jit
  def generate(frozen, image, key):
    return sampling.inject(gens, frozen, image, n, key)

  key, image = rng_lib.inpaint_keys(cfg.seed, 0)[1], jnp.asarray(finest)
  t0 = time.perf_counter()
  compiled = generate.lower(tuple(frozen), image, key).compile()
  compile_s = time.perf_counter() - t0
  times = common.time_calls(lambda: common.block(compiled(tuple(frozen), image, key)), iters)
  return min(times) * 1e3, compile_s, common.compiled_flops(compiled) / 1e9


def time_port(plan, net, n, finest, iters) -> float:
  """Best ms of the port's eager injection with the same networks (untrained)."""
  import torch  # pylint: disable=g-import-not-at-top
  from singan_jax import reference as ref  # pylint: disable=g-import-not-at-top

  gen = torch.Generator().manual_seed(0)
  kw = dict(partial=net.partial, normalization=net.normalization, generator=gen)
  gs = [
    ref.Generator(plan.nfc[k], plan.min_nfc[k], net.num_layer, **kw).eval()
    for k in range(plan.num_scales)
  ]
  amps = [0.1] * plan.num_scales
  img = torch.from_numpy(finest.transpose(0, 3, 1, 2).copy())

  def port():
    noises = [torch.randn(1, 3, *s) for s in plan.shapes]
    ref.inject(
      *(gs, amps, [tuple(s) for s in plan.shapes], img, n, noises, plan.scale_factor),
      partial=net.partial,
    )

  return min(common.time_calls(port, iters)) * 1e3


if __name__ == "__main__":
  main(sys.argv)
