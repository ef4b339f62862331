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

from singan_jax import configs


def get_config():
  return configs.tpu()
