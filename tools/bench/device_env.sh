# Sourced by the GPU-machine scripts (tools/bench/ssgrl/device.sh,
# tools/bench/runner/device.sh). The machines lent for GPU work have a CUDA
# PyTorch (with its LibTorch), a compiler and CMake, but none of labrun's
# Debian packages and no network: `device_fetch` downloads the packages'
# .deb files here into .devdeps (ignored by git; the device tool carries
# it), `device_unpack` extracts them there under /tmp, and
# `device_configure` configures a build against that machine's LibTorch.

# The libraries of the full labrun (LABRUN_WITH_IMGCODECS=OFF: OpenCV's
# core and imgproc, not imgcodecs, whose closure is 116 MB) with the
# libraries they load that a CUDA machine may lack; about 30 MB of .debs.
readonly DEVICE_PACKAGES=(
  libyaml-cpp-dev libyaml-cpp0.7 libfmt-dev libfmt9
  libboost1.74-dev libboost-filesystem1.74-dev libboost-filesystem1.74.0
  libboost-system1.74-dev libboost-system1.74.0 libgtest-dev
  libsqlite3-dev libsqlite3-0 libssl-dev libssl3 libcli11-dev
  nlohmann-json3-dev zlib1g-dev zlib1g libjpeg62-turbo-dev libjpeg62-turbo
  libsimdjson-dev libsimdjson14 libpugixml-dev libpugixml1v5 libxxhash-dev
  libgloo-dev
  libopencv-core-dev libopencv-core406 libopencv-imgproc-dev
  libopencv-imgproc406
  # What OpenCV's core loads: TBB, the reference BLAS/LAPACK (and their
  # Fortran runtime), GLX (and X11 under it).
  libtbb12 libtbbmalloc2 liblapack3 libblas3 libgfortran5 libquadmath0
  libglx0 libglvnd0 libx11-6 libx11-data libxcb1 libxau6 libxdmcp6 libbsd0
  libmd0)

device_fetch() {
  mkdir -p .devdeps
  (cd .devdeps && apt-get download "${DEVICE_PACKAGES[@]}")
  grep -qxF '/.devdeps/' .git/info/exclude 2>/dev/null ||
    echo '/.devdeps/' >>.git/info/exclude
  du -sh .devdeps
}

# Prints a stage header with the seconds since the start.
stage() { echo "== $1 (at $SECONDS s)"; }

# Prints the machine, extracts .devdeps into DEVICE_DEPS and puts its
# libraries on LD_LIBRARY_PATH (the reference BLAS and LAPACK live in
# folders of their own, which Debian's alternatives would link there).
device_unpack() {
  DEVICE_DEPS=/tmp/labrun-deps
  stage "machine"
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv ||
    true
  g++ --version | head -1
  cmake --version | head -1
  python3 -c 'import torch, torchvision; print("torch", torch.__version__,
      "cuda", torch.version.cuda, "cxx11 abi", torch.compiled_with_cxx11_abi(),
      "torchvision", torchvision.__version__)'
  stage "unpack $(ls .devdeps/*.deb | wc -l) Debian packages"
  mkdir -p "$DEVICE_DEPS"
  for deb in .devdeps/*.deb; do dpkg-deb -x "$deb" "$DEVICE_DEPS"; done
  local libdir=$DEVICE_DEPS/usr/lib/x86_64-linux-gnu
  export LD_LIBRARY_PATH=$libdir:$libdir/blas:$libdir/lapack${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
  # Debian keeps some configuration headers (OpenSSL's, libjpeg's jconfig.h)
  # in the multiarch folder, which the compiler searches only under /usr.
  local multiarch=$DEVICE_DEPS/usr/include/x86_64-linux-gnu
  export CPATH=$multiarch${CPATH:+:$CPATH}
}

# device_configure BUILD_DIR LOG CMAKE_ARGS...: configures BUILD_DIR
# against the LibTorch of the machine's PyTorch (TORCH_CMAKE_PREFIX
# overrides it) and the unpacked packages; the log goes to LOG.
device_configure() {
  local build_dir=$1 log=$2
  shift 2
  local torch_cmake=${TORCH_CMAKE_PREFIX:-}
  [ -n "$torch_cmake" ] ||
    torch_cmake=$(python3 -c 'import torch; print(torch.utils.cmake_prefix_path)')
  command -v nvcc >/dev/null || export PATH=/usr/local/cuda/bin:$PATH
  # One architecture: no GPU probing while LibTorch's CMake config loads.
  export TORCH_CUDA_ARCH_LIST=${TORCH_CUDA_ARCH_LIST:-9.0}
  # NCCL's header, for the data-parallel NCCL backend: the nvidia-nccl
  # wheel beside PyTorch has it (its folder differs between CUDA versions).
  if [ -z "${NCCL_INCLUDE_DIR:-}" ]; then
    NCCL_INCLUDE_DIR=$(python3 -c 'import os, nvidia
print(next((d for p in nvidia.__path__ for d, _, f in os.walk(p)
            if "nccl.h" in f), ""))' 2>/dev/null) || true
    export NCCL_INCLUDE_DIR
  fi
  echo "nccl.h: ${NCCL_INCLUDE_DIR:-not found}"
  cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=Release \
    -DCMAKE_POLICY_VERSION_MINIMUM=3.5 \
    -DCMAKE_PREFIX_PATH="$torch_cmake;$DEVICE_DEPS/usr" \
    -DCMAKE_INCLUDE_PATH="$DEVICE_DEPS/usr/include" \
    -DCMAKE_LIBRARY_PATH="$DEVICE_DEPS/usr/lib/x86_64-linux-gnu" \
    -DBoost_NO_SYSTEM_PATHS=ON -DBOOST_ROOT="$DEVICE_DEPS/usr" \
    "$@" >"$log" 2>&1 || { tail -40 "$log"; return 1; }
  grep -E "CUDA|Torch|cuDNN|NCCL|Warning" "$log" | head -12 || true
}

# device_build BUILD_DIR OUT CMAKE_ARG TARGETS...: unpacks the packages,
# configures BUILD_DIR with CMAKE_ARG unless it is configured already (so
# that one script's build serves the other), then builds TARGETS, as many
# as build (-k 0); the logs go to OUT. Fails naming the errors.
device_build() {
  local build_dir=$1 out=$2 option=$3
  shift 3
  mkdir -p "$out"
  device_unpack
  if [ ! -f "$build_dir/build.ninja" ]; then
    stage "configure"
    device_configure "$build_dir" "$out/configure.log" "$option"
  fi
  stage "build"
  ninja -C "$build_dir" -k 0 "$@" >"$out/build.log" 2>&1 ||
    { grep -E "error|Error" "$out/build.log" | head -40; return 1; }
  stage "built"
}

# device_test_suite BUILD_DIR: test_device, the suite every device build
# has (FusedAdam, the loss readback, the metrics' batches on the device and,
# beyond the model-only build, pinned batches; on cuda too).
device_test_suite() {
  stage "test_device (its cases on cpu and cuda)"
  "$1"/bin/test_device 2>&1 | tail -25 || echo "FAILED: test_device"
}
