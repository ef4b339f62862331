"""Benchmarks that print side-by-side ratios (never wall-clock assertions).

  python -m singan_jax.bench {train,fill,infer,batch} [flags]

Each subcommand lives in its own module here and exposes `main(argv)`; its last output line
is one JSON object with the figures.
"""
