#!/usr/bin/env bash
# Train a model on the GPU machine: Keras on the JAX backend (there is no TensorFlow there), batches from a
# PyDataset, the data from a pack (python -m training.data_pack), whole epochs within a time budget in seconds
# (training.train --time-budget: exit status 75 when it stopped before the last epoch), resumable.
#
#   scripts/device-train.sh NAME SECONDS [training.train options...]
#
# The run's folder is .devdata/runs/NAME; a second call with the same NAME goes on from its last epoch (--resume).
# Its records, and its exported model or what going on needs, are copied to $OUT/NAME (below).
# docs/gpu-training.md: how to call it from the device tool, what to carry, and how to bring the files back.
# Settings from the environment: OUT (required), PYTHON (python3), DATA (.devdata/fer2013-train.npz),
# RUNS (.devdata/runs), WHEELS (.whl), KERAS_BACKEND (jax).
set -uo pipefail
if [ $# -lt 2 ]; then
    echo "usage: $0 NAME SECONDS [training.train options...]" >&2
    exit 2
fi
name=$1 budget=$2
shift 2
: "${OUT:?set OUT: the folder whose files come back}"
python=${PYTHON:-python3}
data=${DATA:-.devdata/fer2013-train.npz}
run=${RUNS:-.devdata/runs}/$name
if [ ! -f "$data" ]; then
    echo "no data pack at $data: run python -m training.data_pack here and carry .devdata" >&2
    exit 2
fi
wheels=${WHEELS:-.whl}
if compgen -G "$wheels/*.whl" >/dev/null && [ ! -d /tmp/site/keras ]; then  # Keras and its needs the machine lacks
    "$python" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site "$wheels"/*.whl || exit 3
    export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH}
fi
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH} KERAS_BACKEND=${KERAS_BACKEND:-jax} PYTHONUNBUFFERED=1
mkdir -p "$run"
resume=()
[ -f "$run/last.keras" ] && resume=(--resume)
# The trainer stops itself at an epoch's end within the budget; timeout only guards against a hang.
timeout --kill-after=20 "$((budget + 90))" "$python" -m training.train --data "$data" --run-dir "$run" \
    --export "$run/fer_model.keras" --time-budget "$budget" "${resume[@]}" "$@" 2>&1 | tee -a "$run/train.log"
code=${PIPESTATUS[0]}
# What comes back (the device tool brings back 8 files at most, so two stages can share one call): the run's
# records (config, state, CSV log, output) as one tar, then the exported model if it finished, or what --resume
# needs if the budget cut it (the last and best checkpoints, the running weight average).
mkdir -p "$OUT/$name"
records=()
for file in config.json state.json log.csv train.log; do
    if [ -f "$run/$file" ]; then records+=("$file"); fi
done
tar -cf "$OUT/$name/records.tar" -C "$run" "${records[@]}"
if [ "$code" = 0 ]; then kept=(fer_model.keras); else kept=(last.keras best.keras swa_running.npz); fi
for file in "${kept[@]}"; do
    if [ -f "$run/$file" ]; then cp "$run/$file" "$OUT/$name/"; fi
done
if [ "$code" = 75 ]; then echo "stopped within the $budget s budget: call again with the same NAME to go on"; fi
exit "$code"
