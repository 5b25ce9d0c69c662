#!/bin/sh
# Makes the run store that the results tests read (ctest fixture
# results_store): a 2 x 2 sweep of the smoke experiment, two runs at a time,
# into OUT_DIR/runs.db, with the sweep's output in OUT_DIR/sweep.{out,err}.
#   make_results_store.sh LABRUN SOURCE_DIR OUT_DIR
set -eu
labrun=$1
source_dir=$2
out=$3
rm -rf "$out"
mkdir -p "$out"
cd "$out"
"$labrun" --db runs.db sweep "$source_dir/experiments/smoke.yaml" \
  optim.lr=0.003,0.01 seed=0,1 --parallel 2 -q threads=1 \
  data.synthetic.train_size=256 data.synthetic.val_size=128 train.epochs=2 \
  >sweep.out 2>sweep.err || { cat sweep.out sweep.err; exit 1; }
