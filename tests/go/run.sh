#!/usr/bin/env bash
# Go tests of libocicompose: install the library with the documented command into a
# temporary PREFIX, then `go vet` and `go test` the Go module in ffi/go against it,
# composing the CLI's demo images. Offline: the module uses the standard library only.
#
# Needs: go (Debian's golang-go), cc, make, pkg-config, cargo.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$(pwd)

WORK=$(mktemp -d "${TMPDIR:-/tmp}/ocicompose-go.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
PREFIX="$WORK/prefix"

for tool in go cc make pkg-config; do
  command -v "$tool" >/dev/null || { echo "tests/go: $tool is required" >&2; exit 1; }
done

echo "--- make -C ffi install PREFIX=$PREFIX" >&2
make -s -C ffi install PREFIX="$PREFIX" >&2

cargo build -q -p ocicompose-cli
TARGET_DIR=$(cargo metadata --format-version 1 --no-deps | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
export OCICOMPOSE_CLI="$TARGET_DIR/debug/ocicompose"

export PKG_CONFIG_PATH="$PREFIX/lib/pkgconfig"
export LD_LIBRARY_PATH="$PREFIX/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
export CGO_ENABLED=1 GOTOOLCHAIN=local GOPROXY=off GOFLAGS=-mod=mod
export GOCACHE="${GOCACHE:-$ROOT/target/go-build}"

cd ffi/go
echo "--- go vet" >&2
go vet ./...
# GOGC=1 makes the collector run constantly, so a handle freed too early by a finalizer
# (a missing runtime.KeepAlive) would show up as a crash or a wrong value.
echo "--- go test (GOGC=1)" >&2
GOGC=1 go test -v -count=1 ./...
