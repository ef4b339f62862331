"""singan-jax: SinGAN and PC-SinGAN inpainting in JAX/Flax."""

from setuptools import find_packages, setup

# oneDNN's CPU wheels exist for x86-64 Linux only; elsewhere conv_impl='onednn' falls back.
_X86_LINUX = "; platform_system == 'Linux' and platform_machine == 'x86_64'"
ONEDNN = [f"onednn-cpu-gomp==2023.2.0{_X86_LINUX}", f"onednn-devel-cpu-gomp==2023.2.0{_X86_LINUX}"]
UI = ["gradio==6.31.0"]

setup(
  name="singan_jax",
  version="0.1.0",
  description="SinGAN / PC-SinGAN image inpainting in JAX and Flax (linen)",
  long_description=open("README.md", encoding="utf-8").read(),
  long_description_content_type="text/markdown",
  python_requires=">=3.10",
  packages=find_packages(include=["singan_jax", "singan_jax.*"]),
  package_data={"singan_jax": ["data/*.png", "core/onednn/*.cc"]},  # the .cc: built at first use
  install_requires=[
    "jax==0.10.2",
    "jaxlib==0.10.2",
    "flax==0.12.8",
    "optax==0.2.8",
    "orbax-checkpoint==0.12.8",
    "numpy==2.4.6",
    "imageio==2.38.1",
    "pillow==12.3.0",  # 12: what gradio (the ui extra) accepts
    "pypng==0.20220715.0",  # 16-bit PNG (grey and RGB), which Pillow cannot keep or write
    "absl-py==2.5.1",
    "chex==0.1.92",
    "ml_collections==1.1.0",
    "tensorboard==2.21.0",  # WORKDIR/tb: its event-file writer (no TensorFlow) and viewer
    "filelock==4.3.2",  # JAX's size cap on the per-user compilation cache (compile_cache.py)
    *ONEDNN,  # conv_impl 'platform' / 'onednn' on CPU (singan_jax/core/onednn)
  ],
  extras_require={
    "test": [
      "pytest==9.2.0",
      "pytest-xdist==3.8.0",
      "torch==2.13.0",
      "ruff==0.17.6",
      "matplotlib==3.11.2",
      # the evaluation's tests: the development set's images, the OpenCV and skimage fills
      "scikit-image==0.26.0",
      "opencv-python-headless==5.0.0.93",
      *ONEDNN,
      *UI,
      "playwright==1.65.3",  # the page's browser test drives Debian's chromium (.ci/run)
    ],
    # sheets/curves.png, the training curves (without it a warning, no picture)
    "plot": ["matplotlib==3.11.2"],
    # conv_impl='onednn': oneDNN 3.2 (CPU, GNU OpenMP) for the extension built at first use
    "onednn": ONEDNN,
    # python -m singan_jax.evaluate: the images (skimage.data, matplotlib's grace_hopper.jpg),
    # the OpenCV and biharmonic baselines
    "eval": ["scikit-image==0.26.0", "opencv-python-headless==5.0.0.93", "matplotlib==3.11.2"],
    # singan-jax-ui / python -m singan_jax.ui: the local inpainting page
    "ui": UI,
  },
  entry_points={
    "console_scripts": [
      "singan-jax=singan_jax.main:run",
      "singan-jax-ui=singan_jax.ui.__main__:run",
    ]
  },
)
