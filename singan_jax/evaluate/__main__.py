"""`python -m singan_jax.evaluate`: the quality evaluation (singan_jax/evaluate/run.py)."""

from singan_jax import cli
from singan_jax.evaluate import run

if __name__ == "__main__":
  cli.run(run.main)
