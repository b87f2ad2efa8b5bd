#!/bin/bash
# Train ToonFaces StyleGAN2 runs on a lent GPU machine (the workplace's device tool), in three calls:
#   scripts/gpu_toonfaces.sh start SECONDS   render the training renders, time training against
#                                            the batch size (benchmarks/train_batch_scaling.py), start
#                                            the runs in $RUNS and their realism watchers, watch SECONDS
#   scripts/gpu_toonfaces.sh watch SECONDS   report progress for SECONDS, then pack the best snapshots
#   scripts/gpu_toonfaces.sh final SECONDS   watch, stop the runs (they checkpoint on SIGTERM), measure
#                                            the last snapshots and pack everything worth keeping
#   scripts/gpu_toonfaces.sh once SECONDS    all in one call, without the batch-size table (for a device
#                                            budget of minutes: e.g. NDATA=50000 ... once 360)
# Run A continues from the checkpoint copied into $CARRY (G, D, G_ema, state.json: the optimiser files
# are left out to fit the 64 MiB the device tool carries in; Adam starts afresh) where there is one,
# else from the model $INIT_A (default: the shipped toonfaces-stylegan2-64, whose folder has the D it
# was trained against) with --init-g and a fresh Adam. Run B trains a wider generator (channel base
# 8192, max 256, 22.8 MB): by default $INIT_A grown to that width with `ganlens train stylegan2-widen`
# (same images at the start, and $INIT_A's D), with B_FROM=scratch from random weights with a D as
# wide (session 6's run B). Settings from the environment: RUNS ("A" or "A B",
# default A), BATCH (default 256: the 64-px model is launch-bound on a GPU, so images/s grow with the
# batch), AUG (ada or none, default none: run 6 improved on every snapshot once ADA was switched off),
# NDATA (training renders, default 200,000, so that D does not memorise them without augmentation
# over the ~50 epochs of 50k a GPU session can train; 2-3 min to render on 14 cores), CARRY
# (default .carry/ckpt), INIT_A, GAMMA_A, PL_A and LR_A (run A's R1 gamma, path-length weight and lr).
# What comes back ($OUT): logs.tgz (logs, stats, loss plots, sample grids, curve.csv and realism.json
# of every snapshot, the batch table) and tar parts (<= 15 MB each) of each run's best snapshot by FD
# ratio; `final` adds run A's latest checkpoint, with its optimiser files when A runs alone (47 MB)
# so that it resumes exactly (bring the parts back, `cat A_ckpt.tar.part* | tar x`, --resume-from).
# PY=.venv/bin/python DEV=cpu NDATA=256 SNAP_KIMG=0.128 EVERY=0.128 TICK=0.032 BATCH=8 OUT=/tmp/o \
#   scripts/gpu_toonfaces.sh start 300   is a local smoke test (minutes on 2 cores; RUNS="A B" widens B first).
set -u
cd "$(dirname "$0")/.." || exit 1
export PYTHONPATH=$PWD/src PYTHONUNBUFFERED=1 OMP_NUM_THREADS=4
W=${WORK:-/tmp/gl}
PY=${PY:-python3}
DEV=${DEV:-cuda}
NDATA=${NDATA:-200000}
SNAP_KIMG=${SNAP_KIMG:-40}  # at batch 256 a GPU may train 1,000+ img/s: a checkpoint every ~40 s
EVERY=${EVERY:-40}
TICK=${TICK:-10}
OUT=${OUT:?OUT must name the folder for what comes back}
RUNS=${RUNS:-A}
BATCH=${BATCH:-256}
AUG=${AUG:-none}
CARRY=${CARRY:-.carry/ckpt}
INIT_A=${INIT_A:-toonfaces-stylegan2-64}
GAMMA_A=${GAMMA_A:-0.1}  # run A's R1 gamma, path-length weight and lr (run 9 on the CPU: 0.1, 2 and 0.001;
PL_A=${PL_A:-2}          # a resumed run takes the lr from its options, so batch 256 may go back to 0.0025)
LR_A=${LR_A:-0.0025}
B_FROM=${B_FROM:-widened}  # run B: widened (from $INIT_A) or scratch
SCALING=${SCALING:-1}      # start: time training against the batch size first

progress() {
  for r in $RUNS; do
    echo "== run $r: $(grep ' tick: ' "$W/runs/$r/log.txt" 2>/dev/null | tail -1 | cut -c1-330)"
    grep -v '^ *measured\|^exported' "$W/watch$r.out" 2>/dev/null | grep -v '^$' | tail -4
    tail -2 "$W/$r.out" 2>/dev/null | grep -i 'error\|Traceback' && tail -25 "$W/$r.out"
  done
  nvidia-smi --query-gpu=utilization.gpu,memory.used --format=csv,noheader 2>/dev/null
}

watch() {  # $1 seconds
  local end=$((SECONDS + $1))
  while [ $SECONDS -lt "$end" ]; do
    sleep $((end - SECONDS < 120 ? (end - SECONDS > 0 ? end - SECONDS : 0) : 120))
    echo "---- $(date -u +%H:%M:%S)"
    progress
  done
}

best_snapshot() {  # $1 run: the measured snapshot with the lowest FD ratio
  $PY - "$W/snap/$1" <<'EOF'
import json, sys
from pathlib import Path
rows = [(json.loads(p.read_text())["fd_ratio"], p.parent.name) for p in Path(sys.argv[1]).glob("kimg-*/realism.json")]
print(min(rows)[1] if rows else "")
EOF
}

pack() {  # $1 = light | final
  rm -f "$OUT"/*
  (cd "$W" && tar czf "$OUT/logs.tgz" --ignore-failed-read ./*.out batch_scaling.txt \
    runs/*/log.txt runs/*/stats.jsonl runs/*/loss.png runs/*/training_options.json runs/*/samples/latest.png \
    runs/*/samples/reals.png snap/*/curve.csv snap/*/kimg-*/realism.json 2>/dev/null)
  for r in $RUNS; do
    b=$(best_snapshot $r)
    [ -n "$b" ] && tar cf - -C "$W/snap/$r" "$b" | split -b 15M - "$OUT/${r}_best.tar.part" && echo "packed $r: $b"
  done
  if [ "$1" = final ]; then
    c=$(ls -d "$W"/runs/A/checkpoints/step-* 2>/dev/null | sort | tail -1)
    local skip=(--exclude 'opt_*')
    [ "$RUNS" = A ] && skip=()
    [ -n "$c" ] && tar cf - -C "$(dirname "$c")" "${skip[@]}" "$(basename "$c")" \
      | split -b 15M - "$OUT/A_ckpt.tar.part" && echo "packed A checkpoint $(basename "$c")"
  fi
  ls -la "$OUT"
}

train() {  # $1 run, then its own arguments
  local r=$1; shift
  mkdir -p "$W/runs/$r" "$W/snap/$r"
  setsid nohup $PY -m ganlens.cli.main train stylegan2 --data "$W/toon.npy" --res 64 --out "$W/runs/$r" \
    --kimg 100000 --batch "$BATCH" --device "$DEV" --bf16 --noise none --aug "$AUG" --ada-kimg 100 \
    --snapshot-kimg "$SNAP_KIMG" --tick-kimg "$TICK" --keep 2 --no-progress --resume "$@" \
    >> "$W/$r.out" 2>&1 < /dev/null &
  setsid nohup $PY benchmarks/toonfaces_curve.py --snapshots "$W/snap/$r" --run "$W/runs/$r" \
    --every "$EVERY" --watch --poll 5 --threads 4 >> "$W/watch$r.out" 2>&1 < /dev/null &
}

launch() {  # render the data, time the batch sizes (SCALING=1), start the runs and their watchers
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null
  $PY -c "import torch, numpy; print('torch', torch.__version__, 'cuda', torch.cuda.is_available(), 'numpy', numpy.__version__)"
  mkdir -p "$W"
  [ -f "$W/toon.npy" ] || $PY scripts/render_toonfaces_npy.py --n "$NDATA" --out "$W/toon.npy" --workers 14 || exit 1
  [ "$DEV" = cuda ] && [ "$SCALING" = 1 ] && $PY benchmarks/train_batch_scaling.py --device cuda \
    --batches 64,128,256,512 --steps 32 | tee "$W/batch_scaling.txt"
  if [ -d "$CARRY" ]; then START_A=(--resume-from "$CARRY"); else START_A=(--init-g "$INIT_A" --ema-rampup 0); fi
  train A "${START_A[@]}" --r1-gamma "$GAMMA_A" --pl-weight "$PL_A" --lr "$LR_A"
  if [[ " $RUNS " == *" B "* ]] && [ "$B_FROM" = scratch ]; then
    train B --z-dim 256 --w-dim 256 --map-layers 4 --channel-base 8192 --channel-max 256 \
      --d-channel-base 8192 --d-channel-max 256 --r1-gamma 0.1
  elif [[ " $RUNS " == *" B "* ]]; then  # the shipped G grown to 8192/256, drawing the same images, and its D
    $PY -m ganlens.cli.main train stylegan2-widen "$INIT_A" --channel-base 8192 --channel-max 256 \
      --out "$W/wideB" --overwrite || exit 1
    train B --init-g "$W/wideB" --ema-rampup 0 --r1-gamma "$GAMMA_A" --pl-weight "$PL_A" --lr "$LR_A"
  fi
}

finish() {  # stop the runs (they checkpoint on SIGTERM), measure their last snapshots, pack
  pkill -TERM -f -- "--out $W/runs/"  # only this script's runs and watchers, never another training job
  for _ in $(seq 60); do pgrep -f -- "--out $W/runs/" > /dev/null || break; sleep 1; done
  pkill -f -- "--snapshots $W/snap/"
  for r in $RUNS; do  # export and measure each run's last checkpoint
    $PY benchmarks/toonfaces_curve.py --snapshots "$W/snap/$r" --run "$W/runs/$r" --every 1 --threads 8 \
      >> "$W/watch$r.out" 2>&1 &
  done
  wait
  progress
  pack final
}

case "${1:-}" in
start)
  launch
  watch "$2"
  pack light
  ;;
watch)
  watch "$2"
  pack light
  ;;
final)
  watch "$2"
  finish
  ;;
once)  # one device call: no batch-size table, train SECONDS, then finish (a 15-minute device budget)
  SCALING=0 launch
  watch "$2"
  finish
  ;;
*)
  echo "usage: $0 start|watch|final|once SECONDS" >&2
  exit 2
  ;;
esac
