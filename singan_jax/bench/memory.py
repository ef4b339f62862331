"""Device memory of the finest scale's training iteration at max_size 250, 512 and 1024.

  python -m singan_jax.bench memory [--sizes 250,512,1024] [--step_loops unrolled,scan]
      [--image PATH] [--run] [--set FIELD=VALUE]

For each size, the plan of an image with the bundled example's (or --image's) aspect whose
longer side is that size (so the finest scale is size px; the 2019 code's users ran out of
memory at 1024 px on 11 GB cards), and the finest scale's iteration (default config, one
image, random coarser scales) compiled once per step_loop. Reported: XLA's footprint of the
compiled program (arguments + outputs - donated aliases + temporaries, from its buffer
assignment: the backend's own, so on a GPU the GPU's), and with --run (on a GPU) the
device's high-water mark after running it once. XLA has no reset of that mark, so the runs go
in increasing footprint order and a mark that did not rise is reported as missing. Last line:
one JSON object.
"""

import argparse
import copy

from singan_jax.bench import common
from singan_jax.bench import train as bench_train


def parse(argv):
  p = argparse.ArgumentParser(prog=argv[0], description=__doc__.split("\n")[0])
  p.add_argument("--sizes", default="250,512,1024", help="max_size values (finest side, px)")
  p.add_argument("--step_loops", default="unrolled,scan", help="config.step_loop values")
  p.add_argument("--image", default="", help="image whose aspect is used (default: example)")
  p.add_argument("--run", action="store_true", help="run each once and read the device peak")
  p.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE", help="config")
  return p.parse_args(argv[1:])


def plan_at(cfg, size: int, h: int, w: int):
  """The scale plan of an h x w image scaled so that its longer side is `size`."""
  from singan_jax import config as config_lib  # pylint: disable=g-import-not-at-top

  scale = size / max(h, w)
  cfg = copy.deepcopy(cfg)
  cfg.max_size = size
  return cfg, config_lib.scale_plan(cfg, max(round(h * scale), 1), max(round(w * scale), 1))


def footprint_mib(compiled) -> float:
  """XLA's device footprint of a compiled program, MiB (nan when it reports none)."""
  m = compiled.memory_analysis()
  if m is None:
    return float("nan")
  total = (
    m.argument_size_in_bytes + m.output_size_in_bytes - m.alias_size_in_bytes + m.temp_size_in_bytes
  )
  return total / 2**20


def compile_case(cfg, size: int, loop: str, h: int, w: int) -> dict:
  """The finest scale of `size` compiled with step_loop `loop`: its record and program."""
  cfg, plan = plan_at(cfg, size, h, w)
  cfg.step_loop = loop
  n = plan.num_scales - 1
  compiled, state, inputs, _, _, compile_s = bench_train.jax_case(cfg, plan, n)
  record = {
    "size": size,
    "step_loop": loop,
    "finest": list(plan.shapes[n]),
    "nfc": plan.nfc[n],
    "scales": plan.num_scales,
    "xla_mib": round(footprint_mib(compiled), 1),
    "compile_s": round(compile_s, 1),
  }
  return record, (compiled, state, inputs)


def run_peaks(cases: list) -> None:
  """Runs each compiled case once, smallest footprint first, and records the device's
  high-water mark in its record where it rose (None where the backend reports none)."""
  from singan_jax.training import monitor  # pylint: disable=g-import-not-at-top

  last = monitor.peak_device_bytes() or 0
  for record, (compiled, state, inputs) in sorted(cases, key=lambda c: c[0]["xla_mib"]):
    try:
      common.block(compiled(state, inputs))
    except Exception as e:  # pylint: disable=broad-except
      record["run_error"] = str(e).splitlines()[0][:200]  # e.g. out of memory: say so
      continue
    peak = monitor.peak_device_bytes()
    if peak is not None and peak > last:
      record["device_peak_mib"] = round(peak / 2**20, 1)
      last = peak


def main(argv):
  args = parse(argv)
  import jax  # pylint: disable=g-import-not-at-top

  cfg = common.override(bench_train.bench_config(argparse.Namespace(size=250)), args.set)
  h, w, source = bench_train.image_shape(args.image)
  sizes = [int(s) for s in args.sizes.split(",")]
  loops = args.step_loops.split(",")
  print(f"# bench memory: finest scale of {source}'s aspect at max_size {sizes}, {loops}")
  print(f"# jax {jax.__version__} on {jax.default_backend()}, conv_impl {cfg.conv_impl}")
  cases = []
  for size in sizes:
    for loop in loops:
      record, program = compile_case(cfg, size, loop, h, w)
      print(f"# {record}", flush=True)
      cases.append((record, program if args.run else None))
  if args.run:
    run_peaks(cases)
  records = [r for r, _ in cases]
  header = ["max_size", "finest", "nfc", "step_loop", "XLA MiB", "device peak MiB", "compile s"]
  rows = [
    [
      r["size"],
      "x".join(map(str, r["finest"])),
      r["nfc"],
      r["step_loop"],
      r["xla_mib"],
      r.get("device_peak_mib", r.get("run_error", "-")),
      r["compile_s"],
    ]
    for r in records
  ]
  print()
  common.print_table(header, rows)
  print()
  common.print_json({"backend": jax.default_backend(), "source": source, "cases": records})
