#!/usr/bin/env bash
# The training batches we run on a lent GPU (one H100/H200 for one 10-minute call): jobs side by
# side on one card, each a plain `denoise.py` / `fmri_cs.py train` command, stopped by SIGTERM
# (the engine saves a checkpoint) and exported (best validation epoch).
#
#   usage: [JOBS="..."] bash scripts/gpu_batch.sh S1 S2 SC [RUNS]
#     S1, S2  seconds of the two pixel-model stages (tv, nltv: constant lr 1e-2, then 3e-3 halved
#             every 3 epochs); kappas runs one stage of S1 + S2 seconds (3e-3 halved every 3);
#     SC      seconds of each patch-model job;
#     RUNS    run folder (default runs/gpu). A run whose folder holds a checkpoint resumes it,
#             so running the same batch again continues every run.
#     JOBS    job groups (default "tv nltv cs-sc sc25", session 3's batch):
#               tv      tv-asym-eg at sigma 5/15/25/50, from the shipped files;
#               nltv    nltv-eg at sigma 5/15/25/50, from the shipped sigma-25 file, on its
#                       dense 5x5 graph (--nl-k 24 --nl-window 5);
#               kappas  nltv-eg-kappas at sigma 5/15/25/50, from the shipped files;
#               cs-sc   CS sparse coding at 20/30/40/50 %: a run in RUNS resumes, else it
#                       continues the shipped file at lr 3e-4 (session 11 trained them from
#                       scratch for 20 epochs at 6e-4, halved at 20; still rising);
#               sc25    denoising sc at sigma 25 (dictionary learned on Train400);
#               sc      denoising sc at sigma 15/50 from the shipped sigma-25 file, and at
#                       sigma 5 from the sigma-15 file at lr 1e-4 (session 6: from sigma 25 at
#                       6e-4 it stalled at 36.5 dB; the sigma-15 file starts at 37.0);
#               scplus  sc-var, sc-tv, sc-tv-var at sigma 25, from the shipped sc file (the
#                       added terms start at 0), lr 2e-4 (session 11: 25-44 epochs, shipped);
#               sclow   sc at sigma 15/25/50, continued from the shipped files at lr 2e-4 (the
#                       scplus recipe: session 11's ablation put most of sc-var / sc-tv's gain
#                       over sc on that training, not on the added terms; this is the control);
#                       session 17 (H200, 63-99 epochs): Set12 +0.14 / +0.28 / +0.07 dB, shipped
#               nldense nltv-eg-kappas on a dense 5x5 graph (--nl-k 24 --nl-window 5: every
#                       other pixel of the window, no top-k) at sigma 15/25/50, from the shipped
#                       files; the S1 / S2 stages of `tv` (session 10 on the CPU: the dense graph
#                       gained 0.05-0.27 dB on the Train400 proxy for nltv-eg at sigma 15-50 and
#                       ships there, lost at sigma 5; kappas at 25 had one short stage only).
#                       (Session 7-9's `nlnorm` group, nltv-eg with the unsquared distance, is
#                       gone: the sigma 15/50 files have it, and at 25 it gained nothing.)
#               nlself  nltv-eg and nltv-eg-kappas with --nl-self (the pixel in its own softmax
#                       at a learned distance) at sigma 5/15/25/50, from the shipped files of
#                       each sigma; the S1 / S2 stages of `tv` (session 12 on the CPU, sigma 25:
#                       the Train400 proxy gained 0.07-0.13 dB in the first 6-19 epochs).
#                       Since session 13 every shipped file has --nl-self: this trains them on.
#               nlblend nltv-eg and nltv-eg-kappas with --nl-blend (a rebuilt graph blended
#                       with the previous one at a learned weight) at sigma 5/15/50 (and 25 for
#                       the kappas game), from the shipped files; the S1 / S2 stages of `tv`
#                       (session 14 on the CPU, nltv-eg at sigma 25: 61 epochs took the proxy
#                       from 28.23 to 28.33 dB as the blend fell from 3 to -1.7).
#               sceps   sc at sigma 25 from the learned dictionary, as sc25, with Adam's
#                       epsilon at 5e-7 instead of torch's 1e-8. The authors' GroupSC code
#                       (bruno-31/groupsc, read, not copied) trains with eps 1e-3 on a loss
#                       summed over a crop's 56x56 pixels (border pixels weighted down), about
#                       2000 times our mean loss, so its eps is about 5e-7 here; it damps the
#                       steps of the many dictionary entries whose gradients are small. sc25
#                       (session 3: 29.12 dB on Set12 after 30 epochs) is the control.
#                       Session 17 (H200): 29.07 after 30 epochs, 29.15 after 85, flat: no gain.
#               nlgroup nlgroup and nlgroup-var at sigma 25, started from the shipped sc and
#                       sc-var files (the l1 strengths become the group strengths, see
#                       rescale_to_sigma), lr 2e-4 halved every 20 epochs. Session 17 (H200):
#                       nlgroup's start scored 0.08 dB under its source on two Train400 crops,
#                       0.44 on Set12 (28.74, the sc file 29.18); training did not raise it
#                       (28.70 at best after 8 epochs) and it collapsed at epoch 9; each job
#                       took 46 GB of GPU memory (two of them pushed three other jobs out of
#                       memory). Since then the jobs pass
#                       --grad-checkpoint (benchmarks/core_speed.py, one 112x112 image on the
#                       CPU: 0.87 GB instead of 6.75, 23% more time)
#               ngprox  the group game with group soft-thresholding (--group-prox --nl-self):
#                       nlgroup at sigma 5/15/25/50 from its shipped files (session 18: the sc
#                       files converted, untrained; 8 CPU epochs at sigma 25 gained nothing,
#                       a step of 8 crops takes 30 s there), and nlgroup-var / -tv / -var-tv
#                       at 25 from the sc-var / sc-tv / sc-tv-var files; lr 1e-4 halved every
#                       20 epochs, --val-start (the start is epoch 0, so no export falls under
#                       it), --grad-checkpoint
#               scmore  sc-var, sc-tv, sc-tv-var at sigma 25 continued from their shipped files
#                       (scplus's runs), lr 1e-4 halved every 20 epochs (session 17: +0.06-0.07
#                       dB on Set12 in 16-40 epochs; shipped, as is sclow: +0.07-0.28 dB)
#               scbb    sc-bb (the Barzilai-Borwein step) at sigma 5/15/25/50 from the shipped
#                       sc files with --center-patches (the conversion is exact for sc; the BB
#                       game's steps start at 0.4 x the file's), lr 1e-4 halved every 20
#                       epochs, --val-start. Session 19 (CPU): the start scored 29.45 dB on 4
#                       Train400 images where the sc file scored 29.47
#               nlema   nltv-eg at sigma 15/25/50 and nltv-eg-kappas at 25 from the shipped
#                       files: one stage of S1 + S2 seconds at constant relative lr 3e-3 with
#                       --ema 0.998, validated on 100 Train400 images every 2 epochs (the recipe
#                       of the tv-asym-eg v15 files, session 16 on the CPU)
#   Data: $STEREO_TV_SHARED (default ../shared); weights it starts from: the shipped files.
#   On a lent machine that gets only the repository (session 11): copy denoise/{Train400,Set12}
#   and mri/{ChestTrain,masks,masks_mat} (38 MB) into a git-excluded shared/ in the repo, carry
#   it, set STEREO_TV_SHARED=$PWD/shared, and split the tarred RUNS into files under 16 MiB.
set -u
S1=${1:?stage-1 seconds}; S2=${2:?stage-2 seconds}; SC=${3:?patch-job seconds}
R=${4:-runs/gpu}
JOBS=" ${JOBS:-tv nltv cs-sc sc25} "
SHARED=${STEREO_TV_SHARED:-../shared}
D=$SHARED/data/denoise
W=stereo_tv/weights/denoise
DEV=${DEVICE:-cuda}  # DEVICE=cpu for a dry run
# shellcheck disable=SC2206
EXTRA=(${EXTRA:-})   # extra train flags, e.g. EXTRA="--max-steps-per-epoch 1" for a dry run
export PYTHONUNBUFFERED=1 OMP_NUM_THREADS=1
mkdir -p "$R"

want() { [[ $JOBS == *" $1 "* ]]; }
resume() { [ -f "$R/$1/checkpoints/last.pt" ] && echo --resume; }  # resume RUN

den() {  # den RUN SECONDS ARGS...: one stopped-by-time denoising training run, then export
  local run=$1 secs=$2; shift 2
  # shellcheck disable=SC2046
  timeout -k 60 -s TERM "$secs" python scripts/denoise.py train --device "$DEV" --workers 0 \
    --data "$D/Train400" --val "$D/Set12" --val-limit 12 --run-dir "$R/$run" $(resume "$run") \
    "$@" "${EXTRA[@]}" >> "$R/$run.log" 2>&1
  python scripts/denoise.py export --device "$DEV" --run-dir "$R/$run" --out "$R/$run.pt" \
    >> "$R/$run.log" 2>&1
}

pixel() {  # pixel ARGS...: the pixel-model training flags
  den "$@" --relative-lr --loss psnr --crop 180 --batch-size 16 --epochs 1000
}

pixel_job() {  # pixel_job NAME MODEL CONFIG SIGMA INIT [ARGS...]: two stages (runs NAME_SIGMA
  # and NAME_SIGMA_s2), ARGS passed to both
  local m=$2 cfg=$3 s=$4 init=$5 n=$1_$4
  shift 5
  pixel "$n" "$S1" --model "$m" --sigma "$s" --config "$cfg" --lr 1e-2 --lr-schedule constant \
    --init-from "$init" "$@"
  pixel "${n}_s2" "$S2" --model "$m" --sigma "$s" --config "$cfg" --lr 3e-3 --lr-every 3 \
    --lr-gamma 0.5 --init-from "$R/$n.pt" "$@"
}

patch_job() {  # patch_job RUN MODEL SIGMA ARGS...: a patch model by the paper's recipe
  # (configs/denoise/paper-patch.yaml) with epochs of one crop per image (400 crops, as every
  # run before session 19; the config's epoch is now 32 crops per image), learning rate lowered
  # every 20 epochs
  local run=$1 m=$2 s=$3; shift 3
  den "$run" "$SC" --model "$m" --sigma "$s" --config configs/denoise/paper-patch.yaml \
    --crops-per-image 1 --lr-every 20 "$@"
}

sc_job() {  # sc_job SIGMA ARGS...: the paper's SC
  patch_job "sc_$1" sc "$@"
}

for s in 5 15 25 50; do
  want tv && pixel_job tv-asym-eg tv-asym-eg configs/denoise/cpu-tv-fast.yaml "$s" \
    "$W/tv-asym-eg_sigma$s.pt" &
  # every sigma starts from the sigma-25 file (session 3: the only one trained with the v2 recipe)
  want nltv && pixel_job nltv-eg nltv-eg configs/denoise/cpu-nltv.yaml "$s" "$W/nltv-eg_sigma25.pt" \
    --nl-k 24 --nl-window 5 &
  want kappas && pixel "nltv-eg-kappas_$s" $((S1 + S2)) --model nltv-eg-kappas --sigma "$s" \
    --config configs/denoise/cpu-nltv.yaml --lr 3e-3 --lr-every 3 --lr-gamma 0.5 \
    --init-from "$W/nltv-eg-kappas_sigma$s.pt" &
  [ "$s" != 5 ] && want nldense && pixel_job nltv-eg-kappas-dense nltv-eg-kappas \
    configs/denoise/cpu-nltv.yaml "$s" "$W/nltv-eg-kappas_sigma$s.pt" --nl-k 24 --nl-window 5 &
  for m in nltv-eg nltv-eg-kappas; do
    want nlself && pixel_job "$m-self" "$m" configs/denoise/cpu-nltv.yaml "$s" \
      "$W/${m}_sigma$s.pt" --nl-self &
    [ "$m$s" != nltv-eg25 ] && want nlblend && pixel_job "$m-blend" "$m" \
      configs/denoise/cpu-nltv.yaml "$s" "$W/${m}_sigma$s.pt" --nl-blend &
  done
done
nl_ema() {  # nl_ema MODEL SIGMA: one stage of S1 + S2 seconds with the weight average
  pixel "$1-ema_$2" $((S1 + S2)) --model "$1" --sigma "$2" --config configs/denoise/cpu-nltv.yaml \
    --lr 3e-3 --lr-schedule constant --ema 0.998 --init-from "$W/$1_sigma$2.pt" \
    --val "$D/Train400" --val-stride 4 --val-limit 100 --val-every 2
}
for s in 15 25 50; do
  want nlema && nl_ema nltv-eg "$s" &
done
want nlema && nl_ema nltv-eg-kappas 25 &
cs_sc_start() {  # cs_sc_start RATE: resume the run, else continue from the shipped file
  resume "cs_sc_$1" || echo --init-from "stereo_tv/weights/mri/cs_sc_$1.pt" --lr 3e-4
}
for rate in 20 30 40 50; do
  want cs-sc || continue
  # shellcheck disable=SC2046
  ( timeout -k 60 -s TERM "$SC" python scripts/fmri_cs.py train --device "$DEV" --workers 0 \
      --config configs/mri/cs_sc.yaml --model cs-sc --rate "$rate" --lr-every 20 --lr-gamma 0.5 \
      --run-dir "$R/cs_sc_$rate" $(cs_sc_start "$rate") "${EXTRA[@]}" \
      >> "$R/cs_sc_$rate.log" 2>&1
    python scripts/fmri_cs.py export --run-dir "$R/cs_sc_$rate" --out "$R/cs_sc_$rate.pt" \
      >> "$R/cs_sc_$rate.log" 2>&1 ) &
done
want sc25 && sc_job 25 &
want sceps && patch_job sceps_25 sc 25 --adam-eps 5e-7 &
for s in 15 50; do
  want sc && sc_job "$s" --init-from "$W/sc_sigma25.pt" &
done
want sc && sc_job 5 --init-from "$W/sc_sigma15.pt" --lr 1e-4 &
for s in 15 25 50; do
  want sclow && patch_job "sclow_$s" sc "$s" --lr 2e-4 --lr-gamma 0.5 \
    --init-from "$W/sc_sigma$s.pt" &
done
for m in sc-var sc-tv sc-tv-var; do
  want scplus && patch_job "${m}_25" "$m" 25 --lr 2e-4 --lr-gamma 0.5 \
    --init-from "$W/sc_sigma25.pt" &
done
for m in nlgroup nlgroup-var; do
  want nlgroup && patch_job "${m}_25" "$m" 25 --lr 2e-4 --lr-gamma 0.5 \
    --init-from "$W/${m/nlgroup/sc}_sigma25.pt" --grad-checkpoint &
done
for s in 5 15 25 50; do        # the shipped files carry --nl-self --group-prox (inherited)
  want ngprox && patch_job "ngprox_$s" nlgroup "$s" --lr 1e-4 --lr-gamma 0.5 \
    --init-from "$W/nlgroup_sigma$s.pt" --grad-checkpoint --val-start &
done
for m in sc-var sc-tv sc-tv-var; do
  g=${m/sc/nlgroup}; g=${g/nlgroup-tv-var/nlgroup-var-tv}
  want ngprox && patch_job "ngprox_${g}_25" "$g" 25 --lr 1e-4 --lr-gamma 0.5 --nl-self \
    --group-prox --init-from "$W/${m}_sigma25.pt" --grad-checkpoint --val-start &
done
for s in 5 15 25 50; do
  want scbb && patch_job "scbb_$s" sc-bb "$s" --lr 1e-4 --lr-gamma 0.5 --center-patches \
    --init-from "$W/sc_sigma$s.pt" --val-start &
done
for m in sc-var sc-tv sc-tv-var; do
  want scmore && patch_job "${m}_more_25" "$m" 25 --lr 1e-4 --lr-gamma 0.5 \
    --init-from "$W/${m}_sigma25.pt" &
done
wait
