#!/usr/bin/env bash
# The training batch we ran on a lent GPU (one H100/H200 for one 10-minute call): thirteen
# jobs side by side on one card, each a plain `denoise.py` / `fmri_cs.py train` command.
#
#   usage: bash scripts/gpu_batch.sh S1 S2 SC [RUNS]
#     S1, S2  seconds of the two denoising stages (constant lr 1e-2, then 3e-3 halved every
#             3 epochs); each stage is stopped by SIGTERM (the engine saves a checkpoint) and
#             exported (best Set12 epoch);
#     SC      seconds of each patch-model job (CS-SC at 20/30/40/50 %, denoising sc at 25);
#     RUNS    run folder (default runs/gpu); a new one, or EXTRA=--resume to continue its runs.
#   Data: $STEREO_TV_SHARED (default ../shared); weights it starts from: the shipped files.
#   Every `timeout` sends SIGTERM, so each run continues with `--resume`.
set -u
S1=${1:?stage-1 seconds}; S2=${2:?stage-2 seconds}; SC=${3:?patch-job seconds}
R=${4:-runs/gpu}
SHARED=${STEREO_TV_SHARED:-../shared}
D=$SHARED/data/denoise
W=stereo_tv/weights/denoise
DEV=${DEVICE:-cuda}  # DEVICE=cpu for a dry run
# shellcheck disable=SC2206
EXTRA=(${EXTRA:-})   # extra train flags, e.g. EXTRA="--max-steps-per-epoch 1" for a dry run
export PYTHONUNBUFFERED=1 OMP_NUM_THREADS=1
mkdir -p "$R"

den() {  # den RUN SECONDS ARGS...: one stopped-by-time denoising training run, then export
  local run=$1 secs=$2; shift 2
  timeout -k 60 -s TERM "$secs" python scripts/denoise.py train --device "$DEV" --workers 0 \
    --data "$D/Train400" --val "$D/Set12" --val-limit 12 --relative-lr --loss psnr \
    --crop 180 --batch-size 16 --epochs 1000 --run-dir "$R/$run" "$@" "${EXTRA[@]}" >> "$R/$run.log" 2>&1
  python scripts/denoise.py export --device "$DEV" --run-dir "$R/$run" --out "$R/$run.pt" \
    >> "$R/$run.log" 2>&1
}

pixel_job() {  # pixel_job MODEL CONFIG SIGMA INIT
  local m=$1 cfg=$2 s=$3 init=$4 n=$1_$3
  den "$n" "$S1" --model "$m" --sigma "$s" --config "$cfg" --lr 1e-2 --lr-schedule constant \
    --init-from "$init"
  den "${n}_s2" "$S2" --model "$m" --sigma "$s" --config "$cfg" --lr 3e-3 --lr-every 3 \
    --lr-gamma 0.5 --init-from "$R/$n.pt"
}

for s in 5 15 25 50; do
  pixel_job tv-asym-eg configs/denoise/cpu-tv-fast.yaml "$s" "$W/tv-asym-eg_sigma$s.pt" &
  # sigma 25 is the only nltv-eg file trained with the v2 recipe: every sigma starts there
  pixel_job nltv-eg configs/denoise/cpu-nltv.yaml "$s" "$W/nltv-eg_sigma25.pt" &
done
for rate in 20 30 40 50; do
  ( timeout -k 60 -s TERM "$SC" python scripts/fmri_cs.py train --device "$DEV" --workers 0 \
      --config configs/mri/cs_sc.yaml --model cs-sc --rate "$rate" --lr-every 20 --lr-gamma 0.5 \
      --run-dir "$R/cs_sc_$rate" "${EXTRA[@]}" > "$R/cs_sc_$rate.log" 2>&1
    python scripts/fmri_cs.py export --run-dir "$R/cs_sc_$rate" --out "$R/cs_sc_$rate.pt" \
      >> "$R/cs_sc_$rate.log" 2>&1 ) &
done
( timeout -k 60 -s TERM "$SC" python scripts/denoise.py train --device "$DEV" --workers 2 \
    --model sc --sigma 25 --config configs/denoise/paper-patch.yaml --data "$D/Train400" \
    --val "$D/Set12" --val-limit 12 --lr-every 20 --run-dir "$R/sc_25" "${EXTRA[@]}" > "$R/sc_25.log" 2>&1
  python scripts/denoise.py export --device "$DEV" --run-dir "$R/sc_25" --out "$R/sc_25.pt" \
    >> "$R/sc_25.log" 2>&1 ) &
wait
