"""`python -m singan_jax.evaluate`: the quality evaluation (singan_jax/evaluate/run.py)."""

from absl import app

from singan_jax.evaluate import run

if __name__ == "__main__":
  app.run(run.main)
