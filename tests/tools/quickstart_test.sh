#!/bin/sh
# ctest quickstart: tools/quickstart.sh end to end (fashion-mosaic, the fc/ssgrl
# sweep of experiments/quickstart.yaml, comparison, report), then with
# --ablation (four heads) and --heads (five heads, two seeds, the table), at a
# tiny size: 64 + 32 images, 32x32 inputs, one epoch.
#   quickstart_test.sh SOURCE_DIR BUILD_DIR WORK_DIR
set -eu
source_dir=$1
build=$2
work=$3
rm -rf "$work"
mkdir -p "$work"
export LABRUN_DB="$work/runs.db"
unset LABRUN_PLUGIN_PATH

fail() {
  echo "quickstart_test: $*" >&2
  exit 1
}

# tools/quickstart.sh at the tiny size; "$@": options and overrides, after
# other overrides and sweep's -q (the script's options go anywhere).
tiny() {
  "$source_dir/tools/quickstart.sh" --no-setup --build "$build" \
    --data "$work/mosaic" train.epochs=1 \
    data.batch_size=16 threads=1 "output_dir=$work/checkpoints" -q \
    'data.transforms.train=[resize 32x32, normalize]' \
    'data.transforms.val=[resize 32x32, normalize]' --images 64,32 "$@"
}

tiny --report "$work/quickstart.html" >"$work/out.txt" 2>&1 ||
  { cat "$work/out.txt"; fail "quickstart failed"; }

# Each run of the sweep, named after its head. CSV rows end in CRLF; names
# with a comma come quoted.
runs() {
  "$build/bin/labrun" sql --csv \
    "SELECT name || ':' || status AS run FROM run_summary WHERE sweep = \
     (SELECT sweep FROM runs ORDER BY started_at DESC LIMIT 1) ORDER BY name" |
    tr -d '\r"' | tail -n +2 | tr '\n' ' '
}
heads=$(runs)
[ "$heads" = "quickstart[head=fc]:FINISHED quickstart[head=ssgrl]:FINISHED " ] ||
  fail "expected one finished run per head, found: $heads"
grep -q "model.head.name" "$work/out.txt" ||
  { cat "$work/out.txt"; fail "no comparison of the heads printed"; }
grep -q "per-class AP" "$work/out.txt" || fail "no per-class AP printed"
grep -q "<svg" "$work/quickstart.html" || fail "the report has no curves"
grep -q "quickstart\[head=ssgrl\]" "$work/quickstart.html" ||
  fail "the report lacks the ssgrl run"

# After training (README): thresholds, then labels for the validation
# images, and the model for Python.
ssgrl_run='quickstart[head=ssgrl]'
"$build/bin/labrun" eval "$ssgrl_run" --thresholds f1 >"$work/eval.txt" 2>&1 ||
  { cat "$work/eval.txt"; fail "eval of the quickstart's ssgrl run failed"; }
"$build/bin/labrun" predict "$ssgrl_run" "$work/mosaic/val2014" --format csv \
  -o "$work/predicted.csv" -q 2>"$work/predict.txt" ||
  { cat "$work/predict.txt"; fail "predict with the quickstart's ssgrl run failed"; }
grep -q "^predicted 32 images, skipped 0 unusable, at per-class thresholds" \
  "$work/predict.txt" || fail "predict: $(cat "$work/predict.txt")"
[ "$(wc -l <"$work/predicted.csv")" -eq 33 ] ||
  fail "predict: expected a header and 32 rows in $work/predicted.csv"
"$build/bin/labrun" export "$ssgrl_run" -o "$work/ssgrl.pt" >"$work/export.txt" 2>&1 ||
  { cat "$work/export.txt"; fail "export of the quickstart's ssgrl run failed"; }
[ -s "$work/ssgrl.pt" ] && [ -s "$work/ssgrl.json" ] || fail "export wrote nothing"

# The paper's ablation: four heads, one sweep.
tiny --ablation --report "$work/ablation.html" >"$work/ablation.txt" 2>&1 ||
  { cat "$work/ablation.txt"; fail "quickstart --ablation failed"; }
heads=$(runs)
want="quickstart[head=fc]:FINISHED quickstart[head=ssgrl(decoupling=false)]:"
want="${want}FINISHED quickstart[head=ssgrl(time_steps=0)]:FINISHED "
want="${want}quickstart[head=ssgrl]:FINISHED "
[ "$heads" = "$want" ] || fail "ablation: expected $want, found: $heads"
grep -q "quickstart\[head=ssgrl(decoupling=false)\]" "$work/ablation.html" ||
  fail "the ablation report lacks the run without decoupling"
# Its three ssgrl runs differ in options, not name: the heads table, one
# row per head name, refuses the sweep rather than average them.
ablation=$(sed -n 's/^sweep \([^:]*\): 4 run(s).*/\1/p' "$work/ablation.txt")
if "$source_dir/tools/heads_table.sh" --build "$build" "$ablation" \
  >"$work/mixed.txt" 2>&1; then
  fail "heads_table.sh took a sweep that varies the head's options"
fi
grep -q "^heads_table: sweep $ablation varies more than the head and the seed (2 of" \
  "$work/mixed.txt" || fail "heads_table.sh: $(cat "$work/mixed.txt")"

# Every head under the same conditions, two seeds each, and the table, which
# must equal the one Python recomputes from the store's raw rows.
tiny --heads --report "$work/heads.html" seed=0,1 >"$work/heads.txt" 2>&1 ||
  { cat "$work/heads.txt"; fail "quickstart --heads failed"; }
heads=$(runs)
want=
for head in csra fc mlgcn q2l ssgrl; do
  want="${want}quickstart[head=$head,seed=0]:FINISHED "
  want="${want}quickstart[head=$head,seed=1]:FINISHED "
done
[ "$heads" = "$want" ] || fail "heads: expected $want, found: $heads"
sweep=$(sed -n 's/^sweep \([^:]*\): 10 run(s).*/\1/p' "$work/heads.txt")
grep '^| ' "$work/heads.txt" >"$work/table.txt"
/usr/bin/python3 "$source_dir/tests/tools/heads_table_reference.py" "$LABRUN_DB" \
  "$sweep" >"$work/reference.txt"
diff "$work/reference.txt" "$work/table.txt" ||
  fail "the heads table differs from the reference (above)"
[ "$(cut -d'|' -f2 "$work/table.txt" | tr -d ' `' | tail -n +3 | tr '\n' ' ')" \
  = "fc ssgrl mlgcn csra q2l " ] || fail "heads table rows: $(cat "$work/table.txt")"
echo "quickstart_test: ok"
