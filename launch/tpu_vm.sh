#!/usr/bin/env bash
# Batched inpainting on a Cloud TPU VM or pod slice: create it (unless it exists), copy the
# code and the images to every worker, install, run on all workers with --multihost (one
# process per worker, one mesh over every TPU core), and copy the results back.
#
#   PROJECT=my-project ZONE=us-central2-b TPU_NAME=singan ACCELERATOR=v4-16 \
#   RUNTIME=tpu-ubuntu2204-base IMAGES_DIR=./photos RESULTS_DIR=./results \
#   WORKDIR=/mnt/shared/singan CONFIG=configs/tpu.py bash launch/tpu_vm.sh
#
# IMAGES_DIR holds NAME.png + NAME_mask.png pairs (white = hole). WORKDIR must be one
# directory that every worker sees (NFS / Filestore / gcsfuse mount): checkpoints are written
# collectively and each image's output by the worker that owns it. Delete the TPU after:
#   gcloud compute tpus tpu-vm delete "$TPU_NAME" --project "$PROJECT" --zone "$ZONE"
set -euo pipefail

PROJECT="${PROJECT?set PROJECT to the Google Cloud project id}"
ZONE="${ZONE?set ZONE to a zone with TPU quota, e.g. us-central2-b}"
TPU_NAME="${TPU_NAME?set TPU_NAME to the TPU VM name to create or reuse}"
ACCELERATOR="${ACCELERATOR?set ACCELERATOR to a TPU type, e.g. v4-8 (one host) or v4-16 (pod slice)}"
RUNTIME="${RUNTIME?set RUNTIME to a TPU VM software version, e.g. tpu-ubuntu2204-base}"
IMAGES_DIR="${IMAGES_DIR?set IMAGES_DIR to the local folder of NAME.png + NAME_mask.png pairs}"
RESULTS_DIR="${RESULTS_DIR?set RESULTS_DIR to the local folder that receives the results}"
WORKDIR="${WORKDIR?set WORKDIR to a directory every TPU worker shares (NFS or gcsfuse mount)}"
CONFIG="${CONFIG?set CONFIG to the config file, e.g. configs/tpu.py}"

cd "$(dirname "$0")/.."
tpu=(gcloud compute tpus tpu-vm)
where=(--project "${PROJECT}" --zone "${ZONE}")

if ! "${tpu[@]}" describe "${TPU_NAME}" "${where[@]}" >/dev/null 2>&1; then
  "${tpu[@]}" create "${TPU_NAME}" "${where[@]}" \
    --accelerator-type "${ACCELERATOR}" --version "${RUNTIME}"
fi

# Code (tracked files only) and images to every worker.
bundle="$(mktemp -d)"
trap 'rm -rf "${bundle}"' EXIT
tar czf "${bundle}/singan_jax.tgz" setup.py README.md singan_jax configs launch
"${tpu[@]}" scp "${where[@]}" --worker=all "${bundle}/singan_jax.tgz" "${TPU_NAME}":
"${tpu[@]}" scp "${where[@]}" --worker=all --recurse "${IMAGES_DIR}" "${TPU_NAME}":photos

"${tpu[@]}" ssh "${TPU_NAME}" "${where[@]}" --worker=all --command "set -euo pipefail
  mkdir -p ~/singan_jax && tar xzf ~/singan_jax.tgz -C ~/singan_jax
  python3 -m venv ~/singan-venv
  ~/singan-venv/bin/pip install --quiet -e ~/singan_jax 'jax[tpu]==0.10.2'"

"${tpu[@]}" ssh "${TPU_NAME}" "${where[@]}" --worker=all --command "set -euo pipefail
  cd ~/singan_jax
  ~/singan-venv/bin/python -m singan_jax.main --mode=inpaint --config=${CONFIG} --multihost \
    --config.images=\"\$HOME/photos/*.png\" --workdir='${WORKDIR}'"

mkdir -p "${RESULTS_DIR}"
"${tpu[@]}" scp "${where[@]}" --worker=0 --recurse "${TPU_NAME}:${WORKDIR}" "${RESULTS_DIR}"
echo "results in ${RESULTS_DIR} (per-image status: ${RESULTS_DIR}/status.json)"
