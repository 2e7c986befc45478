#!/usr/bin/env bash
# Cuttle set-up, one script for the two README commands (safe to run again):
#
#   ./setup.sh          install what the build needs, build, then start the local
#                       cluster (3 monitors, 3 OSDs, pools `ec` and `rep`) in ./cluster
#   ./setup.sh test     install what the build and tests need, check formatting and
#                       lints, run the test suite (this is what CI runs)
#
# Cargo's target directory and the prebuilt RocksDB library live under
# ~/.cache/cuttle (override with CARGO_TARGET_DIR / CUTTLE_CACHE), outside the clone,
# so a fresh clone reuses them instead of recompiling RocksDB's C++ (~1,500 CPU-seconds).
set -euo pipefail
cd "$(dirname "$0")"

mode="${1:-run}"
CACHE="${CUTTLE_CACHE:-$HOME/.cache/cuttle}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$CACHE/target}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"

log() { printf '==> %s\n' "$*" >&2; }

# --- 1. Debian packages ------------------------------------------------------------
# libclang-dev: bindgen (librocksdb-sys); g++/make: RocksDB's C++; fio: the reference
# figures printed next to our benchmarks; python3-venv + rclone: the S3 client tests;
# openssl: the test CA of the HTTPS gateway test. Tests only: chromium (the dashboard's
# headless-browser test).
install_packages() {
    local want=(libclang-dev g++ make pkg-config fio python3-venv rclone openssl "$@")
    local missing=()
    for p in "${want[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
    done
    if [ ${#missing[@]} -eq 0 ]; then
        return
    fi
    log "installing Debian packages: ${missing[*]}"
    local sudo=()
    if [ "$(id -u)" -ne 0 ]; then sudo=(sudo); fi
    export DEBIAN_FRONTEND=noninteractive
    if ! "${sudo[@]}" apt-get install -y -q "${missing[@]}"; then
        "${sudo[@]}" apt-get update -q
        "${sudo[@]}" apt-get install -y -q "${missing[@]}"
    fi
}

# --- 2. RocksDB, built once ----------------------------------------------------------
# librocksdb-sys compiles RocksDB from source whenever its build script reruns, and it
# reruns whenever the set of host-side crate features changes (which differs between
# `cargo test`, `cargo clippy` and single-package builds). So we compile it once into
# the cache and link that archive everywhere (.cargo/config.toml reads `.rocksdb`).
prebuild_rocksdb() {
    local version
    version=$(awk '/^name = "librocksdb-sys"$/ {getline; gsub(/"/, "", $3); print $3}' Cargo.lock)
    if [ -z "$version" ]; then
        log "cannot find librocksdb-sys in Cargo.lock"; exit 1
    fi
    local dir="$CACHE/rocksdb/$version-sse42"
    if [ ! -f "$dir/librocksdb.a" ]; then
        log "building RocksDB $version once (about 1,500 CPU-seconds; cached in $dir)"
        local build="$CACHE/rocksdb-build"
        rm -rf "$build"
        # ROCKSDB_COMPILE forces the source build even though .cargo/config.toml names
        # a prebuilt library; SSE4.2 + PCLMUL give RocksDB its fast crc32c.
        ROCKSDB_COMPILE=1 RUSTFLAGS="-C target-feature=+sse4.2,+pclmulqdq" \
            CARGO_TARGET_DIR="$build" cargo build --locked -p librocksdb-sys
        local lib
        lib=$(find "$build/debug/build" -path '*librocksdb-sys-*/out/librocksdb.a' -print -quit)
        if [ -z "$lib" ]; then
            log "RocksDB build produced no librocksdb.a"; exit 1
        fi
        mkdir -p "$dir"
        cp "$lib" "$dir/librocksdb.a.tmp" && mv "$dir/librocksdb.a.tmp" "$dir/librocksdb.a"
        rm -rf "$build"
    fi
    ln -sfn "$dir" .rocksdb
}

# --- 3. Python S3 clients for the gateway tests ---------------------------------------
# boto3, awscli, s3cmd and pytest, pinned in tests/s3/requirements.txt, in a virtual
# environment under the cache (Debian's Python refuses system-wide pip installs).
install_python_clients() {
    local venv="$CACHE/venv"
    local req=tests/s3/requirements.txt
    if [ -x "$venv/bin/python" ] && cmp -s "$req" "$venv/requirements.txt"; then
        return
    fi
    log "installing the Python S3 clients into $venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q --disable-pip-version-check -r "$req"
    cp "$req" "$venv/requirements.txt"
}

if [ "$mode" = test ]; then install_packages chromium; else install_packages; fi
prebuild_rocksdb

case "$mode" in
    test)
        install_python_clients
        log "cargo fmt --check"
        cargo fmt --all -- --check
        log "cargo clippy (all targets, warnings are errors)"
        cargo clippy --locked --workspace --all-targets -- -D warnings
        # The cluster tests start the daemons' binaries from the target directory, and
        # `cargo test` only builds the binaries of packages with integration tests of
        # their own: build every one, so a kept target directory never serves stale ones.
        log "cargo build (the daemons the cluster tests start)"
        cargo build --locked --workspace --bins
        log "cargo test"
        cargo test --locked --workspace
        ;;
    run)
        log "building (release)"
        cargo build --locked --release --workspace --bins
        bin="$CARGO_TARGET_DIR/release"
        log "starting the local cluster in ./cluster"
        "$bin/cuttle" cluster up --dir cluster
        "$bin/cuttle" -c cluster/cuttle.toml status
        cat >&2 <<HELP

The cluster keeps running in the background. Try:
  export PATH=$bin:\$PATH CUTTLE_CONF=$PWD/cluster/cuttle.toml
  cuttle status
  cuttle bench ec write --seconds 10 --no-cleanup && cuttle bench ec seq --seconds 10
  cuttle cluster down
HELP
        ;;
    *)
        echo "usage: $0 [test]" >&2
        exit 2
        ;;
esac
