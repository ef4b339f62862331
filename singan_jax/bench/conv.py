"""Every convolution formulation of every op, side by side, at the training's layer shapes.

  python -m singan_jax.bench conv [--shapes 25x38x32,75x111x64,167x250x64] [--repeats 3]

For each H x W x C shape (a 3x3 C -> C body layer of one image) and each op of
singan_jax/core/conv_forms.py (forward, input gradient, weight gradient) it times every
formulation interleaved (conv_tune.measure: one call of each per round, median of rounds),
--repeats times, and prints the median ms and the ratio to XLA's native form. What the
autotuner (conv_impl='auto') would pick is the row's fastest. Last line: one JSON object.
"""

import argparse
import statistics
import sys

from singan_jax.bench import common


def parse(argv):
  p = argparse.ArgumentParser(prog=argv[0], description=__doc__.split("\n")[0])
  p.add_argument("--shapes", default="25x38x32,75x111x64,167x250x64")
  p.add_argument("--ops", default="valid,input_grad,kernel_grad")
  p.add_argument("--repeats", type=int, default=3, help="measurements per cell (median)")
  p.add_argument("--rounds", type=int, default=5, help="timed rounds per measurement")
  p.add_argument("--cores", type=int, default=None)
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


def main(argv=None):
  args = parse(argv or sys.argv)
  cores = common.pin_threads(args.cores)
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
