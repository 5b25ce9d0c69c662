#!/usr/bin/env bash
# Label loading benchmark: labrun (`labrun prepare`, annotation file ->
# label table, no cache, no LibTorch) against the Python peer (json.load + one pass into a
# NumPy matrix) on a generated COCO-train2014-shaped instances file, side by
# side, then labrun's cache hit. Each side runs RUNS times, alternating; the
# best run of each is reported.
#   tools/bench/label_cache/run.sh [BUILD_DIR] [WORK_DIR] [RUNS]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=$(cd "${1:-build}" && pwd)
work=${2:-/tmp/labrun_label_bench}
runs=${3:-3}
mkdir -p "$work/images"
json=$work/instances_train2014.json
[ -f "$json" ] || /usr/bin/python3 "$here/make_coco.py" "$json"
cat >"$work/bench.yaml" <<YAML
model: {backbone: smallconv}
data:
  format: coco
  cache_dir: cache
  train: {annotations: instances_train2014.json, images: images}
  val: {annotations: instances_train2014.json, images: images}
YAML

# Runs "$@" under /usr/bin/time -v; prints "<own line> | wall s, cpu s, MiB".
measure() {
  local log=$work/time.log out
  out=$(/usr/bin/time -v "$@" 2>"$log" | tail -1)
  awk -v out="$out" -F': ' '
    /Elapsed \(wall clock\)/ { n = split($2, t, ":"); wall = t[n] + 60 * t[n - 1] }
    /User time/ { cpu += $2 } /System time/ { cpu += $2 }
    /Maximum resident set size/ { rss = $2 / 1024 }
    END { printf "%s | process: %.2f s wall, %.2f s cpu, %.0f MiB peak RSS\n",
          out, wall, cpu, rss }' "$log"
}
labrun=("$build/bin/labrun" prepare "$work/bench.yaml" --split train)

echo "file: $json ($(du -m "$json" | cut -f1) MB)"
echo "machine: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores"
for ((i = 1; i <= runs; i++)); do
  measure "${labrun[@]}" data.cache=false
  measure /usr/bin/python3 "$here/python_peer.py" "$json"
done | tee "$work/runs.txt"
rm -rf "$work/cache"
measure "${labrun[@]}" | sed 's/^/first use (parse + cache write): /'
# The fastest of RUNS cache hits.
for ((i = 1; i <= runs; i++)); do measure "${labrun[@]}"; done |
  sed 's/.*cache in \([0-9.]*\) s.*/\1 &/' | sort -g | head -1 |
  sed 's/^[0-9.]* /cache hit: /'

# Best (lowest) figures of each side over the runs, and the ratios. "load":
# each side's own clock around annotation file -> labels (wall and CPU);
# "process": the whole command under /usr/bin/time (start-up included).
awk '
  function num(pattern,   m) { match($0, pattern); m = substr($0, RSTART, RLENGTH)
    gsub(/[^0-9.]/, "", m); return m + 0 }
  function low(key, value) { if (!(key in best) || value < best[key]) best[key] = value }
  { side = /^python:/ ? "python" : "labrun"
    if (side == "python") { low(side " load", num("^python: [0-9.]+"))
                            low(side " load cpu", num("wall, [0-9.]+ s cpu")) }
    else { low(side " load", num("parsed in [0-9.]+"))
           low(side " load cpu", num("[(][0-9.]+ s cpu")) }
    low(side " process", num("process: [0-9.]+"))
    low(side " process cpu", num("s wall, [0-9.]+ s cpu, [0-9]+ MiB"))
    low(side " rss", num("[0-9]+ MiB peak")) }
  END {
    split("load|load cpu|process|process cpu", what, "|")
    for (i = 1; i <= 4; i++)
      printf "best %-12s labrun %7.3f s, python %7.3f s: %5.1fx\n", what[i],
        best["labrun " what[i]], best["python " what[i]],
        best["python " what[i]] / best["labrun " what[i]]
    printf "peak RSS:         labrun %d MiB, python %d MiB\n",
      best["labrun rss"], best["python rss"] }' "$work/runs.txt"
