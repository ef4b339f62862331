#!/usr/bin/env bash
# One prepared check of singan-jax on a GPU machine (an H200 with jax, torch, flax, optax and
# orbax installed, nothing installed by this script): versions, the float32 parity tests,
# `bench train` at the coarsest, middle and finest scale of the default plan (JAX against the
# PyTorch port, lean and 2019-faithful, on CUDA where torch sees it), `bench memory` (the
# finest scale at max_size 250, 512 and 1024, unrolled and scanned steps), `bench batch` at
# B = 1, 8, 32 with grouped and unrolled per-image convolutions, unrolled D/G steps against the
# scanned ones (the accelerators' default), float32 (highest precision), TF32-allowed float32
# and bfloat16, then the default run (8 scales x 2000 iterations of the bundled example) for
# the time left, SIGTERMed at the end so it saves and says where it was.
#
#   OUT=/tmp/out bash launch/gpu_check.sh                 # at most BUDGET_S (530) seconds
#   OUT=/tmp/out DRY_RUN=1 bash launch/gpu_check.sh       # tiny shapes on the CPU
#
# Each step runs under its own `timeout` (times STEP_TIME_FACTOR), capped so that the default
# run keeps FULL_MIN_S seconds, and its record is written as soon as it ends:
# OUT/results.jsonl (one JSON line per step), OUT/results.md (the table) and OUT/log.txt
# (every step's output, as it runs). Pure Python wheels missing on the machine (ml_collections)
# are imported from WHEELS/*.whl (default .whl in the repository root, carried), zip-imported:
# no install step. docs/gpu.md has the details.
set -euo pipefail

OUT="${OUT?set OUT to the folder that receives results.jsonl, results.md and log.txt}"
DRY_RUN="${DRY_RUN:-0}"
BUDGET_S="${BUDGET_S:-530}"
FULL_MIN_S="${FULL_MIN_S:-120}"
STEP_TIME_FACTOR="${STEP_TIME_FACTOR:-1}"  # multiplies every step's limit (a loaded CPU)
WHEELS="${WHEELS:-.whl}"

mkdir -p "${OUT}"
OUT="$(cd "${OUT}" && pwd)"
cd "$(dirname "$0")/.."
WORK="$(mktemp -d)"
trap 'rm -rf "${WORK}"' EXIT
PYTHONPATH="${PWD}${PYTHONPATH:+:${PYTHONPATH}}"
for wheel in "${WHEELS}"/*.whl; do  # WHEELS: absolute, or relative to the repository root
  if [[ -e "${wheel}" ]]; then
    [[ "${wheel}" == /* ]] || wheel="${PWD}/${wheel}"
    PYTHONPATH="${PYTHONPATH}:${wheel}"
  fi
done
export PYTHONPATH PYTHONUNBUFFERED=1
PY="${PYTHON:-python3}"

TRAIN_SCALES=(coarsest middle finest)
TRAIN_ARGS=(--iters 5 --no-ceilings --torch_device auto)
BATCH_SCALES=(coarse middle finest)
BATCH_ARGS=(--batch_sizes 1,8,32 --conv_batching grouped,unrolled --repeats 3 --iters 2)
DTYPES=(highest default bfloat16)
DTYPE_SCALES=ends
MEMORY_ARGS=(--run)
PYTEST=(-q -p no:cacheprovider)
COLLECT_ONLY=()
FULL_ARGS=(--config.sheets=False)
if [[ "${DRY_RUN}" == 1 ]]; then
  export JAX_PLATFORMS=cpu
  export XLA_FLAGS="${XLA_FLAGS:-} --xla_backend_optimization_level=0"
  TINY=(--set max_size=40 --set min_size=25 --set nfc=8 --set min_nfc=8 --set Dsteps=1 --set Gsteps=1)
  TRAIN_SCALES=(coarsest)
  TRAIN_ARGS=(--iters 1 --no-ceilings --torch_device auto "${TINY[@]}")
  BATCH_SCALES=(coarse)
  BATCH_ARGS=(--batch_sizes 1,2 --conv_batching grouped --repeats 1 --iters 1 "${TINY[@]}")
  DTYPES=(bfloat16)
  DTYPE_SCALES=coarsest
  MEMORY_ARGS=(--run --sizes 40 "${TINY[@]}")
  COLLECT_ONLY=(--collect-only)
  FULL_ARGS+=(--config.max_size=40 --config.min_size=25 --config.nfc=8 --config.min_nfc=8
    --config.Dsteps=1 --config.Gsteps=1 --config.niter=5 --config.log_every=5)
fi

START="$(date +%s)"
elapsed() { echo $(($(date +%s) - START)); }

# step NAME LIMIT_S CMD...: runs CMD under `timeout` (LIMIT_S, cut to keep FULL_MIN_S for the
# default run; `full` gets what is left), its output streamed to OUT/log.txt, then records it.
step() {
  local name="$1" limit=$(($2 * STEP_TIME_FACTOR))
  shift 2
  local left=$((BUDGET_S - $(elapsed) - 20))
  [[ "${name}" != full ]] && left=$((left - FULL_MIN_S))
  ((limit > left)) && limit="${left}"
  local log="${WORK}/${name}.log" t0 rc=0
  if ((limit < 5)); then
    echo "skipped: no time left" >"${log}"
    "${PY}" -m singan_jax.bench.gpu_record add "${OUT}" "${name}" 125 0 "${log}"
    return 0
  fi
  echo "== ${name} (limit ${limit} s, at $(elapsed) s): $*" | tee -a "${OUT}/log.txt"
  t0="$(date +%s)"
  set +e
  timeout --kill-after=15 "${limit}" "$@" 2>&1 | tee "${log}" >>"${OUT}/log.txt"
  rc="${PIPESTATUS[0]}"
  set -e
  "${PY}" -m singan_jax.bench.gpu_record add "${OUT}" "${name}" "${rc}" \
    $(($(date +%s) - t0)) "${log}" | tee -a "${OUT}/log.txt"
}

step env 60 bash -c "${PY} -m singan_jax.bench.gpu_record env; nvidia-smi || true"
step parity 90 env JAX_DEFAULT_MATMUL_PRECISION=highest \
  "${PY}" -m pytest "${PYTEST[@]}" "${COLLECT_ONLY[@]}" -m "parity and not slow" tests
for s in "${TRAIN_SCALES[@]}"; do
  step "train_${s}" 60 "${PY}" -m singan_jax.bench train --scales "${s}" "${TRAIN_ARGS[@]}"
done
step memory 90 "${PY}" -m singan_jax.bench memory "${MEMORY_ARGS[@]}"
for s in "${BATCH_SCALES[@]}"; do
  step "batch_${s}" 60 "${PY}" -m singan_jax.bench batch --scales "${s}" "${BATCH_ARGS[@]}"
done
step steploop_unrolled 45 "${PY}" -m singan_jax.bench train --scales "${DTYPE_SCALES}" \
  --variants jax --set step_loop=unrolled "${TRAIN_ARGS[@]}"
for d in "${DTYPES[@]}"; do
  if [[ "${d}" == bfloat16 ]]; then
    cmd=(env JAX_DEFAULT_MATMUL_PRECISION=highest "${PY}" -m singan_jax.bench train --dtype bfloat16)
  else
    cmd=(env JAX_DEFAULT_MATMUL_PRECISION="${d}" "${PY}" -m singan_jax.bench train)
  fi
  step "dtype_${d}" 45 "${cmd[@]}" --scales "${DTYPE_SCALES}" --variants jax "${TRAIN_ARGS[@]}"
done
step bf16_tolerance 30 env JAX_DEFAULT_MATMUL_PRECISION=highest \
  "${PY}" -m pytest "${PYTEST[@]}" -m slow tests/test_perf.py -k bfloat16
step full "${BUDGET_S}" "${PY}" -m singan_jax.main --mode=train --workdir="${WORK}/full" \
  "${FULL_ARGS[@]}"
if [[ -f "${OUT}/results.md" ]]; then
  cat "${OUT}/results.md"
fi
