#!/bin/bash
# The SSGRL benchmark on a GPU machine that has a CUDA PyTorch (with its
# LibTorch) but none of labrun's Debian packages: builds labrun's model-only
# configuration (-DLABRUN_MODEL_ONLY=ON: plugins, plugin host, bench_ssgrl,
# test_device) against that LibTorch, runs test_device on cuda, then
# tools/bench/ssgrl/bench_ssgrl.py on cuda.
#
#   tools/bench/ssgrl/device.sh fetch        # here: Debian packages -> .devdeps
#   tools/bench/ssgrl/device.sh build [OUT]  # there: unpack, build
#   tools/bench/ssgrl/device.sh run [OUT]    # there: build, test, benchmark
#   tools/bench/ssgrl/device.sh precision [OUT]  # there: build, the tests,
#                                  # the train.precision and loss-read rows
#
# `fetch` downloads the .deb files of the libraries labrun needs besides
# LibTorch into .devdeps (tools/bench/device_env.sh); `build` unpacks them
# under /tmp, so the GPU machine needs no package manager or network. Logs
# and the result tables go to OUT (default BUILD_DIR/out). BUILD_DIR
# (build-device) may name a build that tools/bench/runner/device.sh made
# (build-runner): a configured build is not configured again, only brought
# up to date.
set -euo pipefail
cd "$(dirname "$0")/../../.."
source tools/bench/device_env.sh
build_dir=${BUILD_DIR:-build-device}

# bench ARGS...: one bench_ssgrl.py comparison on cuda, its table appended
# to $out/bench.md (out: the caller's output folder).
bench() {
  local file=$out/bench.md
  stage "bench_ssgrl.py $*" | tee -a "$file"
  python3 tools/bench/ssgrl/bench_ssgrl.py --device cuda \
    --bench "$build_dir"/bin/bench_ssgrl --plugins "$build_dir"/plugins "$@" \
    2>&1 | tee -a "$file" || echo "FAILED: $*"
}

# Unpacks the packages, configures (model-only) and builds into build_dir.
build() {
  device_build "$build_dir" "${1:-$build_dir/out}" -DLABRUN_MODEL_ONLY=ON \
    bench_ssgrl test_device labrun_backbone_resnet labrun_head_fc \
    labrun_head_ssgrl labrun_loss_bce
}

# train.precision at the paper's size: SSGRL within 1.15x of fc in bf16,
# labrun against PyTorch's own mixed precision (autocast; GradScaler for
# fp16) on the same GPU (issue: speed on every device); then bf16 in
# channels-last (model.memory_format), both sides: cuDNN's tensor-core
# convolutions take NHWC without transposing.
precision_rows() {
  for precision in bf16 fp16; do
    bench --size 576 --batch 4 --precision $precision --warmup 5 --steps 20 \
      --rounds 2 --skip "labrun ssgrl direct"
  done
  bench --size 576 --batch 4 --precision bf16 --memory-format channels_last \
    --warmup 5 --steps 20 --rounds 2 --skip "labrun ssgrl direct"
}

# The step's loss read (issue 17, item 2): the trainer reads it once the
# update is queued; `wait` (its way before ScalarReadback) waits there for
# the whole step, `readback` (now) for the forward pass only. bench_ssgrl
# takes the step as the trainer does, fc and ssgrl in bf16 at 576/batch 4,
# one process per configuration, rounds interleaved; the median step of
# each run goes to loss_read.md.
loss_read_rows() {
  local file=$out/loss_read.md
  stage "loss read: wait | readback" | tee "$file"
  echo "| round | head | loss read | ms/step (median of 30) |" >>"$file"
  echo "| --- | --- | --- | --- |" >>"$file"
  for round in 1 2; do
    for head in fc ssgrl; do
      for read in wait readback; do
        "$build_dir"/bin/bench_ssgrl --plugins "$build_dir"/plugins \
          --device cuda --threads 1 --head $head --size 576 --batch 4 \
          --precision bf16 --loss-read $read --warmup 5 --steps 30 |
          python3 -c 'import json, statistics, sys
r = json.loads(sys.stdin.readlines()[-1])
print("| %s | %s | %s | %.2f |" % (*sys.argv[1:],
      1e3 * statistics.median(r["step_s"])))' $round $head $read |
          tee -a "$file" || echo "FAILED: loss read $head $read"
      done
    done
  done
}

run() {
  local out=${1:-$build_dir/out}
  build "$out"
  device_test_suite "$build_dir"

  # The issue's setting first (with labrun's Adam, then LibTorch's), the
  # head alone, the paper's training batch, then one profiled step of each
  # head; a failing one does not stop the others. Few files in OUT (the
  # device tool brings back only a handful): the tables go to bench.md,
  # the profiles' summaries to standard output.
  bench --warmup 5 --steps 30 --rounds 2
  bench --adam libtorch --warmup 5 --steps 30 --rounds 2 \
    --skip "labrun ssgrl direct,pytorch fc,pytorch ssgrl released"
  bench --backbone features --warmup 5 --steps 30 --rounds 2
  bench --size 576 --batch 4 --warmup 5 --steps 20 --rounds 2 \
    --skip "labrun ssgrl direct"
  precision_rows
  loss_read_rows
  for head in fc ssgrl; do
    stage "profile: $head"
    "$build_dir"/bin/bench_ssgrl --plugins "$build_dir"/plugins \
      --device cuda --head $head --warmup 3 --steps 1 \
      --trace "$out/trace_$head.json" >/dev/null &&
      python3 tools/bench/ssgrl/trace_summary.py "$out/trace_$head.json" \
        --top 30 || echo "FAILED: trace $head"
    gzip -f "$out/trace_$head.json" || true
  done
  stage "done"
}

case "${1:-}" in
  fetch) device_fetch ;;
  build) shift; build "$@" ;;
  run) shift; run "$@" ;;
  precision)
    out=${2:-$build_dir/out}
    build "$out"
    device_test_suite "$build_dir"
    precision_rows
    loss_read_rows
    ;;
  *)
    echo "usage: $0 fetch | build [OUT] | run [OUT] | precision [OUT]" >&2
    exit 2
    ;;
esac
