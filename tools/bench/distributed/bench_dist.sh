#!/bin/sh
# Data-parallel training throughput on loopback (Gloo), run back to back
# REPEATS times so that all configurations see about the same machine load.
# Prints images/s of each run (the store's train/images_per_s of the epoch,
# counted over all ranks).
#   tools/bench/distributed/bench_dist.sh build/bin/labrun [N] [REPEATS] [MODE]
# MODE processes (default): 1 process against N with the same global batch;
# smallconv (no BatchNorm) on 64 px images, 32 steps.
# MODE overlap: N processes with the gradient all-reduce started during
# backward (distributed.overlap_backward=true) and after it (false), with
# buckets of 25 MiB (the default, DDP's) and 4 MiB; ResNet-18 (11.2 M
# parameters, 43 MiB of gradients a step) on 64 px images, 32 steps.
set -eu
labrun=$(realpath "$1")
nproc=${2:-2}
repeats=${3:-3}
mode=${4:-processes}
root=$(cd "$(dirname "$0")/../../.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
global=32
options="data.synthetic.image_size=64 data.synthetic.val_size=64
  train.epochs=1 eval.sanity_batches=0 checkpoint.enabled=false -q"
case $mode in
processes)
  spec="$root/experiments/smoke.yaml $options model.backbone.batch_norm=false
    data.synthetic.train_size=1024"
  # Processes:threads each:overlap:bucket MiB. One process on every core, one process
  # on one core, N processes sharing the cores (threads: auto = cores / N).
  configs="1:auto:true:25 1:1:true:25 $nproc:auto:true:25"
  ;;
overlap)
  # The paper's baseline model at depth 18 on the smoke run's data.
  printf 'extends:\n  - %s\n  - %s\n  - %s\nloss: {name: bce}\nmetrics: [{name: map}]\n' \
    "$root/configs/data/synthetic.yaml" \
    "$root/configs/model/resnet101_fc.yaml" \
    "$root/configs/optim/adam.yaml" >resnet.yaml
  spec="$work/resnet.yaml $options model.backbone.depth=18
    model.backbone.weights= data.synthetic.train_size=1024"
  configs="$nproc:auto:true:25 $nproc:auto:false:25 $nproc:auto:true:4
    $nproc:auto:false:4"
  ;;
*)
  echo "unknown mode '$mode' (processes or overlap)" >&2
  exit 2
  ;;
esac
for rep in $(seq "$repeats"); do
  for config in $configs; do
    IFS=: read -r n threads overlap bucket <<EOF
$config
EOF
    name="p${n}_t${threads}_overlap_${overlap}_bucket_$bucket"
    # shellcheck disable=SC2086
    "$labrun" --db bench.db run $spec data.batch_size=$((global / n)) \
      threads="$threads" distributed.overlap_backward="$overlap" \
      distributed.bucket_mb="$bucket" name="$name" --nproc "$n" \
      2>/dev/null >/dev/null
    "$labrun" --db bench.db sql --csv "SELECT printf('%d %s %.1f', $rep, \
      r.name, m.value) FROM metrics m JOIN runs r ON r.uuid = m.run WHERE \
      m.key = 'train/images_per_s' ORDER BY r.started_at DESC LIMIT 1" |
      tail -n 1
  done
done
