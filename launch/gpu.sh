#!/usr/bin/env bash
# Batched inpainting on a GPU machine: installs jax with CUDA into a virtualenv, then trains
# every bucket of images as one batch sharded over all the machine's GPUs (one process).
#
#   VENV=$HOME/singan-venv IMAGES='photos/*.png' WORKDIR=runs/photos \
#   CONFIG=configs/default.py bash launch/gpu.sh
#
# Extra arguments go to singan_jax.main. Outputs: $WORKDIR/<name>/inpainted.png, status.json.
set -euo pipefail

VENV="${VENV?set VENV to the virtualenv directory to create or reuse, e.g. \$HOME/singan-venv}"
IMAGES="${IMAGES?set IMAGES to a glob such as 'photos/*.png' or a manifest .csv/.jsonl}"
WORKDIR="${WORKDIR?set WORKDIR to the directory for checkpoints and outputs}"
CONFIG="${CONFIG?set CONFIG to a config file, e.g. configs/default.py or configs/tpu.py}"

cd "$(dirname "$0")/.."
if [[ ! -x "${VENV}/bin/python" ]]; then
  python3 -m venv "${VENV}"
fi
"${VENV}/bin/pip" install --quiet -e . "jax[cuda12]==0.10.2"
"${VENV}/bin/python" -c 'import jax; d = jax.devices(); print(len(d), "device(s):", d)'
"${VENV}/bin/python" -m singan_jax.main --mode=inpaint --config="${CONFIG}" \
  --config.images="${IMAGES}" --workdir="${WORKDIR}" "$@"
