#!/usr/bin/env bash
# sweet's benchmarks next to PyTorch's, same sizes, same thread count, alternating runs; prints
# each median and the ratio sweet / PyTorch (lower is better; below 1.0 sweet is faster).
#
#   scripts/bench.sh                 # all tasks, 3 alternating rounds
#   ROUNDS=1 TASKS="step mae" scripts/bench.sh
#   BASELINE=/path/to/older/sweet scripts/bench.sh   # also time an older build, same rounds
#
# Needs a Python with torch (PYTHON=..., default python3; `pip install torch` outside the repo).
# The PyTorch side is scripts/torch_step.py (TORCH_BENCH=... for another, e.g.
# ../shared/bench/torch_vit_step.py, which it mirrors). A benchmark, not a test: never in CI.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
REF=${TORCH_BENCH:-scripts/torch_step.py}
ROUNDS=${ROUNDS:-3}
TASKS=${TASKS:-"step mae mae-dense predict compose"}
THREADS=${THREADS:-2}
export RAYON_NUM_THREADS=$THREADS

cargo build --release --quiet
SWEET=${CARGO_TARGET_DIR:-target}/release/sweet
[ -f "$REF" ] || { echo "no PyTorch reference at $REF (set TORCH_BENCH)" >&2; exit 1; }
"$PY" -c "import torch" 2>/dev/null || { echo "$PY has no torch (set PYTHON)" >&2; exit 1; }

median_of() { sed -n 's/.*median_ms=\([0-9.]*\).*/\1/p' | tail -1; }
mid() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }

compare() { # name, sweet args, torch command
    local name=$1 sargs=$2 tcmd=$3 s=() t=() b=()
    for _ in $(seq "$ROUNDS"); do
        [ -n "${BASELINE:-}" ] && b+=("$($BASELINE bench $sargs | median_of)")
        s+=("$($SWEET bench $sargs | median_of)")
        t+=("$(eval "$tcmd" | median_of)")
    done
    local sm tm
    sm=$(mid "${s[@]}"); tm=$(mid "${t[@]}")
    printf '%-10s sweet %8.1f ms   torch %8.1f ms   ratio %5.2f   (sweet runs: %s; torch runs: %s)\n' \
        "$name" "$sm" "$tm" "$(echo "$sm / $tm" | bc -l)" "${s[*]}" "${t[*]}"
    if [ -n "${BASELINE:-}" ]; then
        local bm
        bm=$(mid "${b[@]}")
        printf '%-10s baseline %8.1f ms   ratio to torch %5.2f   (runs: %s)\n' \
            "$name" "$bm" "$(echo "$bm / $tm" | bc -l)" "${b[*]}"
    fi
}

echo "threads=$THREADS rounds=$ROUNDS $($PY -c 'import torch; print("torch", torch.__version__)')"
for task in $TASKS; do
    case $task in
    step) compare step "step --depth 6 --width 192 --heads 3 --img-size 32 --patch 4 --in-chans 3 --batch-size 64" \
        "$PY $REF --task classify --depth 6 --width 192 --heads 3 --img 32 --patch 4 --chans 3 --batch 64 --threads $THREADS" ;;
    mae) compare mae-step "mae-step --depth 8 --width 128 --heads 4 --img-size 28 --patch 4 --in-chans 1 --batch-size 64 --rank1 48" \
        "$PY $REF --task mae --depth 8 --width 128 --heads 4 --img 28 --patch 4 --chans 1 --batch 64 --threads $THREADS" ;;
    mae-dense) compare mae-dense "mae-step --dense --depth 8 --width 128 --heads 4 --img-size 28 --patch 4 --in-chans 1 --batch-size 64" \
        "$PY $REF --task mae --depth 8 --width 128 --heads 4 --img 28 --patch 4 --chans 1 --batch 64 --threads $THREADS" ;;
    predict) compare predict "predict --depth 6 --width 192 --heads 3 --img-size 32 --patch 4 --in-chans 3 --batch-size 256" \
        "$PY scripts/torch_predict.py --ref $REF --depth 6 --width 192 --heads 3 --img 32 --patch 4 --chans 3 --batch 256 --threads $THREADS" ;;
    compose)
        for size in "ViT-Ti:--depth 12 --width 192 --heads 3" "ViT-S:--depth 12 --width 384 --heads 6"; do
            $SWEET bench compose ${size#*:} --rank1 48 | sed "s/^RESULT/RESULT ${size%%:*}/"
        done ;;
    *) echo "unknown task $task (step, mae, mae-dense, predict, compose)" >&2; exit 2 ;;
    esac
done
