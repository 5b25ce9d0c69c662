#!/bin/bash
# The whole runner on a GPU machine (docs/BENCHMARKS.md, "The whole runner
# on CUDA"): builds labrun and its plugins against that machine's CUDA
# LibTorch (-DLABRUN_WITH_IMGCODECS=OFF: JPEGs only), writes a COCO-shaped
# set of 640x480 JPEGs, then trains the COCO recipes' models on it with
# `labrun run` at 576/batch 4 (fc and ssgrl, fp32 and bf16, and one
# data-parallel run, --nproc 1 over NCCL) and tables images/s, the share of
# the epoch spent waiting for the loader, peak GPU memory and the projected
# times of a COCO epoch and of the recipe.
#
#   tools/bench/runner/device.sh fetch        # here: Debian packages -> .devdeps
#   tools/bench/runner/device.sh build [OUT]  # there: unpack, build
#   tools/bench/runner/device.sh run [OUT]    # there: build, generate, train
#
# The device tool carries .devdeps (run's `carry`). The build goes to
# BUILD_DIR (build-runner; ssgrl/device.sh's model-only build is
# build-device), logs and the table to OUT (default BUILD_DIR/out).
# Environment: TRAIN_IMAGES (1200: 300 steps at batch 4), VAL_IMAGES (500),
# DEVICE (cuda; cpu checks the script on a machine without a GPU), SIZE
# (576), TORCH_CMAKE_PREFIX (a LibTorch other than python3's torch).
set -euo pipefail
cd "$(dirname "$0")/../../.."
source tools/bench/device_env.sh
build_dir=${BUILD_DIR:-build-runner}

build() {
  # What the runs load: the front end, the torch side and the specs'
  # plugins; and test_device (the one suite without imgcodecs) and
  # bench_ssgrl, so that `BUILD_DIR=build-runner tools/bench/ssgrl/device.sh
  # precision` needs no build of its own.
  device_build "$build_dir" "${1:-$build_dir/out}" \
    -DLABRUN_WITH_IMGCODECS=OFF labrun labrun-torch labrun_backbone_resnet \
    labrun_head_fc labrun_head_ssgrl labrun_loss_bce labrun_metric_map \
    labrun_metric_prf test_device bench_ssgrl
  # Every library found: a missing one is named here, not mid-run.
  if ldd "$build_dir"/bin/labrun* "$build_dir"/plugins/*.so |
    grep "not found" | sort -u; then
    return 1
  fi
}

# row NAME SPEC OVERRIDES...: one `labrun run`, its figures appended to
# $out/runs.md, its log to $out/runs.log (out, work, labrun, transforms,
# recipe_epochs: run's).
row() {
  local name=$1 spec=$2
  shift 2
  stage "labrun run $name"
  local start=$SECONDS failed=false
  if ! "$labrun" --db "$work/runs.db" run "$spec" name="$name" \
    device="$DEVICE" data.root="$work" \
    data.train.annotations=train.json data.train.images=train \
    data.val.annotations=val.json data.val.images=val \
    data.classes="$PWD/configs/data/coco2014/classes.tsv" \
    model.backbone.weights= data.batch_size=4 train.epochs=1 \
    train.log_every=50 checkpoint.enabled=false eval.sanity_batches=0 \
    "${transforms[@]}" \
    "$@" >"$work/$name.log" 2>&1; then
    failed=true
    tail -15 "$work/$name.log"
    echo "| $name | failed (see runs.log) | | | | | | |" >>"$out/runs.md"
  fi
  # One file for every run's log: the device tool brings back 8 files.
  { echo "== $name"; cat "$work/$name.log"; } >>"$out/runs.log"
  $failed && return 0
  local seconds=$((SECONDS - start))
  # Projections: a train2014 epoch (82,783 images), and the recipe's epochs
  # of it, each with a val2014 evaluation (40,504 images).
  "$labrun" --db "$work/runs.db" sql --csv "WITH v AS (SELECT
      max(CASE WHEN m.key = 'train/images_per_s' THEN m.value END) AS rate,
      max(CASE WHEN m.key = 'train/val_images_per_s' THEN m.value END) AS val,
      max(CASE WHEN m.key = 'train/loader_wait_frac' THEN m.value END) AS wait,
      max(CASE WHEN m.key = 'train/peak_device_mib' THEN m.value END) AS mib
      FROM metrics m JOIN runs r ON r.uuid = m.run WHERE r.name = '$name')
    SELECT printf('| %s | %.1f | %.1f | %.3f | %s | %.0f | %.1f | %d |',
      '$name', rate, val, wait, CASE WHEN mib IS NULL THEN '-' ELSE printf('%.0f', mib) END,
      82783 / rate / 60, $recipe_epochs * (82783 / rate + 40504 / val) / 3600,
      $seconds) FROM v" | tail -n 1 | tee -a "$out/runs.md"
}

run() {
  local out=${1:-$build_dir/out}
  DEVICE=${DEVICE:-cuda} SIZE=${SIZE:-576}
  build "$out"
  device_test_suite "$build_dir"
  labrun=$PWD/$build_dir/bin/labrun
  work=$(mktemp -d)
  # The recipes' transforms at 576; at another SIZE the same in proportion.
  transforms=()
  if [ "$SIZE" != 576 ]; then
    local r=$((SIZE * 10 / 9))
    transforms=(
      "data.transforms.train=[resize ${r}x$r, random_crop $r|$SIZE|$((SIZE * 8 / 9))|$((SIZE * 2 / 3))|$((SIZE * 5 / 9)), resize ${SIZE}x$SIZE, normalize]"
      "data.transforms.val=[resize ${r}x$r, center_crop $SIZE, normalize]")
  fi
  stage "generate ${TRAIN_IMAGES:-1200} + ${VAL_IMAGES:-500} JPEGs"
  python3 tools/bench/label_cache/make_coco.py "$work/train.json" \
    --images "${TRAIN_IMAGES:-1200}" --jpegs "$work/train" --seed 1
  python3 tools/bench/label_cache/make_coco.py "$work/val.json" \
    --images "${VAL_IMAGES:-500}" --jpegs "$work/val" --split val --seed 2
  recipe_epochs=$(sed -n 's/^  epochs: \([0-9]*\)$/\1/p' \
    configs/recipe/ssgrl_released.yaml)
  {
    echo "| run | images/s | val images/s | loader wait | peak GPU MiB |" \
      "COCO epoch, min | recipe ($recipe_epochs epochs), h | wall s |"
    echo "| --- | --- | --- | --- | --- | --- | --- | --- |"
  } >"$out/runs.md"
  : >"$out/runs.log"
  for precision in fp32 bf16; do
    row "fc_$precision" experiments/coco2014_baseline_r101.yaml \
      train.precision=$precision
    row "ssgrl_$precision" experiments/coco2014_ssgrl_r101.yaml \
      train.precision=$precision
  done
  # Data-parallel code path with one process: NCCL on CUDA.
  local backend=nccl
  [ "$DEVICE" = cuda ] || backend=gloo
  row "ssgrl_bf16_nproc1_$backend" experiments/coco2014_ssgrl_r101.yaml \
    train.precision=bf16 distributed.backend=$backend --nproc 1
  stage "done"
  cat "$out/runs.md"
  rm -rf "$work"
}

case "${1:-}" in
  fetch) device_fetch ;;
  build) shift; build "$@" ;;
  run) shift; run "$@" ;;
  *) echo "usage: $0 fetch | build [OUT] | run [OUT]" >&2; exit 2 ;;
esac
