#!/usr/bin/env bash
# Runs every cargo-fuzz target of ocicompose for SECONDS each (default 20), starting
# from the committed seeds in fuzz/seeds/<target>/, and fails on the first crash.
#
#   bash fuzz/run.sh            # 20 s per target
#   bash fuzz/run.sh 3600       # an hour per target
#   FUZZ_TARGETS="layer spec" FUZZ_JOBS=2 bash fuzz/run.sh 600
#
# New inputs the fuzzer finds go to fuzz/corpus/<target>/ (not committed, reused by the
# next run); a crash is written to fuzz/artifacts/<target>/ and its path printed. Turn
# every crash into a case of tests/hostile/cases.json, with the fix (README, "Safety").
#
# cargo-fuzz needs nightly-only compiler flags (sanitizers, coverage); RUSTC_BOOTSTRAP=1
# lets the stable toolchain accept them.
set -euo pipefail
cd "$(dirname "$0")/.."

SECS=${1:-20}
case $SECS in ''|*[!0-9]*) echo "usage: bash fuzz/run.sh [SECONDS]" >&2; exit 2;; esac
TARGETS=${FUZZ_TARGETS:-"layer path_rules reference spec"}
JOBS=${FUZZ_JOBS:-1}
export RUSTC_BOOTSTRAP=1

# libfuzzer-sys compiles libFuzzer (C++) from source.
if ! command -v c++ >/dev/null 2>&1; then
  echo "installing g++ (libFuzzer is C++)" >&2
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq g++ >/dev/null
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "installing cargo-fuzz" >&2
  cargo install cargo-fuzz --locked
fi

echo "building the fuzz targets" >&2
cargo fuzz build -O >&2

status=0
summary=()
for t in $TARGETS; do
  [ -d "fuzz/seeds/$t" ] || { echo "no seeds for target $t (fuzz/seeds/$t)" >&2; exit 2; }
  mkdir -p "fuzz/corpus/$t" "fuzz/artifacts/$t"
  log=$(mktemp)
  echo "=== fuzz $t for ${SECS}s" >&2
  # -rss_limit_mb: a leak or a bomb that gets past the limits shows as a crash.
  # -timeout: one input that runs for 10 s is a hang worth a look.
  parallel=()
  [ "$JOBS" -gt 1 ] && parallel=(-jobs="$JOBS" -workers="$JOBS")
  set +e
  cargo fuzz run -O "$t" "fuzz/corpus/$t" "fuzz/seeds/$t" -- \
    -max_total_time="$SECS" -rss_limit_mb=2560 -timeout=10 ${parallel[@]+"${parallel[@]}"} \
    -print_final_stats=1 >"$log" 2>&1
  rc=$?
  set -e
  # With -jobs > 1, libFuzzer writes each worker's log to fuzz-N.log in the current folder.
  if [ "$JOBS" -gt 1 ]; then cat fuzz-*.log >>"$log" 2>/dev/null || true; rm -f fuzz-*.log; fi
  execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | awk '{s+=$2} END {print s+0}')
  corpus=$(find "fuzz/corpus/$t" -type f | wc -l)
  if [ $rc -ne 0 ]; then
    status=1
    tail -n 60 "$log" >&2
    echo "FAIL $t: see the input written under fuzz/artifacts/$t/ (reproduce: RUSTC_BOOTSTRAP=1 cargo fuzz run $t fuzz/artifacts/$t/<file>)" >&2
    summary+=("$t: CRASH after $execs executions")
  else
    summary+=("$t: ok, $execs executions in ${SECS}s, corpus $corpus inputs")
  fi
  rm -f "$log"
done
printf '%s\n' "${summary[@]}"
exit $status
