#!/usr/bin/env bash
# Installs what is missing, builds from scratch if needed, and runs the whole
# test suite.
#   tools/test.sh [BUILD_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
build_dir=${1:-build}
stage() { echo "test: $1 done after $SECONDS s"; }
tools/setup.sh "$build_dir"
stage build
# The tests see what a fresh login would, whatever the caller's shell set:
# files made as with umask 022 (the plugin host refuses group- or
# world-writable plugins), no labrun variables, no forced Gloo interface,
# and a temporary folder of this run's own (gtest's TempDir() follows
# TEST_TMPDIR), so that checkouts testing side by side share no file. It is
# removed when everything passed, and kept for a look otherwise.
umask 022
unset LABRUN_PLUGIN_PATH LABRUN_DB LABRUN_RANK LABRUN_MASTER_ADDR \
  LABRUN_SWEEP_ID LABRUN_SWEEP_LABEL GLOO_SOCKET_IFNAME
TEST_TMPDIR=$(mktemp -d -t labrun-test.XXXXXX)
export TEST_TMPDIR
echo "test: temporary files in $TEST_TMPDIR"
ctest --test-dir "$build_dir" --output-on-failure --parallel "$(nproc)"
stage tests
# Reliability stages (docs/RELIABILITY.md): the sanitizer build of a test
# subset, and every fuzz target replaying its committed corpus (no search:
# the same verdict on any machine). LABRUN_SKIP_RELIABILITY=1 skips them,
# for local runs only (CI always runs them).
if [ "${LABRUN_SKIP_RELIABILITY:-0}" != 1 ]; then
  tools/sanitize.sh "$build_dir-asan"
  stage sanitizers
  tools/fuzz.sh replay "$build_dir-fuzz"
  stage fuzzing
fi
rm -rf "$TEST_TMPDIR"
