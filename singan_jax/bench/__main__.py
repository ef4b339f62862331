"""Dispatches `python -m singan_jax.bench <subcommand> [flags]` to singan_jax.bench.<subcommand>."""

import importlib
import sys

SUBCOMMANDS = ("train", "fill", "infer", "batch", "png16", "conv", "memory")


USAGE = (
  f"usage: python -m singan_jax.bench {{{','.join(SUBCOMMANDS)}}} [flags]\n"
  "  (python -m singan_jax.bench SUBCOMMAND --help: that benchmark's flags)"
)


def main() -> None:
  if len(sys.argv) == 2 and sys.argv[1] in ("-h", "--help"):
    print(USAGE)
    return
  if len(sys.argv) < 2 or sys.argv[1] not in SUBCOMMANDS:
    sys.exit(USAGE)
  name = sys.argv[1]
  module = importlib.import_module(f"singan_jax.bench.{name}")
  module.main([f"singan_jax.bench {name}"] + sys.argv[2:])


if __name__ == "__main__":
  main()
