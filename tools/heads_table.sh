#!/usr/bin/env bash
# Prints the Markdown table of a sweep over heads (tools/quickstart.sh
# --heads; docs/REPRODUCE.md section 9) from the run store: one row per head
# (model.head.name) over the sweep's finished runs, in the order they
# started, with
#   - the best validation mAP (run_summary.best_map): mean ± sample standard
#     deviation over the runs, then each run's figure in seed order;
#   - the time per training step in ms, batch_size / train/images_per_s,
#     averaged over every epoch of every run, and its ratio to fc's;
#   - the peak resident memory of the run's process (train/peak_rss_mib at
#     its last epoch), averaged over the runs.
#   tools/heads_table.sh [--build DIR] SWEEP
# SWEEP is the id the sweep printed (varying the head and the seed only);
# the store is $LABRUN_DB or runs/labrun.db.
set -euo pipefail
cd "$(dirname "$0")/.."

build=build
while (($#)); do
  case $1 in
    --build) build=$2; shift ;;
    --help | -h) sed -n '2,14p' "$0"; exit 0 ;;
    *) break ;;
  esac
  shift
done
if (($# != 1)) || ! [[ $1 =~ ^[A-Za-z0-9_-]+$ ]]; then
  echo "usage: tools/heads_table.sh [--build DIR] SWEEP (a sweep id)" >&2
  exit 2
fi
sweep=$1
labrun=$build/bin/labrun

# Rows are by head name: a sweep that varies anything else as well (a
# head's options, the learning rate) would average different models into
# one row. Refused instead; CSV rows end in CRLF.
shared=$("$labrun" sql --csv "
  SELECT count(*) - count(DISTINCT head || '/' || seed) FROM run_summary
  WHERE sweep = '$sweep' AND status = 'FINISHED'" | tr -d '\r' | tail -n 1)
if [ "$shared" != 0 ]; then
  echo "heads_table: sweep $sweep varies more than the head and the seed" \
    "($shared of its finished runs repeat a head and seed): the table has" \
    "one row per head name; see labrun compare --sweep $sweep" >&2
  exit 2
fi

# sqrt is one of SQLite's math functions (3.35+, built in by Debian's
# libsqlite3 that labrun links). Seeds join with '/' so the CSV needs no
# quoting; awk writes ', ' in their place.
query="
WITH r AS (
  SELECT started_at AS grid, uuid, head, seed, best_map, batch_size
  FROM run_summary WHERE sweep = '$sweep' AND status = 'FINISHED'),
step AS (
  SELECT r.head, avg(1000.0 * r.batch_size / m.value) AS ms
  FROM r JOIN metrics AS m ON m.run = r.uuid AND m.key = 'train/images_per_s'
  GROUP BY r.head),
rss AS (
  SELECT head, avg(mib) AS mib FROM (
    SELECT r.head, (SELECT m.value FROM metrics AS m WHERE m.run = r.uuid
      AND m.key = 'train/peak_rss_mib' ORDER BY m.step DESC LIMIT 1) AS mib
    FROM r)
  GROUP BY head),
map AS (
  SELECT head, min(grid) AS grid, count(*) AS n, avg(best_map) AS mean,
    sqrt(max(0, sum(best_map * best_map)
                - count(*) * avg(best_map) * avg(best_map)) / (count(*) - 1))
      AS sd,
    (SELECT group_concat(printf('%.2f', b.best_map), '/') FROM
      (SELECT best_map FROM r AS b WHERE b.head = r.head ORDER BY seed) AS b)
      AS seeds
  FROM r GROUP BY head)
SELECT map.head, map.n, map.mean, map.sd, map.seeds, step.ms,
  step.ms / (SELECT ms FROM step WHERE head = 'fc'), rss.mib
FROM map LEFT JOIN step USING (head) LEFT JOIN rss USING (head)
ORDER BY map.grid"

"$labrun" sql --csv "$query" | tr -d '\r' | awk -F, '
  NR == 1 {
    print "| head | runs | best val/mAP, mean ± sd | by seed | ms / step | vs fc | peak RSS (MiB) |"
    print "| --- | --- | --- | --- | --- | --- | --- |"
    next
  }
  {
    sd = $4 == "" ? "n/a" : sprintf("%.2f", $4)
    seeds = $5; gsub("/", ", ", seeds)
    ratio = $7 == "" ? "n/a" : sprintf("%.2f", $7)
    rss = $8 == "" ? "n/a" : sprintf("%.0f", $8)
    printf "| `%s` | %d | %.2f ± %s | %s | %.1f | %s | %s |\n", \
      $1, $2, $3, sd, seeds, $6, ratio, rss
  }'
