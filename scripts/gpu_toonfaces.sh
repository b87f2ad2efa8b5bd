#!/bin/bash
# Train ToonFaces StyleGAN2 runs side by side on a lent GPU in ONE device call (the device tool lends
# 15 minutes, of which one command may take 10), measure them while they train, and pack what is
# worth keeping into $OUT:
#
#   OUT=... scripts/gpu_toonfaces.sh SECONDS
#
# 1. renders NDATA training images (scripts/render_toonfaces_npy.py, every core; with LABELS=1 a
#    ToonFaces zip with its attribute records instead, which --attr-weight needs) and meanwhile, with
#    FOLD=auto (the default on a GPU), times training with and without --fold-resample on the GPU
#    (benchmarks/train_profile.py, batch of the first run) and trains with the faster;
# 2. starts each run of RUNS ("NAME:BATCH ...", default "A:256": one run has the GPU to itself) from
#    the model INIT (default the shipped toonfaces-stylegan2-64) with --init-g: G and G_ema from it,
#    D from its discriminator/ and both Adams from the second moments in its adam/ where it has
#    them, with the options of the runs that trained it (G lr LR, D lr D_LR, R1 gamma GAMMA,
#    path-length weight PL, no noise, no augmentation, bf16, the shipped model's training aids
#    RECIPE, plus EXTRA: e.g. "--resume" to carry on the run's own checkpoint on a machine that is
#    still warm), and a realism watcher per run
#    (benchmarks/toonfaces_curve.py: export and measure the FD ratio every EVERY kimg);
# 3. every minute prints progress and re-packs, so that a call cut short still brings back the best
#    snapshot so far; STOP seconds before the end it stops the runs (they checkpoint on SIGTERM),
#    measures their last snapshots and packs for the last time.
#
# $OUT gets logs.tgz (logs, stats, loss plots, sample grids, curve.csv and realism.json of every
# snapshot) and, per run, the snapshot with the lowest FD ratio (G_ema and its D: an exported model
# folder) as tar parts of <= 15 MB: `cat A_best.tar.part* | tar x` gives a folder that
# `ganlens realism`, benchmarks/toonfaces.py and `ganlens train stylegan2 --init-g` take. With a
# single run there is room for A_last.tar.part* too: its latest checkpoint exported with D and
# Adam's second moments (--with-d --with-adam), from which --init-g carries on where it stopped.
#
# Session 23 (one H200, 15 minutes): RUNS="A:256" STOP=80 OUT=$OUT bash scripts/gpu_toonfaces.sh 575
# trained 613 kimg (2,050-2,300 img/s, folded); then, the machine still warm, FOLD=on EXTRA=--resume
# and 215 seconds resumed the run's own checkpoint there (the renders were still in $WORK) for 172
# kimg more. (That session carried run 19's Adam state by hand; the shipped model now has adam/.)
#
# RECIPE defaults to the shipped model's aids (MODEL_CARD.md): D_low at 16 px, the mapping at 20x G's
# lr, the attribute terms (--attr-weight, --attr-pairs: the data is then rendered with its attribute
# records, LABELS=1) and the component D started as a copy of D. --init-g restores each of them, with
# its Adam, from the model's folder. RECIPE="" trains with the plain losses (LABELS=0 unless given).
#
# Local smoke test (CPU, a few minutes):
#   PY=.venv/bin/python DEV=cpu NDATA=256 SNAP_KIMG=0.032 EVERY=0.032 TICK=0.016 RUNS="A:8 B:8" \
#     MEASURE_N=64 OUT=/tmp/o scripts/gpu_toonfaces.sh 200
set -u
cd "$(dirname "$0")/.." || exit 1
export PYTHONPATH=$PWD/src PYTHONUNBUFFERED=1 OMP_NUM_THREADS=4
TOTAL=${1:?usage: OUT=DIR $0 SECONDS}
OUT=${OUT:?OUT must name the folder for what comes back}
W=${WORK:-/tmp/gl}
PY=${PY:-python3}
DEV=${DEV:-cuda}
NDATA=${NDATA:-40000}  # 64,000 took 167 s to render on the H200 machine (session 22)
RUNS=${RUNS:-A:256}
INIT=${INIT:-toonfaces-stylegan2-64}
LR=${LR:-0.0005}
D_LR=${D_LR:-0.0025}
GAMMA=${GAMMA:-0.1}
PL=${PL:-2}
RECIPE=${RECIPE---lowres-d 16 --mapping-lr-scale 20 --attr-weight 30 --attr-pairs 1 --crop-d 32 --crop-d-at 21 16 --crop-d-from-d}
EXTRA=${EXTRA:-}  # more training options
case " $RECIPE $EXTRA " in *" --attr-weight "*) labels=1 ;; *) labels=0 ;; esac
LABELS=${LABELS:-$labels}  # 1: render a ToonFaces zip with attribute records (--attr-weight needs them)
FOLD=${FOLD:-auto}  # auto (GPU only: time it first), on or off: train with --fold-resample
SNAP_KIMG=${SNAP_KIMG:-16}
EVERY=${EVERY:-32}
TICK=${TICK:-8}
MEASURE_N=${MEASURE_N:-500}
STOP=${STOP:-75}  # seconds left when the runs are stopped: checkpoint, last measurements, packing
names=$(for r in $RUNS; do echo "${r%%:*}"; done)

progress() {
  echo "---- $(date -u +%H:%M:%S), ${SECONDS}s"
  for r in $names; do
    echo "== $r: $(grep ' tick: ' "$W/runs/$r/log.txt" 2>/dev/null | tail -1 | cut -c1-300)"
    grep 'measured\|rror' "$W/watch$r.out" 2>/dev/null | tail -2
    grep -q 'Traceback\|rror' "$W/$r.out" 2>/dev/null && tail -15 "$W/$r.out"
  done
  nvidia-smi --query-gpu=utilization.gpu,memory.used --format=csv,noheader 2>/dev/null
}

best_snapshot() {  # $1 run: its measured snapshot with the lowest FD ratio
  $PY - "$W/snap/$1" <<'EOF'
import json, sys
from pathlib import Path
rows = [(json.loads(p.read_text())["fd_ratio"], p.parent.name) for p in Path(sys.argv[1]).glob("kimg-*/realism.json")]
print(min(rows)[1] if rows else "")
EOF
}

pack() {  # build in $W/pack, then swap into $OUT (a call cut short keeps the previous pack)
  rm -rf "$W/pack" && mkdir -p "$W/pack"
  (cd "$W" && tar czf pack/logs.tgz --ignore-failed-read ./*.out ./*.json runs/*/log.txt runs/*/stats.jsonl \
    runs/*/loss.png runs/*/training_options.json runs/*/samples/latest.png runs/*/samples/reals.png \
    snap/*/curve.csv snap/*/kimg-*/realism.json 2>/dev/null)
  for r in $names; do
    b=$(best_snapshot "$r")
    [ -n "$b" ] && tar cf - -C "$W/snap/$r" "$b" | split -b 15M - "$W/pack/${r}_best.tar.part" \
      && echo "packed $r: $b"
    # with one run there is room for its latest checkpoint too, with D and Adam's second moments
    if [ "$(echo $names | wc -w)" = 1 ] && [ -f "$W/runs/$r/checkpoints/latest.json" ]; then
      rm -rf "$W/last" && $PY -m ganlens.cli.main train stylegan2-export --run "$W/runs/$r" \
        --out "$W/last/${r}_last" --with-d --with-adam > "$W/last.out" 2>&1 \
        && tar cf - -C "$W/last" "${r}_last" | split -b 15M - "$W/pack/${r}_last.tar.part" \
        && echo "packed $r: $(grep -o 'step-[0-9]* ([0-9.]* kimg)' "$W/last.out") with D and adam/"
    fi
  done
  rm -f "$OUT"/* && mv "$W/pack"/* "$OUT"/
}

nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null
$PY -c "import torch, numpy; print('torch', torch.__version__, 'cuda', torch.cuda.is_available(), 'numpy', numpy.__version__)"
mkdir -p "$W/runs" "$W/snap" "$OUT"
if [ "$FOLD" = auto ] && [ "$DEV" = cuda ]; then  # on the GPU while the CPUs render
  first=${RUNS%% *}
  timeout 150 $PY benchmarks/train_profile.py --device cuda --batch "${first#*:}" --steps 16 \
    --profile-steps 0 --variants 1,3 --json "$W/fold.json" > "$W/fold.out" 2>&1 &
fi
if [ "$LABELS" = 1 ]; then
  DATA="$W/toon/toonfaces.zip"
  [ -f "$DATA" ] || $PY -m ganlens.cli.main data toonfaces --n "$NDATA" --size 64 --format zip \
    --captions 1 --workers "$(nproc)" --out "$W/toon" 2>&1 | tail -1 || exit 1
else
  DATA="$W/toon.npy"
  [ -f "$DATA" ] || $PY scripts/render_toonfaces_npy.py --n "$NDATA" --out "$DATA" \
    --workers "$(nproc)" 2>&1 | tail -1 || exit 1
fi
echo "rendered by ${SECONDS}s"
wait
if [ -f "$W/fold.json" ]; then
  grep '^|' "$W/fold.out"
  FOLD=$($PY -c "import json, sys; r = json.load(open(sys.argv[1])); v = list(r.values()); print('on' if v[1] > v[0] else 'off')" "$W/fold.json")
fi
[ "$FOLD" = auto ] && FOLD=off  # not timed (a CPU run, or the timing failed: $W/fold.out says why)
[ "$FOLD" = on ] && EXTRA="$EXTRA --fold-resample"
[ "$FOLD" = off ] && EXTRA="$EXTRA --no-fold-resample"  # the trainer's default on a GPU is on
echo "fold-resample: $FOLD (by ${SECONDS}s)"
for spec in $RUNS; do
  r=${spec%%:*}
  mkdir -p "$W/snap/$r"
  setsid nohup $PY -m ganlens.cli.main train stylegan2 --data "$DATA" --res 64 --out "$W/runs/$r" \
    --kimg 100000 --batch "${spec#*:}" --device "$DEV" --bf16 --noise none --aug none \
    --init-g "$INIT" --ema-rampup 0 --lr "$LR" --d-lr "$D_LR" --r1-gamma "$GAMMA" --pl-weight "$PL" \
    --snapshot-kimg "$SNAP_KIMG" --tick-kimg "$TICK" --keep 2 --no-progress $RECIPE $EXTRA \
    > "$W/$r.out" 2>&1 < /dev/null &
  setsid nohup $PY benchmarks/toonfaces_curve.py --snapshots "$W/snap/$r" --run "$W/runs/$r" \
    --every "$EVERY" --watch --poll 5 --threads 4 --n "$MEASURE_N" > "$W/watch$r.out" 2>&1 < /dev/null &
done

while [ $SECONDS -lt $((TOTAL - STOP)) ]; do
  left=$((TOTAL - STOP - SECONDS))
  sleep $((left < 60 ? left : 60))
  progress
  pack > /dev/null
done

pkill -TERM -f -- "--out $W/runs/"  # only this script's runs, never another training job
for _ in $(seq 40); do pgrep -f -- "--out $W/runs/" > /dev/null || break; sleep 1; done
pkill -f -- "--snapshots $W/snap/"
for r in $names; do  # export and measure each run's last checkpoint
  $PY benchmarks/toonfaces_curve.py --snapshots "$W/snap/$r" --run "$W/runs/$r" --every 1 --threads 8 \
    --n "$MEASURE_N" >> "$W/watch$r.out" 2>&1 &
done
wait
progress
for r in $names; do tail -n 30 "$W/watch$r.out" | grep -A30 'kimg  toon-FD' | tail -n 12; done
pack
ls -la "$OUT"
