#!/bin/bash
# Every measurement the README's ToonFaces sections report, run on one snapshot, in one go.
# What a new toonfaces-stylegan2-64 needs before it ships (its numbers and pictures replace the old ones).
#
#   scripts/measure_toonfaces_model.sh MODEL OUT       # MODEL: zoo name, export, run or checkpoint folder
#   THREADS=2 ONLY="fiveset pairs" scripts/measure_toonfaces_model.sh runs/x/checkpoints/step-00001234 m/
#
# Each step writes OUT/<step>.txt (its stdout; progress bars and warnings go to OUT/<step>.log, its
# pictures under OUT/<step>/ or beside it); a step whose .txt exists is
# skipped, so an interrupted measurement resumes where it stopped; a failed step is retried on the
# next run, and the script exits 1 naming it. Steps, in order (session 36: about
# 35 min with two invocations side by side on this 2-core CPU, each with its own ONLY list and 1 thread):
#   fiveset   FD ratio on five generated sets, per-factor TV at n = 3000 (benchmarks/toonfaces.py)
#   bench     the seed-0 realism table with calibration rows, directions (SeFa, GANSpace, boundaries),
#             samples, marginals, heatmap and edit pictures (benchmarks/toonfaces.py --sefa)
#   pairs     summed excess mutual information of factor pairs (benchmarks/toonfaces_pairs.py)
#   coverage  recall by attribute (benchmarks/toonfaces_coverage.py)
#   rerender  what G draws against how it draws it (benchmarks/toonfaces_rerender.py --factors)
#   spectrum  power spectrum against real and blurred renders (benchmarks/toonfaces_spectrum.py)
#   trunc     FD ratio at ψ 1.2 … 0.5 on the same five sets (ganlens realism --trunc --repeats 5)
#   spread    per-factor spread and TV against ψ (benchmarks/toonfaces_truncation_spread.py)
#   ppl       perceptual path length, pixel distance (benchmarks/ppl.py)
#   dprobe    does D see the attribute errors (benchmarks/toonfaces_d_factors.py; needs a D)
set -euo pipefail
if [ $# -ne 2 ]; then
  echo "usage: $0 MODEL OUT" >&2
  exit 2
fi
cd "$(dirname "$0")/.."
MODEL=$1
OUT=$2
T=${THREADS:-1}
PY=${PYTHON:-.venv/bin/python}
ALL="fiveset bench pairs coverage rerender spectrum trunc spread ppl dprobe"
for name in ${ONLY:-}; do
  case " $ALL " in *" $name "*) ;; *)
    echo "unknown step '$name' in ONLY; the steps are: $ALL" >&2
    exit 2
    ;;
  esac
done
mkdir -p "$OUT"
FAILED=""

step() {  # step NAME COMMAND...: run COMMAND, keep its stdout in OUT/NAME.txt only if it succeeds
  local name=$1
  shift
  case " ${ONLY:-$ALL} " in *" $name "*) ;; *) return 0 ;; esac
  if [ -e "$OUT/$name.txt" ]; then
    echo "[$name] done before: $OUT/$name.txt"
    return 0
  fi
  echo "[$name] $(date -u +%H:%M:%S) $*"
  local start=$SECONDS
  if "$@" >"$OUT/$name.part" 2>"$OUT/$name.log"; then
    mv "$OUT/$name.part" "$OUT/$name.txt"
    echo "[$name] $((SECONDS - start)) s"
  else
    echo "[$name] failed after $((SECONDS - start)) s; its output: $OUT/$name.part, $OUT/$name.log" >&2
    tail -3 "$OUT/$name.log" >&2
    FAILED="$FAILED $name"
  fi
}

step fiveset "$PY" benchmarks/toonfaces.py --model "$MODEL" --n 500 --repeats 5 --tv-n 3000 \
  --no-calibration --threads "$T"
step bench "$PY" benchmarks/toonfaces.py --model "$MODEL" --n 500 --repeats 1 --sefa --threads "$T" \
  --out "$OUT/bench"
step pairs "$PY" benchmarks/toonfaces_pairs.py "$MODEL" --n 1500 --threads "$T"
step coverage "$PY" benchmarks/toonfaces_coverage.py "$MODEL" --threads "$T"
step rerender "$PY" benchmarks/toonfaces_rerender.py --model "$MODEL" --factors --threads "$T"
step spectrum "$PY" benchmarks/toonfaces_spectrum.py --model "$MODEL" --plot "$OUT/spectrum.png" --threads "$T"
step trunc env OMP_NUM_THREADS="$T" "$PY" -m ganlens realism "$MODEL" --n 500 --trunc 1.2 0.9 0.8 0.7 0.5 \
  --repeats 5 --no-progress --out "$OUT/trunc"
step spread "$PY" benchmarks/toonfaces_truncation_spread.py "$MODEL" --threads "$T"
step ppl "$PY" benchmarks/ppl.py --model "$MODEL" --n 1000 --threads "$T"
step dprobe "$PY" benchmarks/toonfaces_d_factors.py "$MODEL" --threads "$T" --out "$OUT/dprobe"
if [ -n "$FAILED" ]; then
  echo "failed:$FAILED (rerun to retry them; the finished steps are kept)" >&2
  exit 1
fi
echo "measurements in $OUT"
