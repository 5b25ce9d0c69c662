#!/bin/sh
# Training throughput of 1 process against N data-parallel processes (Gloo,
# loopback) with the same global batch, run back to back REPEATS times so
# that all see about the same machine load. Prints images/s of each run (the
# store's train/images_per_s of the epoch, counted over all ranks).
#   tools/bench/distributed/bench_dist.sh build/bin/labrun [N] [REPEATS]
set -eu
labrun=$(realpath "$1")
nproc=${2:-2}
repeats=${3:-3}
root=$(cd "$(dirname "$0")/../../.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
global=32
# smallconv (no BatchNorm) on 64 px images, 32 steps.
spec="$root/experiments/smoke.yaml model.backbone.batch_norm=false
  data.synthetic.image_size=64
  data.synthetic.train_size=1024 data.synthetic.val_size=64 train.epochs=1
  eval.sanity_batches=0 checkpoint.enabled=false -q"
# Processes x threads each: one process on every core, one process on one
# core, N processes sharing the cores (threads: auto = cores / N).
for rep in $(seq "$repeats"); do
  for config in 1:auto 1:1 "$nproc":auto; do
    n=${config%:*}
    threads=${config#*:}
    # shellcheck disable=SC2086
    "$labrun" --db bench.db run $spec data.batch_size=$((global / n)) \
      threads="$threads" name="p${n}_t$threads" --nproc "$n" \
      2>/dev/null >/dev/null
    "$labrun" --db bench.db sql --csv "SELECT printf('%d %s %.1f', $rep, \
      r.name, m.value) FROM metrics m JOIN runs r ON r.uuid = m.run WHERE \
      m.key = 'train/images_per_s' ORDER BY r.started_at DESC LIMIT 1" |
      tail -n 1
  done
done
