#!/usr/bin/env bash
# Installs what is missing, builds from scratch if needed, and runs the whole
# test suite.
#   tools/test.sh [BUILD_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
build_dir=${1:-build}
tools/setup.sh "$build_dir"
ctest --test-dir "$build_dir" --output-on-failure --parallel "$(nproc)"
