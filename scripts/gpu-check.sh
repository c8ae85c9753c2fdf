#!/usr/bin/env bash
# One prepared check for a GPU machine (PyTorch + timm in python3, NVIDIA driver, no network),
# in under 8 minutes. It needs the CUDA build carried as dist/sweet-cuda.xz
# (scripts/build-cuda.sh), or SWEET=/path/to/sweet.
#
#   scripts/gpu-check.sh                               # on the GPU machine; log in $OUT if set
#   GPU_CHECK_DEVICE=cpu GPU_CHECK_QUICK=1 SWEET=target/release/sweet PYTHON=/work/venv/bin/python \
#       scripts/gpu-check.sh                           # dry run of every stage on the CPU, tiny sizes
#   GPU_CHECK_ONLY="bench-vits-*" scripts/gpu-check.sh # rerun some stages (shell patterns)
#
# Stages, in this order, each timed and reported as `STAGE name ok|FAILED|skipped seconds`; a
# failed stage never stops the later ones, none starts past GPU_CHECK_BUDGET_S (420 s) after the
# start, and every command is killed at GPU_CHECK_HARD_S (465 s). The ViT-S benchmarks, the
# slowest, come last (bench-vits-*), so that the time guard cuts them before the checks:
#   env          nvidia-smi, the CUDA libraries ldconfig knows, torch/timm; NCCL and NVRTC from
#                the torch wheels put on LD_LIBRARY_PATH (../shared/GPU.md section 3: cudarc never
#                tries libnccl.so.2, so a libnccl.so link is made in a temporary folder)
#   unpack       dist/sweet-cuda.xz -> $SWEET (checked against its .sha256 when that is there)
#   bench-*      `sweet bench step|mae-step [--dense]` next to scripts/torch_step.py on the same
#                device, at the CPU benchmark sizes of scripts/bench.sh; the table of medians and
#                ratios is printed at the end (torch's dense MAE is timed once for both MAE rows)
#   data         a toy image folder (scripts/make_toy_imagefolder.py: 10 classes, 32 px RGB)
#   pretrain     SWEET template pre-training (MAE) on it; init: `sweet init sweet` at another size;
#   train        classification from that init; timm: scripts/check_timm.py on the trained model
#                (`sweet predict` on the device, timm on the CPU)
#   parity       the same seeded training (few steps) on cpu and on the device: final train and
#                test losses within 1e-3 relative
#   data-parallel  `sweet train --devices cuda:0`, `--devices cuda:0,cuda:0` (two replicas on one
#                GPU) and cuda:0,cuda:1 with 2 GPUs; each must match the parity run's device losses
#   bench-vits-* the same benchmarks at ViT-S (depth 12, width 384, 6 heads, 224 px, patch 16,
#                batch 128; mae-step with --rank1 48), 3 warm-up and 10 timed steps
# Writes $OUT/gpu-check.log (everything), $OUT/bench.tsv and $OUT/runs/ (small JSON files).
set -u
cd "$(dirname "$0")/.." || exit 1

DEVICE=${GPU_CHECK_DEVICE:-cuda}
QUICK=${GPU_CHECK_QUICK:-0}
ONLY=${GPU_CHECK_ONLY:-}
BUDGET=${GPU_CHECK_BUDGET_S:-420}
HARD=${GPU_CHECK_HARD_S:-465}
SWEET_GIVEN=${SWEET:+1}
SWEET=${SWEET:-/tmp/sweet}
PYTHON=${PYTHON:-python3}
WORK=${GPU_CHECK_WORK:-$(mktemp -d "${TMPDIR:-/tmp}/gpu-check.XXXXXX")}
OUT=${OUT:-}
T0=$(date +%s)

# Sizes: the CPU benchmark sizes of scripts/bench.sh and ViT-S; QUICK makes everything tiny.
if [ "$QUICK" = 1 ]; then
    STEPS="--warmup 1 --steps 2"; STEPS_VITS=$STEPS
    STEP_SMALL=(1 32 2 8 4 3 8)          # depth width heads img patch chans batch
    MAE_SMALL=(2 32 2 8 4 1 8); RANK1_SMALL=4
    VITS=(2 48 2 16 8 3 4); RANK1_VITS=4
    TOY="--size 16 --train 160 --test 40"
    PRE="--depth 2 --width 32 --heads 2 --patch 4 --rank1 4 --epochs 1 --batch-size 32 --base-lr 1.5e-3 --warmup-epochs 0.25 --eval-images 32"
    INIT="--depth 2 --width 32 --heads 2 --scaler-steps 2 --scaler-images 64 --scaler-batch-size 32 --eval-images 32"
    TRAIN="--epochs 1 --batch-size 32 --warmup-epochs 0.25"
    PARITY="--depth 2 --width 32 --heads 2 --patch 4 --batch-size 16 --max-steps 4"
else
    STEPS="--warmup 3 --steps 20"; STEPS_VITS="--warmup 3 --steps 10"
    STEP_SMALL=(6 192 3 32 4 3 64)
    MAE_SMALL=(8 128 4 28 4 1 64); RANK1_SMALL=48
    VITS=(12 384 6 224 16 3 128); RANK1_VITS=48
    TOY="--size 32 --train 2048 --test 256"
    PRE="--depth 6 --width 192 --heads 3 --patch 4 --rank1 48 --epochs 2 --batch-size 128 --base-lr 1.5e-3 --warmup-epochs 0.25 --eval-images 256"
    INIT="--depth 4 --width 128 --heads 2 --scaler-steps 20 --scaler-images 512 --scaler-batch-size 64 --eval-images 256"
    TRAIN="--epochs 2 --batch-size 64 --warmup-epochs 0.25"
    PARITY="--depth 4 --width 128 --heads 2 --patch 4 --batch-size 32 --max-steps 8"
fi
DATA="--data imagefolder --data-dir $WORK/toy"

elapsed() { echo $(( $(date +%s) - T0 )); }

# Runs a command under `timeout`: at most CAP seconds and never past HARD.
lim() {
    local cap=$1 left
    shift
    left=$(( HARD - $(elapsed) ))
    [ "$left" -lt "$cap" ] && cap=$left
    if [ "$cap" -le 0 ]; then
        echo "(no time left for: $*)"
        return 124
    fi
    echo "+ $*"
    timeout -k 5 "$cap" "$@"
    local rc=$?
    [ "$rc" -eq 124 ] && echo "(timed out after ${cap}s: $*)"
    return "$rc"
}

sw() { lim "${CAP:-120}" "$SWEET" --device "$DEVICE" "$@"; }
py() { lim "${CAP:-120}" "$PYTHON" "$@"; }
median_of() { sed -n 's/.*median_ms=\([0-9.]*\).*/\1/p' | tail -1; }
# The last metrics.jsonl line's FIELD (train_loss, test_loss, ...).
last_metric() {
    "$PYTHON" -c 'import json, sys
lines = [l for l in open(sys.argv[1]) if l.strip()]
print(json.loads(lines[-1])[sys.argv[2]])' "$1" "$2"
}
keep_run() { # name, run folder: copies its small JSON files to $OUT/runs/name
    [ -n "$OUT" ] || return 0
    mkdir -p "$OUT/runs/$1"
    cp "$2"/*.json "$2"/*.jsonl "$OUT/runs/$1/" 2>/dev/null || true
}

# A stage that cannot apply calls `skip REASON; return 3`.
skip() { echo "$1" > "$WORK/.skip"; echo "skipped: $1"; }

SUMMARY=()
stage() { # name, function
    local name=$1 fn=$2 start now rc secs status
    if [ -n "$ONLY" ]; then
        local pat hit=0
        for pat in $ONLY; do
            # shellcheck disable=SC2254
            case $name in $pat) hit=1 ;; esac
        done
        if [ "$hit" = 0 ]; then
            SUMMARY+=("$(printf '%-22s %-8s' "$name" skipped) (not in GPU_CHECK_ONLY)")
            return
        fi
    fi
    now=$(elapsed)
    if [ "$now" -ge "$BUDGET" ]; then
        echo "STAGE $name skipped (time guard: ${now}s >= ${BUDGET}s)"
        SUMMARY+=("$(printf '%-22s %-8s' "$name" skipped) (time guard at ${now}s)")
        return
    fi
    echo
    echo "=== $name (t=${now}s)"
    rm -f "$WORK/.skip"
    start=$(date +%s.%N)
    ( set -u; "$fn" )
    rc=$?
    local why=""
    [ -s "$WORK/.skip" ] && why=" ($(cat "$WORK/.skip"))"
    secs=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
    case $rc in
    0) status=ok ;;
    3) status=skipped ;;  # the stage itself says why
    *) status=FAILED ;;
    esac
    [ "$status" = skipped ] || why=""
    echo "STAGE $name $status $secs$why"
    SUMMARY+=("$(printf '%-22s %-8s %7ss' "$name" "$status" "$secs")$why")
}

# --- env -------------------------------------------------------------------------------------
setup_env() {
    echo "gpu-check: device=$DEVICE quick=$QUICK sweet=$SWEET python=$PYTHON work=$WORK budget=${BUDGET}s"
    echo "host: $(uname -srm), $(nproc) cores, $(date -u +%FT%TZ)"
    if command -v nvidia-smi >/dev/null; then
        nvidia-smi || echo "nvidia-smi failed"
        GPUS=$(nvidia-smi -L 2>/dev/null | grep -c '^GPU' || true)
    else
        echo "no nvidia-smi"
        GPUS=0
    fi
    echo "GPUs: $GPUS"
    if command -v ldconfig >/dev/null; then
        echo "ldconfig -p | grep -E 'libcuda|libnvrtc|libnccl':"
        ldconfig -p | grep -E 'libcuda|libnvrtc|libnccl' || echo "  (none)"
    fi
    timeout 60 "$PYTHON" - <<'EOF' || echo "$PYTHON: no torch or timm?"
import torch, timm
gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
print("torch", torch.__version__, "cuda", torch.version.cuda, "available", torch.cuda.is_available(), gpu)
print("timm", timm.__version__)
EOF
    # NCCL and NVRTC from the pip wheels next to torch (GPU.md section 3).
    local sites links lib path s
    sites=$(timeout 60 "$PYTHON" -c 'import os, site, torch
print(os.path.dirname(os.path.dirname(torch.__file__)))
for s in site.getsitepackages(): print(s)' 2>/dev/null | awk '!seen[$0]++')
    links=$(mktemp -d "$WORK/libs.XXXX")
    local nvrtc=0
    for lib in libnccl.so.2 libnvrtc.so.13 libnvrtc.so.12; do
        [ "$lib" != libnccl.so.2 ] && [ "$nvrtc" = 1 ] && continue  # one NVRTC is enough
        path=""
        for s in $sites; do
            [ -d "$s/nvidia" ] || continue
            path=$(find "$s/nvidia" -name "$lib" -print -quit 2>/dev/null)
            [ -n "$path" ] && break
        done
        if [ -z "$path" ]; then
            echo "no $lib in the Python packages"
            continue
        fi
        [ "$lib" = libnccl.so.2 ] || nvrtc=1
        ln -sf "$path" "$links/${lib%%.so*}.so"
        case ":${LD_LIBRARY_PATH:-}:" in
        *":$(dirname "$path"):"*) ;;
        *) LD_LIBRARY_PATH="$(dirname "$path")${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" ;;
        esac
        echo "found $path (link ${lib%%.so*}.so in $links)"
    done
    export LD_LIBRARY_PATH="$links${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
    echo "LD_LIBRARY_PATH=$LD_LIBRARY_PATH"
}

# --- unpack ------------------------------------------------------------------------------------
stage_unpack() {
    # A given SWEET that exists is used as it is; otherwise dist/ is unpacked to $SWEET, every
    # time for the default /tmp/sweet (a warm machine may still hold an older one).
    if [ -x "$SWEET" ] && { [ -n "$SWEET_GIVEN" ] || [ ! -f dist/sweet-cuda.xz ]; }; then
        echo "using $SWEET"
    else
        [ -f dist/sweet-cuda.xz ] || { echo "no $SWEET and no dist/sweet-cuda.xz (carry it)"; return 1; }
        if [ -f dist/sweet-cuda.xz.sha256 ] && command -v sha256sum >/dev/null; then
            (cd dist && sha256sum -c sweet-cuda.xz.sha256) || return 1
        fi
        if command -v xz >/dev/null; then
            xz -dc dist/sweet-cuda.xz > "$SWEET.tmp" || return 1
        else  # Python's lzma reads .xz too
            "$PYTHON" -c 'import lzma, shutil, sys; shutil.copyfileobj(lzma.open(sys.argv[1]), open(sys.argv[2], "wb"))' \
                dist/sweet-cuda.xz "$SWEET.tmp" || return 1
        fi
        chmod +x "$SWEET.tmp" && mv "$SWEET.tmp" "$SWEET" || return 1
        ls -l "$SWEET"
    fi
    "$SWEET" --version
}

# --- benchmarks --------------------------------------------------------------------------------
mkdir -p "$WORK/bench"
bench_pair() { # name, sweet bench args, torch args, sweet steps, [torch result to reuse]
    local name=$1 sargs=$2 targs=$3 steps=$4 reuse=${5:-} s t="" rc=0
    # shellcheck disable=SC2086
    CAP=150 sw bench $sargs $steps > "$WORK/bench/$name.sweet.log" 2>&1 || rc=1
    cat "$WORK/bench/$name.sweet.log"
    s=$(median_of < "$WORK/bench/$name.sweet.log")
    [ -n "$s" ] || rc=1
    [ -n "$reuse" ] && t=$(cat "$WORK/bench/$reuse.torch" 2>/dev/null)
    if [ -n "${t:-}" ]; then
        echo "torch: the $reuse run's ${t} ms (the same dense MAE)"
    else
        # shellcheck disable=SC2086
        CAP=90 py scripts/torch_step.py --device "$DEVICE" $targs $steps > "$WORK/bench/$name.torch.log" 2>&1 || rc=1
        cat "$WORK/bench/$name.torch.log"
        t=$(median_of < "$WORK/bench/$name.torch.log")
        [ -n "$t" ] || rc=1
    fi
    echo "${s:-}" > "$WORK/bench/$name.sweet"
    echo "${t:-}" > "$WORK/bench/$name.torch"
    return $rc
}
sargs_of() { echo "--depth $1 --width $2 --heads $3 --img-size $4 --patch $5 --in-chans $6 --batch-size $7"; }
targs_of() { echo "--depth $1 --width $2 --heads $3 --img $4 --patch $5 --chans $6 --batch $7"; }

stage_bench_step() {
    bench_pair step "step $(sargs_of "${STEP_SMALL[@]}")" "--task classify $(targs_of "${STEP_SMALL[@]}")" "$STEPS"
}
stage_bench_mae() {
    bench_pair mae-step "mae-step $(sargs_of "${MAE_SMALL[@]}") --rank1 $RANK1_SMALL" \
        "--task mae $(targs_of "${MAE_SMALL[@]}")" "$STEPS"
}
stage_bench_mae_dense() {
    bench_pair mae-dense "mae-step --dense $(sargs_of "${MAE_SMALL[@]}")" \
        "--task mae $(targs_of "${MAE_SMALL[@]}")" "$STEPS" mae-step
}
stage_bench_vits_step() {
    bench_pair vits-step "step $(sargs_of "${VITS[@]}")" "--task classify $(targs_of "${VITS[@]}")" "$STEPS_VITS"
}
stage_bench_vits_mae() {
    bench_pair vits-mae-step "mae-step $(sargs_of "${VITS[@]}") --rank1 $RANK1_VITS" \
        "--task mae $(targs_of "${VITS[@]}")" "$STEPS_VITS"
}
stage_bench_vits_mae_dense() {
    bench_pair vits-mae-dense "mae-step --dense $(sargs_of "${VITS[@]}")" \
        "--task mae $(targs_of "${VITS[@]}")" "$STEPS_VITS" vits-mae-step
}

bench_table() {
    local name s t ratio any=0
    for name in step mae-step mae-dense vits-step vits-mae-step vits-mae-dense; do
        [ -f "$WORK/bench/$name.sweet" ] && any=1
    done
    [ "$any" = 1 ] || return 0
    echo
    echo "benchmarks on $DEVICE (median ms per training step; ratio = sweet / torch, below 1 sweet is faster):"
    printf '%-16s %10s %10s %7s\n' task sweet_ms torch_ms ratio
    [ -n "$OUT" ] && printf 'task\tdevice\tsweet_ms\ttorch_ms\tratio\n' > "$OUT/bench.tsv"
    for name in step mae-step mae-dense vits-step vits-mae-step vits-mae-dense; do
        [ -f "$WORK/bench/$name.sweet" ] || continue
        s=$(cat "$WORK/bench/$name.sweet"); t=$(cat "$WORK/bench/$name.torch" 2>/dev/null)
        ratio=-
        if [ -n "$s" ] && [ -n "$t" ]; then ratio=$(awk -v s="$s" -v t="$t" 'BEGIN { printf "%.3g", s / t }'); fi
        printf '%-16s %10s %10s %7s\n' "$name" "${s:--}" "${t:--}" "$ratio"
        [ -n "$OUT" ] && printf '%s\t%s\t%s\t%s\t%s\n' "$name" "$DEVICE" "$s" "$t" "$ratio" >> "$OUT/bench.tsv"
    done
    echo "(mae-step: sweet's templated MAE, composing every block from the template at every step;"
    echo " mae-dense: sweet's dense MAE; torch times a dense MAE for both)"
}

# --- pre-training, init, training, timm ------------------------------------------------------
stage_data() {
    # shellcheck disable=SC2086
    CAP=60 py scripts/make_toy_imagefolder.py "$WORK/toy" $TOY
}
stage_pretrain() {
    # shellcheck disable=SC2086
    CAP=120 sw pretrain $DATA $PRE --workers 4 --out "$WORK/pretrain" || return 1
    keep_run pretrain "$WORK/pretrain"
    [ -s "$WORK/pretrain/template.safetensors" ]
}
stage_init() {
    # shellcheck disable=SC2086
    CAP=60 sw init sweet --template "$WORK/pretrain/template.safetensors" $INIT --classes 10 $DATA \
        --out "$WORK/init" || return 1
    keep_run init "$WORK/init"
}
stage_train() {
    local from=() acc
    if [ -s "$WORK/init/config.json" ]; then
        from=(--init-from "$WORK/init")
    else
        echo "no $WORK/init (init failed?): training from scratch, depth 4, width 128"
        from=(--depth 4 --width 128 --heads 2 --patch 4)
    fi
    # shellcheck disable=SC2086
    CAP=120 sw train $DATA "${from[@]}" $TRAIN --workers 4 --out "$WORK/train" || return 1
    keep_run train "$WORK/train"
    acc=$(last_metric "$WORK/train/metrics.jsonl" test_acc) || return 1
    echo "train: final test accuracy $acc on the toy set"
    if [ "$QUICK" != 1 ] && awk -v a="$acc" 'BEGIN { exit !(a < 0.3) }'; then
        echo "WARN: the toy set is easy; a test accuracy of $acc suggests the device does not learn"
    fi
}
stage_timm() {
    CAP=90 py scripts/check_timm.py "$WORK/train/model" --sweet "$SWEET" --device "$DEVICE"
}

# --- parity ------------------------------------------------------------------------------------
rel_check() { # label, a, b: prints |a - b| / max(|a|, |b|) and fails above 1e-3
    "$PYTHON" - "$@" <<'EOF'
import sys
label, a, b = sys.argv[1], float(sys.argv[2]), float(sys.argv[3])
rel = abs(a - b) / max(abs(a), abs(b), 1e-12)
print(f"{label}: {a:.7f} vs {b:.7f}, relative difference {rel:.2e} ({'ok' if rel < 1e-3 else 'TOO LARGE'}, limit 1e-3)")
sys.exit(0 if rel < 1e-3 else 1)
EOF
}
stage_parity() {
    local dev run rc=0 field
    for run in cpu device; do
        dev=cpu
        [ "$run" = device ] && dev=$DEVICE
        # shellcheck disable=SC2086
        lim 90 "$SWEET" --device "$dev" train $DATA $PARITY --epochs 1 --seed 7 --workers 2 \
            --out "$WORK/parity-$run" || return 1
        keep_run "parity-$run" "$WORK/parity-$run"
    done
    [ "$DEVICE" = cpu ] && echo "(dry run: the device is the CPU, so both runs are the same)"
    for field in train_loss test_loss; do
        rel_check "$field cpu vs $DEVICE" "$(last_metric "$WORK/parity-cpu/metrics.jsonl" $field)" \
            "$(last_metric "$WORK/parity-device/metrics.jsonl" $field)" || rc=1
    done
    return $rc
}

# --- data parallel -----------------------------------------------------------------------------
stage_data_parallel() {
    if ! "$SWEET" train --help 2>/dev/null | grep -q -- '--devices'; then
        skip "this build has no --devices"
        return 3
    fi
    local rc=0 field one=$DEVICE
    [ "$DEVICE" = cuda ] && one=cuda:0
    # one replica (the same code path as several), two replicas on one device (each on half
    # of every batch, gradients averaged), and with two GPUs one replica on each: every one
    # must follow the parity run on the device (same global batch, no drop path)
    local runs=("dp-1:$one" "dp-2-same:$one,$one")
    [ "${GPUS:-0}" -ge 2 ] && [ "$DEVICE" != cpu ] && runs+=("dp-2-gpus:cuda:0,cuda:1")
    local run name devices
    for run in "${runs[@]}"; do
        name=${run%%:*}; devices=${run#*:}
        # shellcheck disable=SC2086
        lim 90 "$SWEET" train --devices "$devices" $DATA $PARITY --epochs 1 --seed 7 --workers 2 \
            --out "$WORK/$name" || { rc=1; continue; }
        keep_run "$name" "$WORK/$name"
        if [ -s "$WORK/parity-device/metrics.jsonl" ]; then
            for field in train_loss test_loss; do
                rel_check "$field --devices $devices vs --device $DEVICE" \
                    "$(last_metric "$WORK/$name/metrics.jsonl" $field)" \
                    "$(last_metric "$WORK/parity-device/metrics.jsonl" $field)" || rc=1
            done
        else
            echo "no parity run on $DEVICE to compare --devices $devices with"
        fi
    done
    [ "${GPUS:-0}" -ge 2 ] || echo "one GPU: the run with a replica on each of two GPUs needs two"
    return $rc
}

main() {
    local start secs
    start=$(date +%s.%N)
    echo "=== env"
    setup_env  # in this shell: its LD_LIBRARY_PATH and GPUS serve every later stage
    secs=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
    echo "STAGE env ok $secs"
    SUMMARY+=("$(printf '%-22s %-8s %7ss' env ok "$secs")")
    stage unpack stage_unpack
    stage bench-step stage_bench_step
    stage bench-mae-step stage_bench_mae
    stage bench-mae-dense stage_bench_mae_dense
    stage data stage_data
    stage pretrain stage_pretrain
    stage init stage_init
    stage train stage_train
    stage timm stage_timm
    stage parity stage_parity
    stage data-parallel stage_data_parallel
    stage bench-vits-step stage_bench_vits_step
    stage bench-vits-mae-step stage_bench_vits_mae
    stage bench-vits-mae-dense stage_bench_vits_mae_dense
    bench_table
    echo
    echo "summary (device $DEVICE, $(elapsed)s in all):"
    printf '  %s\n' "${SUMMARY[@]}"
    local failed
    failed=$(printf '%s\n' "${SUMMARY[@]}" | grep -c ' FAILED ' || true)
    echo "GPU-CHECK $([ "$failed" = 0 ] && echo PASSED || echo "FAILED ($failed stages)") in $(elapsed)s"
    [ "$failed" = 0 ]
}

if [ -n "$OUT" ]; then
    mkdir -p "$OUT"
    main 2>&1 | tee "$OUT/gpu-check.log"
    exit "${PIPESTATUS[0]}"
fi
main
