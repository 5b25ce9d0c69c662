#!/bin/sh
# ctest oot_experiment: the installed labrun (staging prefix) runs a short
# smoke experiment with the out-of-tree focal loss plugin, found through
# --plugin-path; the built-in plugins must come from the prefix.
#   oot_experiment.sh PREFIX OOT_PLUGIN_DIR SOURCE_DIR WORK_DIR
set -eu
prefix=$1
plugin_dir=$2
source_dir=$3
work=$4
labrun="$prefix/bin/labrun"
unset LABRUN_PLUGIN_PATH LABRUN_DB
rm -rf "$work"
mkdir -p "$work"
cd "$work"

fail() {
  echo "oot_experiment: $*" >&2
  exit 1
}

"$labrun" --plugin-path "$plugin_dir" plugins focal >plugins.out ||
  fail "labrun plugins focal failed"
grep -q "gamma" plugins.out || fail "focal's parameters not listed"

"$labrun" --db runs.db --plugin-path "$plugin_dir" run \
  "$source_dir/experiments/smoke.yaml" loss.name=focal ++loss.gamma=1.5 \
  train.epochs=1 data.synthetic.train_size=128 data.synthetic.val_size=64 \
  threads=1 -q >run.out 2>&1 || { cat run.out; fail "the run failed"; }

focal=$("$labrun" --db runs.db sql --csv \
  "SELECT file FROM run_plugins WHERE kind = 'loss' AND name = 'focal'")
case "$focal" in
  *"$plugin_dir"/liblabrun_loss_focal.so*) ;;
  *) fail "run_plugins has no focal loss from $plugin_dir: $focal" ;;
esac
builtin=$("$labrun" --db runs.db sql --csv \
  "SELECT file FROM run_plugins WHERE kind = 'backbone'")
case "$builtin" in
  *"$prefix"/lib/labrun/plugins/*) ;;
  *) fail "the backbone was not loaded from the prefix: $builtin" ;;
esac
gamma=$("$labrun" --db runs.db sql --csv \
  "SELECT value FROM params WHERE key = 'loss.gamma'")
case "$gamma" in
  *1.5*) ;;
  *) fail "loss.gamma not recorded as 1.5: $gamma" ;;
esac
echo "oot_experiment: ok ($focal)"
