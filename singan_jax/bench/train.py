"""Per-scale training speed: the JAX iteration vs the PyTorch port (lean and 2019-faithful).

  python -m singan_jax.bench train [--size 250] [--scales 0,4,7] [--iters 4] [--image PATH]
      [--dtype bfloat16] [--torch_device auto]

One process, threads pinned to the machine's cores. For each scale of the default config's
plan of the image (--image; default the bundled example) it times one training iteration
with the default config's networks and steps (Dsteps D + Gsteps G steps, partial convs,
coarser-scale draws included), built by singan_jax.config as the CLI builds them:
  jax       singan_jax.training.step.make_iteration, jit(vmap) with donation, as the trainer runs it
  lean      the port in singan_jax/reference (single-channel mask sum, as ours), eager torch
  faithful  the port with the 2019 mask sum (a full Cin -> Cout conv) and the resizes between
            scales done on the host in numpy, standing in for the 2019 code
  jax:IMPL  the jax case with --config.conv_impl=IMPL (e.g. --variants jax,jax:onednn,lean:
            XLA's convolutions, oneDNN's and torch's side by side), with a column IMPL/jax
and reports FLOPs per iteration, achieved GFLOP/s against ceilings measured in the same run,
compile time and peak memory (XLA's estimate; on a GPU also the device's high-water mark,
for JAX since the process started: time one scale per process for a per-scale peak). The
last line is one JSON object.
"""

import argparse
import copy
import os
import sys
import time

import numpy as np

from singan_jax.bench import common
from singan_jax.bench import torch_port

INIT_SIZE = 16  # side of the inputs the networks are initialised with (any >= 11 does)
ANCHOR_HOURS = 5.15  # the 2019 code, default run of city1_edit.png (590x887), unloaded


def parse(argv):
  p = argparse.ArgumentParser(prog=argv[0], description=__doc__.split("\n")[0])
  p.add_argument("--size", type=int, default=250, help="max_size of the scale plan")
  p.add_argument("--image", default="", help="image whose plan is timed (default: the example)")
  p.add_argument(
    "--scales",
    default="all",
    help="comma-separated scales or coarsest/middle/finest, 'all', or 'ends' (those three)",
  )
  p.add_argument("--iters", type=int, default=3, help="timed iterations per variant")
  p.add_argument("--variants", default="jax,lean,faithful")
  p.add_argument("--niter", type=int, default=2000, help="iterations per scale (extrapolation)")
  p.add_argument("--cores", type=int, default=None)
  p.add_argument("--no-ceilings", action="store_true")
  p.add_argument("--dtype", default="float32", help="compute_dtype of the JAX convolutions")
  p.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE", help="config")
  p.add_argument("--torch_device", default="cpu", help="cpu, cuda, or auto (cuda if torch sees it)")
  return p.parse_args(argv[1:])


def bench_config(args):
  """The default config (singan_jax/config.py) with the bench's --size as max_size."""
  from singan_jax import config as config_lib  # pylint: disable=g-import-not-at-top

  cfg = config_lib.get_config()
  cfg.max_size = args.size
  cfg.compute_dtype = getattr(args, "dtype", cfg.compute_dtype)  # bench infer shares this
  return common.override(cfg, getattr(args, "set", []))


def image_shape(path: str = "") -> tuple[int, int, str]:
  """(H, W, source) of the benchmark image: `path`, or the bundled example."""
  if not path:
    from singan_jax.io import images as image_io  # pylint: disable=g-import-not-at-top

    path = image_io.example_paths()[0]
  if not os.path.exists(path):
    raise SystemExit(f"--image {path} does not exist: give an image file or leave it out")
  import imageio.v3 as iio  # pylint: disable=g-import-not-at-top

  im = iio.imread(path)
  return im.shape[0], im.shape[1], os.path.basename(path)


# ---------------------------------------------------------------------------------- JAX


def jax_case(cfg, plan, n):
  """(step_fn, state, inputs, flops, memory MiB) of scale n with random coarser scales."""
  import jax  # pylint: disable=g-import-not-at-top
  import jax.numpy as jnp  # pylint: disable=g-import-not-at-top
  from singan_jax import config as config_lib  # pylint: disable=g-import-not-at-top
  from singan_jax import rng as rng_lib  # pylint: disable=g-import-not-at-top
  from singan_jax.core import partial_conv  # pylint: disable=g-import-not-at-top
  from singan_jax.core import sampling  # pylint: disable=g-import-not-at-top
  from singan_jax.training import step as train_step  # pylint: disable=g-import-not-at-top
  from singan_jax.training import loop as trainer  # pylint: disable=g-import-not-at-top

  net, tc = config_lib.net_settings(cfg, 1), config_lib.train_settings(cfg)

  # Variables' shapes depend on the widths only: each scale is initialised at one small size
  # and coarser scales of equal widths share G weights (they only feed the coarser draws), a
  # few compiles instead of one per scale (13 at max_size 1024). Scale n gets its own (its
  # state is donated, the frozen weights are not).
  def init(k):
    k_init = rng_lib.train_keys(cfg.seed, 0, k)[0]
    return trainer.init_networks(plan, k, net, k_init[None], INIT_SIZE, INIT_SIZE)

  by_widths, frozen = {}, []
  for k in range(n):
    widths = (plan.nfc[k], plan.min_nfc[k])
    if widths not in by_widths:
      by_widths[widths] = init(k)[0]
    z = jnp.zeros((1, 1, *plan.shapes[k], 3))
    frozen.append(sampling.FrozenScale(by_widths[widths], z, jnp.full((1,), 0.1)))
  g_vars, d_vars = init(n)
  h, w = plan.shapes[n]
  k_iter = rng_lib.train_keys(cfg.seed, 0, n)[2]
  rng = np.random.default_rng(cfg.seed)
  real = jnp.asarray(rng.uniform(-1, 1, (1, 1, h, w, 3)), jnp.float32)
  known = jnp.asarray(common.hole_box(h, w)[None, None, :, :, None])
  inputs = train_step.ScaleInputs(
    real,
    known,
    jnp.zeros_like(real),
    jnp.zeros_like(real) + 0.1,
    jnp.full((1,), 0.1),
    k_iter[None],
    tuple(frozen),
  )
  state = jax.vmap(lambda g, d: train_step.init_state(g, d, tc))(g_vars, d_vars)
  step = jax.jit(jax.vmap(train_step.make_iteration(plan, n, net, tc)), donate_argnums=0)
  t0 = time.perf_counter()
  compiled = step.lower(state, inputs).compile()
  compile_s = time.perf_counter() - t0
  flops = common.compiled_flops(compiled)
  if partial_conv.resolve_impl(cfg.conv_impl) == "onednn":
    flops = float("nan")  # XLA's cost analysis does not see the oneDNN FFI calls
  mem = compiled.memory_analysis()
  mem_mb = float("nan")
  if mem is not None:
    mem_mb = (
      mem.temp_size_in_bytes + mem.argument_size_in_bytes + mem.output_size_in_bytes
    ) / 2**20
  return compiled, state, inputs, flops, mem_mb, compile_s


def time_jax(cfg, plan, n, iters):
  from singan_jax.training import monitor  # pylint: disable=g-import-not-at-top

  compiled, state, inputs, flops, mem_mb, compile_s = jax_case(cfg, plan, n)
  box = [state]

  def run():
    box[0], m = compiled(box[0], inputs)
    common.block((box[0], m))

  times = common.time_calls(run, iters, warmup=1)
  peak = monitor.peak_device_bytes()  # None on XLA:CPU
  peak_mb = float("nan") if peak is None else peak / 2**20
  return dict(times=times, flops=flops, mem_mb=mem_mb, compile_s=compile_s, peak_mb=peak_mb)


# --------------------------------------------------------------------------------- main


def pick_scales(spec: str, num: int) -> list[int]:
  if spec == "all":
    return list(range(num))
  if spec == "ends":
    return sorted({0, num // 2, num - 1})
  named = {"coarsest": 0, "middle": num // 2, "finest": num - 1}
  scales = sorted({named[s] if s in named else int(s) for s in spec.split(",")})
  bad = [s for s in scales if not 0 <= s < num]
  if bad:
    raise SystemExit(f"--scales {bad} out of range: this plan has scales 0..{num - 1}")
  return scales


def extrapolate(plan, measured: dict, niter: int) -> float:
  """Hours of a whole run: niter x per-scale time; unmeasured scales are interpolated with a
  least-squares fit t = a + b * h * w * nfc^2 over the measured ones."""
  cost = [h * w * plan.nfc[k] ** 2 for k, (h, w) in enumerate(plan.shapes)]
  ks = sorted(measured)
  if len(ks) >= 2:
    b, a = np.polyfit([cost[k] for k in ks], [measured[k] for k in ks], 1)
  else:
    a, b = 0.0, measured[ks[0]] / cost[ks[0]]
  per = [measured.get(k, max(a + b * cost[k], 0.0)) for k in range(plan.num_scales)]
  return niter * sum(per) / 3600.0


def main(argv):
  args = parse(argv)
  cores = common.pin_threads(args.cores)
  from singan_jax import config as config_lib  # pylint: disable=g-import-not-at-top

  cfg = bench_config(args)
  h_in, w_in, source = image_shape(args.image)
  plan = config_lib.scale_plan(cfg, h_in, w_in)
  scales = pick_scales(args.scales, plan.num_scales)
  variants = args.variants.split(",")
  print(
    f"# bench train: {source} {h_in}x{w_in}, max_size {cfg.max_size}, {plan.num_scales} scales, "
    f"{cores} cores, {args.iters} timed iterations (best of), "
    f"{cfg.Dsteps} D + {cfg.Gsteps} G steps"
  )
  ceil = {} if args.no_ceilings else common.ceilings(cores)
  if ceil:
    print("# ceilings GFLOP/s: " + ", ".join(f"{k} {v:.0f}" for k, v in ceil.items()))
  ported = [v for v in variants if v in ("lean", "faithful")]
  device = torch_port.torch_device(args.torch_device) if ported else "cpu"
  import jax  # pylint: disable=g-import-not-at-top

  from singan_jax.core import conv_tune  # pylint: disable=g-import-not-at-top
  from singan_jax.core import partial_conv  # pylint: disable=g-import-not-at-top
  from singan_jax.training import step as train_step  # pylint: disable=g-import-not-at-top

  impl = partial_conv.resolve_impl(cfg.conv_impl)
  loop = train_step.resolve_step_loop(cfg.step_loop, cfg.conv_impl)
  print(f"# processor: {conv_tune.processor()}")
  print(
    f"# jax on {jax.default_backend()} ({cfg.compute_dtype}, conv_impl {cfg.conv_impl} -> "
    f"{impl}, step_loop {cfg.step_loop} -> {loop}), the port on {device}"
  )
  results = measure(cfg, plan, scales, variants, args.iters, device)
  print()
  common.print_table(*table(plan, scales, variants, results))
  print()
  record = {
    "size": cfg.max_size,
    "scales": scales,
    "cores": cores,
    "processor": conv_tune.processor(),
    "conv_impl": impl,
    "step_loop": loop,
    "dtype": cfg.compute_dtype,
    "torch_device": device,
    "peak_rss_mb": common.peak_rss_mb(),
    "ceilings_gflops": {k: round(v, 1) for k, v in ceil.items()},
  }
  record.update(summary(args, plan, scales, variants, results))
  common.print_json(record)


def measure(cfg, plan, scales, variants, iters, device="cpu") -> dict:
  """{scale: {variant: timings}}, printing a line per scale as it finishes."""
  results = {}
  for n in scales:
    r = {}
    for v in variants:
      if v == "jax":
        r[v] = time_jax(cfg, plan, n, iters)
      elif v.startswith("jax:"):
        r[v] = time_jax(_with_impl(cfg, v.partition(":")[2]), plan, n, iters)
      else:
        r[v] = torch_port.time_torch(cfg, plan, n, v == "faithful", iters, device)
      r[v]["best"], r[v]["median"] = common.best_and_median(r[v]["times"])
    results[n] = r
    print(
      f"# scale {n} done: " + ", ".join(f"{v} {r[v]['best'] * 1e3:.0f} ms" for v in variants),
      flush=True,
    )
  return results


def _with_impl(cfg, impl: str):
  """A copy of cfg with conv_impl = impl (a jax:IMPL variant)."""
  cfg = copy.deepcopy(cfg)
  cfg.conv_impl = impl
  return cfg


def table(plan, scales, variants, results) -> tuple[list, list]:
  """(header, rows) of the per-scale table."""
  header = ["scale", "size", "nfc"] + [f"{v} ms" for v in variants]
  impls = [v for v in variants if v.startswith("jax:")] if "jax" in variants else []
  header += [f"{v}/jax" for v in impls]
  if "jax" in variants and "faithful" in variants:
    header.append("jax/faithful")
  if "jax" in variants and "lean" in variants:
    header.append("jax/lean")
  header += ["GFLOP/it (jax)", "GFLOP/s (jax)", "compile s", "XLA mem MiB", "peak MiB (jax)"]
  rows = []
  for n in scales:
    r = results[n]
    h, w = plan.shapes[n]
    row = [n, f"{h}x{w}", plan.nfc[n]] + [r[v]["best"] * 1e3 for v in variants]
    row += [r[v]["best"] / r["jax"]["best"] for v in impls]
    if "jax/faithful" in header:
      row.append(r["jax"]["best"] / r["faithful"]["best"])
    if "jax/lean" in header:
      row.append(r["jax"]["best"] / r["lean"]["best"])
    j = r.get("jax", {})
    row += [
      j.get("flops", float("nan")) / 1e9,
      j.get("flops", float("nan")) / 1e9 / j.get("best", float("nan")),
      j.get("compile_s", float("nan")),
      j.get("mem_mb", float("nan")),
      j.get("peak_mb", float("nan")),
    ]
    rows.append(row)
  return header, rows


def summary(args, plan, scales, variants, results) -> dict:
  """The JSON record's ratios, FLOPs and whole-run extrapolations."""
  record = {}
  for v in variants:
    record[f"{v}_ms"] = {str(n): round(results[n][v]["best"] * 1e3, 2) for n in scales}
    peaks = {str(n): round(results[n][v]["peak_mb"], 1) for n in scales}
    if not any(np.isnan(list(peaks.values()))):
      record[f"{v}_peak_mb"] = peaks
  if "jax" in variants:
    record["jax_compile_s"] = {str(n): round(results[n]["jax"]["compile_s"], 2) for n in scales}
  if "jax" in variants:
    record.update(_jax_summary(args, plan, scales, variants, results))
  for v in ("faithful", "lean"):
    if v in variants:
      record[f"{v}_pipeline_hours"] = round(
        extrapolate(plan, {n: results[n][v]["best"] for n in scales}, args.niter), 3
      )
  if "jax" in variants and "faithful" in variants and args.size == 250 and args.niter == 2000:
    # The 2019 code's whole default run took 5.0-5.3 h on this machine unloaded (issue 7):
    # scaling by the side-by-side ratio removes the machine's current load from the estimate.
    record["pipeline_hours_anchored"] = round(
      ANCHOR_HOURS * record["pipeline_hours_default"] / record["faithful_pipeline_hours"], 3
    )
  return record


def _jax_summary(args, plan, scales, variants, results) -> dict:
  """JAX vs the port at the coarsest, middle and finest scale; hours and GFLOP/s."""
  record = {}
  ends = {"coarsest": 0, "middle": plan.num_scales // 2, "finest": plan.num_scales - 1}
  for name, k in ends.items():
    for v, prefix in (("faithful", "ratio"), ("lean", "lean_ratio")):
      if k in results and v in variants:
        record[f"{prefix}_{name}"] = round(results[k]["jax"]["best"] / results[k][v]["best"], 3)
  j_times = {n: results[n]["jax"]["best"] for n in scales}
  compile_total = sum(results[n]["jax"]["compile_s"] for n in scales)
  record["pipeline_hours_default"] = round(
    extrapolate(plan, j_times, args.niter) + compile_total / 3600 * plan.num_scales / len(scales),
    3,
  )
  last = scales[-1]
  record["gflops_finest" if last == plan.num_scales - 1 else f"gflops_scale{last}"] = round(
    results[last]["jax"]["flops"] / 1e9 / results[last]["jax"]["best"], 1
  )
  record["gflop_per_iter_finest"] = round(results[last]["jax"]["flops"] / 1e9, 2)
  return record


if __name__ == "__main__":
  main(sys.argv)
