#!/bin/bash
# The recipe of the toonfaces-stylegan2-64 run, from scratch or resumed.
# The shipped weights got there in stages (MODEL_CARD.md): 47.5 kimg on 16k images with R1 gamma 1 and no
# augmentation, then ADA, then from 127.5 kimg on 50k images with gamma 0.25 (run 5, and run A on a GPU
# at batch 64), then from 580.69 kimg without augmentation (run 6, batch 64), from 695.63 kimg with gamma
# 0.1 and no path length (run 7), from 735.57 kimg with lr 0.001 (run 8), and from run 8's 776.53-kimg
# G_ema with path length back on (run 9, 912.98 kimg), and from that export with a fresh D (run 10).
# From scratch this script runs run 5's settings; AUG=none BATCH=64 is run 6's stage, and
# AUG=none BATCH=64 R1_GAMMA=0.1 LR=0.001 run 9's, for a run past a few hundred kimg. Run 10's:
# INIT_G=toonfaces-stylegan2-64 FREEZE_G_KIMG=32 D_LR=0.0025 MBSTD=8 AUG=none BATCH=64 R1_GAMMA=0.1 LR=0.001
# (the shipped model's folder holds its D now, so FREEZE_G_KIMG is only needed for a fresh D).
#
#   scripts/train_toonfaces_stylegan2.sh                      # render the data if needed, train / resume
#   RUN=runs/my-toon PROCS=1 THREADS=2 scripts/train_toonfaces_stylegan2.sh
#   DEVICE=cuda PROCS=1 scripts/train_toonfaces_stylegan2.sh  # on a GPU
#
# Safe to rerun: --resume continues bit for bit from the run's latest checkpoint; SIGTERM or
# Ctrl-C checkpoints first. Settings (environment variables, defaults in brackets):
#   RUN   run folder [runs/toonfaces-stylegan2-64]
#   DATA  training images [data_cache/toonfaces64-50k, rendered here when missing: seeds 0-49999]
#   KIMG  stop after this many thousand images [10000]
#   PROCS torchrun processes [2: on a 2-core CPU, 2 ranks x 1 thread train ~30 % faster than 1 x 2]
#   THREADS  threads per process when PROCS=1 [2]
#   AUG   augmentation: none | ada [ada: the shipped run switched it on at 47.5 kimg, off at 580.69]
#   BATCH minibatch [16; run 6 used 64]
#   R1_GAMMA  R1 weight [0.25: the shipped run used 1 until 127.5 kimg, 0.1 from 695.63]
#   PL_WEIGHT path-length weight [2; 0 from 695.63 to 776.53 kimg]
#   LR    Adam learning rate of G and D [0.0025; 0.001 from 735.57 kimg]
#   D_LR  D's learning rate, if not LR [LR; 0.0025 in run 10]
#   INIT_G  start G, G_ema (and D, where its folder has discriminator/) from this model [none: from scratch]
#   FREEZE_G_KIMG  D trains alone for the first N kimg [0; 32 in run 10, whose D started fresh]
#   MBSTD minibatch-stddev group of a new D [4; 8 in run 10]
#   LOWRES_D  resolution of a second, low-resolution D [0: none; 16 in runs 24-25]
#   MAPPING_LR_SCALE  the mapping network's lr as a multiple of LR [1; 20 in run 25]
#   DEVICE cpu | cuda [cpu]
#   BF16  1: bf16 autocast, 0: float32 [1; use 0 where ganlens warns that bf16 is slower: CPUs without
#         AVX512-BF16, and some that list it (session 51's: 1.2 img/s in float32 on one thread)]
set -euo pipefail
cd "$(dirname "$0")/.."
RUN=${RUN:-runs/toonfaces-stylegan2-64}
DATA=${DATA:-data_cache/toonfaces64-50k}
GANLENS=${GANLENS:-.venv/bin/ganlens}
if [ ! -e "$DATA" ]; then
  "$GANLENS" data toonfaces --n 50000 --size 64 --seed 0 --out "$DATA" --workers "$(nproc)" --resume
fi
ARGS=(train stylegan2 --data "$DATA" --res 64 --out "$RUN" --kimg "${KIMG:-10000}" --batch "${BATCH:-16}"
  --z-dim 256 --w-dim 256 --map-layers 4 --channel-base 4096 --channel-max 128
  --d-channel-base 4096 --d-channel-max 128 --r1-gamma "${R1_GAMMA:-0.25}" --noise none
  --pl-weight "${PL_WEIGHT:-2}" --lr "${LR:-0.0025}"
  --aug "${AUG:-ada}" --ada-kimg 100 --d-lr "${D_LR:-${LR:-0.0025}}" --mbstd-group "${MBSTD:-4}"
  --freeze-g-kimg "${FREEZE_G_KIMG:-0}" --lowres-d "${LOWRES_D:-0}" --mapping-lr-scale "${MAPPING_LR_SCALE:-1}"
  --snapshot-kimg 2 --tick-kimg 0.5 --keep 3 --device "${DEVICE:-cpu}" --resume --no-progress)
[ "${BF16:-1}" = 1 ] && ARGS+=(--bf16)
[ -n "${INIT_G:-}" ] && ARGS+=(--init-g "$INIT_G" --ema-rampup 0)
export OMP_WAIT_POLICY=PASSIVE
if [ "${PROCS:-2}" -gt 1 ]; then
  export OMP_NUM_THREADS=1
  exec "$(dirname "$GANLENS")/python" -m torch.distributed.run --standalone --nproc_per_node "${PROCS:-2}" \
    "$GANLENS" "${ARGS[@]}" --threads 1
fi
exec "$GANLENS" "${ARGS[@]}" --threads "${THREADS:-2}"
