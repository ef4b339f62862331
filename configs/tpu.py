r"""Batched paper-default inpainting of a folder of images on a Cloud TPU VM or pod slice.

Every image trains with the paper's settings (2000 iterations per scale, finest scale 250 px,
PC-SinGAN, local-means fill); images whose pyramids share their shapes train as one batch,
sharded over every TPU core of every worker. Launch on all workers of a pod slice with:

  PROJECT=my-project ZONE=us-central2-b TPU_NAME=singan ACCELERATOR=v4-16 \
  RUNTIME=tpu-ubuntu2204-base IMAGES_DIR=./photos RESULTS_DIR=./results \
  WORKDIR=/mnt/shared/singan bash launch/tpu_vm.sh

which runs on every worker:

  python -m singan_jax.main --mode=inpaint --config=configs/tpu.py --multihost \
      --config.images='photos/*.png' --workdir=$WORKDIR

(multi-host runs need a --workdir that every worker sees, e.g. an NFS or gcsfuse mount).
"""

from singan_jax import config as defaults


def get_config():
  c = defaults.get_config()
  c.images = "photos/*.png"  # a glob (masks NAME_mask.png) or a manifest .csv / .jsonl
  c.common_size = ""  # keep each image's size: buckets of equal pyramid shapes
  c.checkpoint_every = 500  # a preempted worker resumes mid-scale
  c.log_every = 200
  c.sheets = False  # per-scale sheets of every image would dominate the I/O
  return c
