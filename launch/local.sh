#!/usr/bin/env bash
# Batched inpainting of many images on this machine (its CPU cores, or its one GPU/TPU).
#
#   IMAGES='photos/*.png' WORKDIR=runs/photos CONFIG=configs/demo.py bash launch/local.sh
#
# IMAGES: a glob (each NAME.png with NAME_mask.png beside it, white = hole) or a manifest
# (.csv with header image,mask,output, or .jsonl). Extra arguments go to singan_jax.main,
# e.g. --config.niter=100. Outputs: $WORKDIR/<name>/inpainted.png and $WORKDIR/status.json.
set -euo pipefail

IMAGES="${IMAGES?set IMAGES to a glob such as 'photos/*.png' or a manifest .csv/.jsonl}"
WORKDIR="${WORKDIR?set WORKDIR to the directory for checkpoints and outputs}"
CONFIG="${CONFIG?set CONFIG to a config file, e.g. configs/demo.py (fast) or configs/default.py}"

cd "$(dirname "$0")/.."
python -m singan_jax.main --mode=inpaint --config="${CONFIG}" \
  --config.images="${IMAGES}" --workdir="${WORKDIR}" "$@"
