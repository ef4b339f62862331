"""singan-jax: SinGAN and PC-SinGAN inpainting in JAX/Flax."""

__version__ = "0.1.0"
