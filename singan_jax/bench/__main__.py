"""Dispatches `python -m singan_jax.bench <subcommand> [flags]` to singan_jax.bench.<subcommand>."""

import importlib
import sys

SUBCOMMANDS = ("train", "fill", "infer", "batch", "png16", "conv", "memory")


def main() -> None:
  if len(sys.argv) < 2 or sys.argv[1] not in SUBCOMMANDS:
    sys.exit(f"usage: python -m singan_jax.bench {{{','.join(SUBCOMMANDS)}}} [flags]")
  name = sys.argv[1]
  module = importlib.import_module(f"singan_jax.bench.{name}")
  module.main([f"singan_jax.bench {name}"] + sys.argv[2:])


if __name__ == "__main__":
  main()
