#!/usr/bin/env bash
# The quickstart (README): installs and builds what is missing, makes the
# fashion-mosaic set, trains experiments/quickstart.yaml once with each head
# (a sweep over model.head: fc, then ssgrl; runs named quickstart[head=fc]
# and quickstart[head=ssgrl]), prints their comparison and writes an HTML
# report.
#   tools/quickstart.sh [options] [OVERRIDES...]
# Options:
#   --ablation         the paper's ablation instead: fc, ssgrl without the
#                      graph (time_steps=0), ssgrl without semantic
#                      decoupling (decoupling=false), full ssgrl
#                      (docs/REPRODUCE.md); report runs/ablation.html
#   --heads            every head under the same conditions instead: fc,
#                      ssgrl, mlgcn, csra, q2l (docs/REPRODUCE.md section
#                      9); report runs/heads.html, then the Markdown table
#                      of tools/heads_table.sh
#   --no-setup         skip tools/setup.sh (labrun already built)
#   --build DIR        build folder (default build)
#   --data DIR         fashion-mosaic folder (default data/fashion-mosaic)
#   --images T,V       fashion-mosaic train and val image counts (default
#                      2000,500)
#   --report FILE      HTML report to write (default runs/quickstart.html,
#                      runs/ablation.html or runs/heads.html)
# OVERRIDES go to every run (e.g. seed=0,1,2 sweeps the seed too); they and
# any other argument (labrun sweep's options: --parallel N, -q) are handed to
# `labrun sweep` in order, the options above taken out wherever they stand.
# The run store is $LABRUN_DB or runs/labrun.db.
set -euo pipefail
cd "$(dirname "$0")/.."

setup=1
mode=quickstart
build=build
data=data/fashion-mosaic
images=2000,500
report=
sweep_args=()
while (($#)); do
  case $1 in
    --ablation) mode=ablation ;;
    --heads) mode=heads ;;
    --no-setup) setup=0 ;;
    --build) build=$2; shift ;;
    --data) data=$2; shift ;;
    --images) images=$2; shift ;;
    --report) report=$2; shift ;;
    --help | -h) sed -n '2,27p' "$0"; exit 0 ;;
    *) sweep_args+=("$1") ;;
  esac
  shift
done

((setup)) && tools/setup.sh --app "$build"
labrun=$build/bin/labrun

"$labrun" prepare fashion-mosaic --out "$data" \
  --train "${images%,*}" --val "${images#*,}"

# The ssgrl head: one-hot class "embeddings" (no word vectors exist for this
# set, so each class gets a learned query of its own), the label graph
# P(j | i) from the training labels, and attention and output sizes to suit
# the backbone's 64 channels (the paper's 1024 and 2048 suit ResNet-101's
# 2048; README).
ssgrl='name: ssgrl, embeddings: onehot, adjacency: labels, attention_dim: 64, '
ssgrl+='output_dim: 128'
# ML-GCN, CSRA and Query2Label as docs/REPRODUCE.md section 9 gives them:
# one-hot embeddings and the label graph as for ssgrl; CSRA's COCO setting;
# Query2Label's released layout at the backbone's width (64, no input
# projection), its feed-forward 4 times as wide as released.
mlgcn='name: mlgcn, embeddings: onehot, adjacency: labels'
csra='name: csra, num_heads: 4, lam: 0.5'
q2l='name: q2l, hidden_dim: 64, num_heads: 4, dim_feedforward: 256'
case $mode in
  ablation)
    heads="model.head={name: fc},{$ssgrl, time_steps: 0},"
    heads+="{$ssgrl, decoupling: false},{$ssgrl}" ;;
  heads) heads="model.head={name: fc},{$ssgrl},{$mlgcn},{$csra},{$q2l}" ;;
  *) heads="model.head={name: fc},{$ssgrl}" ;;
esac
report=${report:-runs/$mode.html}
log=$(mktemp)
trap 'rm -f "$log"' EXIT
# The sweep prints a line per run, then `labrun compare` of its runs.
status=0
"$labrun" sweep experiments/quickstart.yaml "$heads" \
  "data.root=$(realpath "$data")" "${sweep_args[@]}" | tee "$log" || status=$?
sweep=$(sed -n '1s/^sweep \([^:]*\):.*/\1/p' "$log")
[ -n "$sweep" ] || exit $((status ? status : 1))
mkdir -p "$(dirname "$report")"
"$labrun" report --sweep "$sweep" -o "$report"
echo "quickstart: report written to $report"
if [ "$mode" = heads ]; then
  tools/heads_table.sh --build "$build" "$sweep"
fi
exit "$status"
