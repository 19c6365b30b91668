#!/usr/bin/env bash
# The README's test command: installs what the tests need on a fresh Debian machine,
# builds the real corpus when ../shared/corpus is there, and runs every test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)

log() { printf '\n=== %s\n' "$*" >&2; }

# --- system packages --------------------------------------------------------------
need=()
for pair in umoci:umoci skopeo:skopeo podman:podman runc:runc go:golang-go valgrind:valgrind \
            debootstrap:debootstrap pigz:pigz openssl:openssl pkg-config:pkg-config \
            docker-registry:docker-registry htpasswd:apache2-utils \
            apt-ftparchive:apt-utils gpg:gnupg xz:xz-utils \
            nasm:nasm autoconf:autoconf automake:automake libtoolize:libtool; do
  cmd=${pair%%:*}; pkg=${pair#*:}
  command -v "$cmd" >/dev/null 2>&1 || need+=("$pkg")
done
[ -s /etc/ssl/certs/ca-certificates.crt ] || need+=(ca-certificates)
python3 -c 'import venv, ensurepip' 2>/dev/null || need+=(python3-venv)
if [ ${#need[@]} -gt 0 ]; then
  log "apt-get install ${need[*]}"
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
fi

# --- the real corpus (Debian base + artifacts), built once and reused ---------------
if [ -n "${OCICOMPOSE_CORPUS:-}" ] && [ -d "$OCICOMPOSE_CORPUS/images/debian-base" ]; then
  :
elif [ -x ../shared/corpus/build-corpus.sh ] || [ -f ../shared/corpus/build-corpus.sh ]; then
  export OCICOMPOSE_CORPUS="$ROOT/.corpus"
  if [ ! -f "$OCICOMPOSE_CORPUS/images/MANIFEST.txt" ]; then
    log "building the real corpus into .corpus (about a minute)"
    bash ../shared/corpus/build-corpus.sh "$OCICOMPOSE_CORPUS"
  fi
else
  echo "note: ../shared/corpus is absent; tests that need the real corpus will be skipped" >&2
fi

# --- a signed Debian repository of real packages, for the package tests ---------------
# curl and its dependency closure, nano and ca-certificates, as `apt-get download`
# fetches them, indexed with apt-ftparchive and signed with a test key made here.
export OCICOMPOSE_APT_REPO="$ROOT/.aptrepo"
if [ ! -s "$OCICOMPOSE_APT_REPO/dists/bookworm/InRelease" ]; then
  log "building the test Debian repository into .aptrepo (apt-get download)"
  bash tests/aptrepo/build.sh "$OCICOMPOSE_APT_REPO"
fi

# --- independent checkers (PyPI, in a venv of their own) -----------------------------
# The tests check our SBOMs and signatures with other people's code: spdx-tools'
# validator, cyclonedx-python-lib's JSON schemas and Python's `cryptography`; and the
# examples' YAML with PyYAML. The tests
# find them through OCICOMPOSE_TOOLS_VENV and skip, saying so, where it is not set.
export OCICOMPOSE_TOOLS_VENV="$ROOT/.venv-tools"
if [ ! -x "$OCICOMPOSE_TOOLS_VENV/bin/pyspdxtools" ]; then
  log "pip install spdx-tools cyclonedx-python-lib cryptography (into .venv-tools)"
  python3 -m venv "$OCICOMPOSE_TOOLS_VENV"
  "$OCICOMPOSE_TOOLS_VENV/bin/pip" install -q spdx-tools 'cyclonedx-python-lib[json-validation]' cryptography pyyaml
fi

# --- suites ---------------------------------------------------------------------------
log "cargo test (core, cli, ffi)"
cargo test --workspace --exclude ocicompose-python --no-fail-fast
passed=1

# The core again with ISA-L inflating gzip (feature `isal`, built with nasm and autotools):
# every layer, hostile-input and compose test must read the same with either inflater.
log "cargo test -p ocicompose --features isal"
cargo test -p ocicompose --features isal --no-fail-fast
passed=$((passed + 1))

for suite in tests/c/run.sh tests/go/run.sh python/tests/run.sh; do
  log "$suite"
  bash "$suite"
  passed=$((passed + 1))
done

# Each cargo-fuzz target for 15 s from its seeds (the README's Safety section says how to run longer).
log "fuzz/run.sh 15"
bash fuzz/run.sh 15
passed=$((passed + 1))
log "all suites passed"
# Every suite above stops the run on its first failure (set -e), so reaching here means all passed.
echo "suites: $passed passed, 0 failed"
