"""Every convolution formulation of every op, side by side, at the training's layer shapes.

  python -m singan_jax.bench conv [--shapes 25x38x32,75x111x64,167x250x64] [--repeats 3]
  python -m singan_jax.bench conv --iteration [--demo] [--scales ends] [--impls native,auto]

For each H x W x C shape (a 3x3 C -> C body layer of one image) and each op of
singan_jax/core/conv_forms.py (forward, input gradient, weight gradient) it times every
formulation interleaved (conv_tune.measure: one call of each per round, median of rounds),
--repeats times, and prints the median ms and the ratio to XLA's native form. What the
autotuner (conv_impl='auto') would pick is the row's fastest.

--iteration instead times one whole training iteration per scale (bench train's JAX case:
jit(vmap) with donation) under each --config.conv_impl of --impls, interleaved, with the
autotuner's measuring seconds (from an empty cache file of its own; at network init and
while traced) beside the trace + compile seconds (which include the tuning done while traced);
--demo uses configs/demo.py's plan. Last line: one JSON object.
"""

import argparse
import importlib.util
import os
import statistics
import sys
import tempfile
import time

from singan_jax.bench import common


def parse(argv):
  p = argparse.ArgumentParser(prog=argv[0], description=__doc__.split("\n")[0])
  p.add_argument("--shapes", default="25x38x32,75x111x64,167x250x64")
  p.add_argument("--ops", default="valid,input_grad,kernel_grad")
  p.add_argument("--repeats", type=int, default=3, help="measurements per cell (median)")
  p.add_argument("--rounds", type=int, default=5, help="timed rounds per measurement")
  p.add_argument("--cores", type=int, default=None)
  p.add_argument("--iteration", action="store_true", help="time whole training iterations")
  p.add_argument("--impls", default="native,auto", help="--iteration: conv_impl values")
  p.add_argument("--scales", default="ends", help="--iteration: as bench train's --scales")
  p.add_argument("--demo", action="store_true", help="--iteration: configs/demo.py's plan")
  p.add_argument("--size", type=int, default=250, help="--iteration: max_size (not --demo)")
  p.add_argument("--iters", type=int, default=3, help="--iteration: timed rounds (median)")
  return p.parse_args(argv[1:])


def op_shapes(op: str, h: int, w: int, c: int):
  """(a_shape, b_shape) of op for a 3x3 C -> C layer whose input is (1, h, w, c)."""
  x, k, dy = (1, h, w, c), (3, 3, c, c), (1, h - 2, w - 2, c)
  return {"valid": (x, k), "input_grad": (dy, k), "kernel_grad": (x, dy)}[op]


def bench_cell(op, h, w, c, repeats, rounds):
  """{formulation: median ms over repeats} and the GFLOP of one call."""
  from singan_jax.core import conv_tune  # pylint: disable=g-import-not-at-top

  a_shape, b_shape = op_shapes(op, h, w, c)
  runs = [conv_tune.measure(op, a_shape, b_shape, "float32", rounds)["ms"] for _ in range(repeats)]
  ms = {name: statistics.median(r[name] for r in runs) for name in runs[0]}
  return ms, 2 * (h - 2) * (w - 2) * c * c * 9 / 1e9


def iteration_config(args):
  """The default config (or configs/demo.py's with --demo); max_size --size otherwise."""
  from singan_jax import config as config_lib  # pylint: disable=g-import-not-at-top

  if not args.demo:
    cfg = config_lib.get_config()
    cfg.max_size = args.size
    return cfg
  root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
  spec = importlib.util.spec_from_file_location("demo", os.path.join(root, "configs", "demo.py"))
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module.get_config()


def time_iterations(args, cores):
  """Per scale and impl: median iteration ms, compile s and autotune s; then the table."""
  from singan_jax import config as config_lib  # pylint: disable=g-import-not-at-top
  from singan_jax.bench import train as train_bench  # pylint: disable=g-import-not-at-top
  from singan_jax.core import conv_tune  # pylint: disable=g-import-not-at-top

  os.environ["SINGAN_JAX_CONV_TUNE"] = os.path.join(tempfile.mkdtemp(), conv_tune.FILE_NAME)
  cfg = iteration_config(args)
  plan = config_lib.scale_plan(cfg, *train_bench.image_shape()[:2])
  impls = args.impls.split(",")
  rows, record = [], {"cores": cores, "processor": conv_tune.processor(), "demo": args.demo}
  for n in train_bench.pick_scales(args.scales, plan.num_scales):
    runs, compile_s, tune_s = {}, {}, {}
    for impl in impls:
      cfg.conv_impl = impl
      before = conv_tune.measured_seconds()
      compiled, state, inputs, _, _, seconds = train_bench.jax_case(cfg, plan, n)
      tune_s[impl] = conv_tune.measured_seconds() - before  # at init and while traced
      compile_s[impl] = seconds  # trace + compile, tuning done while traced included
      runs[impl] = _runner(compiled, state, inputs)
      runs[impl]()  # warm up
    times = {impl: [] for impl in impls}
    for _ in range(args.iters):
      for impl in impls:
        t0 = time.perf_counter()
        runs[impl]()
        times[impl].append(time.perf_counter() - t0)
    ms = {impl: 1e3 * statistics.median(t) for impl, t in times.items()}
    h, w = plan.shapes[n]
    row = [n, f"{h}x{w}", plan.nfc[n]] + [ms[i] for i in impls]
    row += [ms[i] / ms[impls[0]] for i in impls[1:]] + [compile_s[i] for i in impls]
    rows.append(row + [tune_s[i] for i in impls[1:]])
    record[f"scale_{n}"] = {"ms": ms, "compile_s": compile_s, "tune_s": tune_s}
    print(f"# scale {n}: {record[f'scale_{n}']}", flush=True)
  header = ["scale", "size", "nfc"] + [f"{i} ms" for i in impls]
  header += [f"{i}/{impls[0]}" for i in impls[1:]] + [f"compile s ({i})" for i in impls]
  header += [f"tune s ({i})" for i in impls[1:]]
  common.print_table(header, rows)
  common.print_json(record)


def _runner(compiled, state, inputs):
  box = [state]

  def run():
    box[0], m = compiled(box[0], inputs)
    common.block((box[0], m))

  return run


def main(argv=None):
  args = parse(argv or sys.argv)
  cores = common.pin_threads(args.cores)
  if args.iteration:
    return time_iterations(args, cores)
  import jax  # pylint: disable=g-import-not-at-top
  from singan_jax.core import conv_forms  # pylint: disable=g-import-not-at-top
  from singan_jax.core import conv_tune  # pylint: disable=g-import-not-at-top

  print(f"processor: {conv_tune.processor()}, {cores} cores, backend {jax.default_backend()}")
  names = list(conv_forms.NAMES)
  header = ["shape", "op"] + [f"{n} ms" for n in names] + [f"{n}/native" for n in names[1:]]
  header += ["best", "best GFLOP/s"]
  rows, record = [], {"cores": cores, "processor": conv_tune.processor()}
  for shape in args.shapes.split(","):
    h, w, c = (int(v) for v in shape.split("x"))
    for op in args.ops.split(","):
      ms, gflop = bench_cell(op, h, w, c, args.repeats, args.rounds)
      best = min(ms, key=ms.get)
      ratios = [ms[n] / ms["native"] if n in ms else float("nan") for n in names[1:]]
      row = [shape, op] + [ms.get(n, float("nan")) for n in names] + ratios
      rows.append(row + [best, gflop / ms[best] * 1e3])
      record[f"{op}_{shape}"] = {"best": best, **{n: round(v, 2) for n, v in ms.items()}}
  common.print_table(header, rows)
  common.print_json(record)


if __name__ == "__main__":
  main()
