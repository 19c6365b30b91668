#!/usr/bin/env bash
# C tests of libocicompose, as a C user meets it: install with the documented command
# into a temporary PREFIX, compile against the installed header with every warning as
# an error, link once against the shared and once against the static library, and run
# both under valgrind (any error or leak fails). The README's ten-line example is built
# with the documented pkg-config line and must print the CLI's manifest digest.
#
# Needs: cc, make, pkg-config, valgrind, python3, cargo. Last line: "c: N passed, N failed".
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$(pwd)

WORK=$(mktemp -d "${TMPDIR:-/tmp}/ocicompose-c.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
PREFIX="$WORK/prefix"
log() { printf '\n--- %s\n' "$*" >&2; }

for tool in cc make pkg-config valgrind python3 readelf; do
  command -v "$tool" >/dev/null || { echo "tests/c: $tool is required" >&2; exit 1; }
done

log "make -C ffi install PREFIX=$PREFIX"
make -s -C ffi install PREFIX="$PREFIX"
export PKG_CONFIG_PATH="$PREFIX/lib/pkgconfig"

log "fixtures: ocicompose demo, the CLI's digest, broken layouts"
cargo build -q -p ocicompose-cli
TARGET_DIR=$(cargo metadata --format-version 1 --no-deps | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
CLI="$TARGET_DIR/debug/ocicompose"
"$CLI" demo --dir "$WORK/fixtures/demo" >/dev/null
rm -rf "$WORK/fixtures/demo/out"
cp -a "$WORK/fixtures/demo" "$WORK/cli"
EXPECTED=$("$CLI" compose "$WORK/cli/spec.json" 2>/dev/null)
echo "CLI manifest digest: $EXPECTED" >&2
python3 tests/c/make_fixtures.py "$WORK/fixtures/demo/images/base" "$WORK/fixtures/broken"
# A signing key as PKCS#8 PEM, unencrypted (cosign reads the same), for --sign-key.
mkdir -p "$WORK/fixtures/keys"
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$WORK/fixtures/keys/sign.pem" 2>/dev/null

CFLAGS=(-std=c11 -Wall -Wextra -Wpedantic -Werror -g -O1 -pthread)
read -ra PC_CFLAGS <<<"$(pkg-config --cflags ocicompose)"
read -ra PC_LIBS <<<"$(pkg-config --libs ocicompose)"
# The static build names the archive itself (a plain -locicompose prefers the .so) and
# adds the system libraries it needs, which ocicompose.pc lists as Libs.private.
STATIC_LIBS=("-L$PREFIX/lib" "-l:libocicompose.a")
for flag in $(pkg-config --libs --static ocicompose); do
  case "$flag" in -L* | -locicompose) ;; *) STATIC_LIBS+=("$flag") ;; esac
done

log "compile against $PREFIX/include/ocicompose.h"
cc "${CFLAGS[@]}" "${PC_CFLAGS[@]}" -o "$WORK/test_shared" tests/c/test_ocicompose.c "${PC_LIBS[@]}"
cc "${CFLAGS[@]}" "${PC_CFLAGS[@]}" -o "$WORK/test_static" tests/c/test_ocicompose.c "${STATIC_LIBS[@]}"
cc "${CFLAGS[@]}" -o "$WORK/example" tests/c/example.c $(pkg-config --cflags --libs ocicompose)

passed=0
failed=0
check() { # name, command...: one test of this script
  local name=$1
  shift
  if "$@"; then
    echo "ok   $name"
    passed=$((passed + 1))
  else
    echo "FAIL $name"
    failed=$((failed + 1))
  fi
}

soname=$(readelf -d "$PREFIX/lib/libocicompose.so" | sed -n 's/.*Library soname: \[\(.*\)\].*/\1/p')
check "shared library has a soname ($soname)" test -n "$soname" -a -e "$PREFIX/lib/$soname"
check "shared test binary needs $soname" bash -c "readelf -d '$WORK/test_shared' | grep -q 'NEEDED.*\[$soname\]'"
check "static test binary does not need libocicompose" bash -c "! readelf -d '$WORK/test_static' | grep -q 'NEEDED.*libocicompose'"
check "header installed is the committed one" cmp -s include/ocicompose.h "$PREFIX/include/ocicompose.h"

# Every leak kind but "still reachable" fails the run; tests/c/valgrind.supp names the
# two known false positives of rayon and crossbeam-epoch (possible leaks only).
VALGRIND=(valgrind --quiet --leak-check=full --show-leak-kinds=definite,indirect,possible
  --errors-for-leak-kinds=definite,indirect,possible --error-exitcode=99
  "--suppressions=$ROOT/tests/c/valgrind.supp")

run_suite() { # binary name: runs the C test binary under valgrind on its own fixtures
  local binary=$1 name=$2 out="$WORK/$2.out"
  cp -a "$WORK/fixtures" "$WORK/fixtures-$name"
  mkdir -p "$WORK/scratch-$name"
  log "$name under valgrind"
  local rc=0
  LD_LIBRARY_PATH="$PREFIX/lib" "${VALGRIND[@]}" "$WORK/$binary" "$WORK/fixtures-$name" \
    "$WORK/scratch-$name" "$EXPECTED" >"$out" || rc=$?
  cat "$out"
  local line p f
  line=$(tail -n 1 "$out")
  if [[ $line =~ ^([0-9]+)\ passed,\ ([0-9]+)\ failed$ ]]; then
    p=${BASH_REMATCH[1]} f=${BASH_REMATCH[2]}
    passed=$((passed + p))
    failed=$((failed + f))
  else
    echo "FAIL $name: no summary line"
    failed=$((failed + 1))
  fi
  if [ "$rc" = 99 ]; then
    echo "FAIL $name: valgrind reported errors or leaks (above)"
    failed=$((failed + 1))
  elif [ "$rc" != 0 ] && [ "${f:-1}" = 0 ]; then
    echo "FAIL $name: exit status $rc"
    failed=$((failed + 1))
  fi
}

run_suite test_shared shared
run_suite test_static static

log "the README's C example"
cp -a "$WORK/fixtures/demo" "$WORK/example-demo"
example_digest() {
  local got
  got=$(LD_LIBRARY_PATH="$PREFIX/lib" "${VALGRIND[@]}" "$WORK/example" "$WORK/example-demo/spec.json") || return 1
  [ "$got" = "$EXPECTED" ] || { echo "example printed '$got', want '$EXPECTED'" >&2; return 1; }
}
check "example prints the CLI's manifest digest, valgrind clean" example_digest
example_rejects_a_missing_spec() {
  local err rc=0
  err=$(LD_LIBRARY_PATH="$PREFIX/lib" "$WORK/example" "$WORK/missing.json" 2>&1 >/dev/null) || rc=$?
  [ "$rc" = 1 ] && [[ $err == *missing.json* ]]
}
check "example names a missing spec on stderr and exits 1" example_rejects_a_missing_spec

echo "c: $passed passed, $failed failed"
[ "$failed" = 0 ]
