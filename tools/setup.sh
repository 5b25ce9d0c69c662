#!/usr/bin/env bash
# Installs the Debian 12 packages labrun needs (only when some are missing)
# and builds it (Release) into build/. Safe to run again at any time.
#   tools/setup.sh [--app] [BUILD_DIR]
#   --app  only the labrun command and its plugins (target labrun_app, what
#          the quickstart needs): neither the test binaries nor the
#          test-only packages, about half the first build
set -euo pipefail
cd "$(dirname "$0")/.."
app_only=0
if [ "${1:-}" = --app ]; then
  app_only=1
  shift
fi
build_dir=${1:-build}

packages=(
  build-essential cmake ninja-build ccache git pkg-config
  libtorch-dev python3-torch python3-torchvision
  libyaml-cpp-dev libboost-dev libboost-filesystem-dev
  libopencv-core-dev libopencv-imgproc-dev libopencv-imgcodecs-dev
  libjpeg62-turbo-dev python3-pil
  libsqlite3-dev sqlite3 libssl-dev
  libgtest-dev libgmock-dev libcli11-dev libfmt-dev nlohmann-json3-dev
  zlib1g-dev dataset-fashion-mnist
  libsimdjson-dev libpugixml-dev libxxhash-dev
  # Debian's LibTorch takes BLAS from the libblas.so.3 alternative: without
  # OpenBLAS that is the reference BLAS, ~25x slower on Linear layers. The
  # OpenMP build shares LibTorch's thread count.
  libopenblas0-openmp
  libgloo-dev  # headers for LibTorch's c10d ProcessGroupGloo (distributed)
)
test_packages=(
  python3-sklearn  # regenerates tests/data/metric/sklearn_fixtures.json
  chromium  # test_results renders `labrun report` pages headless
  clang-14 libclang-rt-14-dev llvm-14  # libFuzzer targets and sanitizer build
)
((app_only)) || packages+=("${test_packages[@]}")

missing=()
for package in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null |
    grep -q 'install ok installed' || missing+=("$package")
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo=sudo
  $sudo apt-get update -q
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q \
    --no-install-recommends "${missing[@]}"
fi

cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=Release
targets=()
((app_only)) && targets=(--target labrun_app)
cmake --build "$build_dir" --parallel "$(nproc)" "${targets[@]}"
