"""singan-jax: SinGAN and PC-SinGAN inpainting in JAX/Flax.

The Python entry point (singan_jax/api.py): train, inpaint, sample, apply, load, Pyramid, and
the shipped configs (singan_jax.configs.demo() etc.). They load on first use, so that
`python -m singan_jax.X` imports only what X needs.
"""

import importlib

__version__ = "0.1.0"
_API = ("train", "inpaint", "sample", "apply", "load", "Pyramid")


def __getattr__(name):
  if name in _API:
    return getattr(importlib.import_module("singan_jax.api"), name)
  if name == "configs":
    return importlib.import_module("singan_jax.configs")
  raise AttributeError(f"module 'singan_jax' has no attribute {name!r}")


def __dir__():
  return sorted([*globals(), *_API, "configs"])
