#!/usr/bin/env python3
"""The table tools/heads_table.sh prints, recomputed from the raw rows.

Reads the run store with Python's sqlite3 (not labrun) and takes the
figures from the `runs`, `params` and `metrics` tables rather than the
`run_summary` view: best mAP = the highest `val/mAP` row, mean and sample
standard deviation by the statistics module, ms per step = 1000 x batch size
/ `train/images_per_s` averaged over every epoch row of the head's runs,
peak RSS = the `train/peak_rss_mib` row at the highest step, averaged.

    heads_table_reference.py STORE SWEEP
"""
import sqlite3
import statistics
import sys


def main(store, sweep):
    db = sqlite3.connect(f"file:{store}?mode=ro", uri=True)

    def param(run, key):
        return db.execute("SELECT value FROM params WHERE run = ? AND key = ?",
                          (run, key)).fetchone()[0]

    def values(run, key):
        return [v for (v,) in db.execute(
            "SELECT value FROM metrics WHERE run = ? AND key = ? ORDER BY step",
            (run, key))]

    heads = {}  # head -> [(seed, run)], in the order the runs started
    for run, seed in db.execute(
            "SELECT uuid, seed FROM runs WHERE sweep = ? AND status = "
            "'FINISHED' ORDER BY started_at", (sweep,)):
        heads.setdefault(param(run, "model.head.name"), []).append((seed, run))

    def ms_per_step(runs):
        return statistics.mean(1000.0 * param(run, "data.batch_size") / ips
                               for _, run in runs
                               for ips in values(run, "train/images_per_s"))

    fc_ms = ms_per_step(heads["fc"]) if "fc" in heads else None
    print("| head | runs | best val/mAP, mean ± sd | by seed | ms / step "
          "| vs fc | peak RSS (MiB) |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for head, runs in heads.items():
        best = [max(values(run, "val/mAP")) for _, run in sorted(runs)]
        sd = f"{statistics.stdev(best):.2f}" if len(best) > 1 else "n/a"
        ms = ms_per_step(runs)
        ratio = f"{ms / fc_ms:.2f}" if fc_ms else "n/a"
        rss = statistics.mean(values(run, "train/peak_rss_mib")[-1]
                              for _, run in runs)
        print(f"| `{head}` | {len(runs)} | {statistics.mean(best):.2f} ± {sd} "
              f"| {', '.join(f'{b:.2f}' for b in best)} | {ms:.1f} | {ratio} "
              f"| {rss:.0f} |")


if __name__ == "__main__":
    main(*sys.argv[1:])
