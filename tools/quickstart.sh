#!/usr/bin/env bash
# The quickstart (README): installs and builds what is missing, makes the
# fashion-mosaic set, trains experiments/quickstart.yaml once with each head
# (a sweep over model.head: fc, then ssgrl), prints their comparison and
# writes an HTML report.
#   tools/quickstart.sh [options] [OVERRIDES...]
# Options:
#   --no-setup         skip tools/setup.sh (labrun already built)
#   --build DIR        build folder (default build)
#   --data DIR         fashion-mosaic folder (default data/fashion-mosaic)
#   --images T,V       fashion-mosaic train and val image counts (default
#                      2000,500)
#   --report FILE      HTML report to write (default runs/quickstart.html)
# OVERRIDES go to every run (e.g. seed=1). The run store is $LABRUN_DB or
# runs/labrun.db.
set -euo pipefail
cd "$(dirname "$0")/.."

setup=1
build=build
data=data/fashion-mosaic
images=2000,500
report=runs/quickstart.html
while (($#)); do
  case $1 in
    --no-setup) setup=0 ;;
    --build) build=$2; shift ;;
    --data) data=$2; shift ;;
    --images) images=$2; shift ;;
    --report) report=$2; shift ;;
    --help | -h) sed -n '2,14p' "$0"; exit 0 ;;
    *) break ;;
  esac
  shift
done

((setup)) && tools/setup.sh "$build"
labrun=$build/bin/labrun

"$labrun" prepare fashion-mosaic --out "$data" \
  --train "${images%,*}" --val "${images#*,}"

# The ssgrl head: one-hot class "embeddings" (no word vectors exist for this
# set, so each class gets a learned query of its own), the label graph
# P(j | i) from the training labels, and smaller attention and output sizes
# than the paper's (1024, 2048) to suit ResNet-18's 512 channels (README).
heads='model.head={name: fc},{name: ssgrl, embeddings: onehot, '
heads+='adjacency: labels, attention_dim: 256, output_dim: 512}'
log=$(mktemp)
trap 'rm -f "$log"' EXIT
# The sweep prints a line per run, then `labrun compare` of its runs.
status=0
"$labrun" sweep experiments/quickstart.yaml "$heads" \
  "data.root=$(realpath "$data")" "$@" | tee "$log" || status=$?
sweep=$(sed -n '1s/^sweep \([^:]*\):.*/\1/p' "$log")
[ -n "$sweep" ] || exit $((status ? status : 1))
mkdir -p "$(dirname "$report")"
"$labrun" report --sweep "$sweep" -o "$report"
echo "quickstart: report written to $report"
exit "$status"
