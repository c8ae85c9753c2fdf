#!/usr/bin/env bash
# Compile-checks the optional backends (not part of CI: each takes 5-30 minutes of one core
# and its own target folder, several GB).
#
#   PYTHON=/path/to/venv/bin/python scripts/check-backends.sh        # tch and cuda
#   BACKENDS=tch scripts/check-backends.sh
#
# tch: builds torch-sys against the libtorch of a Python with torch (LIBTORCH_USE_PYTORCH);
# tch 0.22 expects PyTorch 2.9.0, so other versions need LIBTORCH_BYPASS_VERSION_CHECK.
# cuda: cubecl-cuda's build downloads an LLVM bundle (tracel-llvm-bundler). Where there is no
# network, DOCS_RS=1 skips that download: the Rust code is still type-checked, but such a
# build could not link; a real cuda build needs the network (and a CUDA driver to run).
set -euo pipefail
cd "$(dirname "$0")/.."
BACKENDS=${BACKENDS:-"tch cuda"}
TARGET=${CARGO_TARGET_DIR:-target}
for b in $BACKENDS; do
    case $b in
    tch)
        PY=$(command -v "${PYTHON:-python3}") || { echo "no Python at ${PYTHON:-python3} (set PYTHON)" >&2; exit 1; }
        "$PY" -c "import torch" || { echo "$PY has no torch (set PYTHON)" >&2; exit 1; }
        PATH="$(dirname "$PY"):$PATH" LIBTORCH_USE_PYTORCH=1 LIBTORCH_BYPASS_VERSION_CHECK=1 \
            CARGO_TARGET_DIR="$TARGET-tch" cargo check -p sweet-cli --features tch ;;
    cuda)
        if ! getent hosts github.com >/dev/null; then
            echo "no network: checking cuda with DOCS_RS=1 (no LLVM bundle, no link)"
            export DOCS_RS=1
        fi
        CARGO_TARGET_DIR="$TARGET-cuda" cargo check -p sweet-cli --features cuda ;;
    *) echo "unknown backend $b (tch, cuda)" >&2; exit 1 ;;
    esac
    echo "$b: compile-check passed"
done
