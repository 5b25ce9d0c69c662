#!/usr/bin/env python3
"""Scale benchmark of the run store (docs/BENCHMARKS.md, "Run store").

1. Template: `labrun run experiments/smoke.yaml train.epochs=1` against a
   fresh store, so the schema (every migration) and one real run come from
   labrun itself, never from a copy of the schema kept here.
2. Generation: the template file is copied, its run removed, and --runs
   synthetic runs shaped like the real one are written (its params with
   varied values, its plugins and checkpoints; per epoch --steps train/loss
   rows, the per-epoch metric keys of the real run and --classes per-class
   AP rows). Fixed seed, one transaction per block of runs, sync off. No
   ANALYZE: the planner sees what labrun's own migrations left, as in a
   real store.
3. Timing: each command as a whole process, median of --repeat runs after
   one warm-up run, one column per --labrun binary; then a Markdown table
   and the file size.

  nice -n 10 python3 tools/bench/store/bench_store.py --db /tmp/store.db \\
      --skip-timing
  python3 tools/bench/store/bench_store.py --db /tmp/store.db --reuse \\
      --labrun build/bin/labrun --repeat 5

The store is a few GB: keep it outside the repository. With --reuse an
existing store is timed as it is; a binary whose schema is newer migrates
it first (timed too). Example SQL is read from README.md and docs/STORE.md,
so the benchmark follows the docs.
"""

import argparse
import hashlib
import math
import os
import random
import re
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import uuid as uuidlib

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))))

# Values the synthetic runs vary, per param key (when the real run has it).
VARIED = {
    "optim.lr": [1e-4, 3e-4, 1e-3, 3e-3, 1e-2],
    "optim.name": ["adam", "sgd", "adamw"],
    "optim.weight_decay": [0.0, 1e-5, 1e-4],
    "data.batch_size": [16, 32, 64],
    "model.backbone.name": ["resnet", "smallconv"],
    "model.head.name": ["fc", "ssgrl"],
    "loss.name": ["bce", "asl"],
}
HEAD_MAP = {"fc": 62.0, "ssgrl": 70.0}  # final mAP around these


def parse_args():
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--db", required=True,
                   help="store to generate / time (a few GB: not in the repo)")
    p.add_argument("--labrun", action="append",
                   help="binary to time (repeatable: one column each; "
                        "default build/bin/labrun); the first one makes the "
                        "template")
    p.add_argument("--template",
                   help="store holding one real run to copy schema and run "
                        "from (default: made by the first --labrun)")
    p.add_argument("--reuse", action="store_true",
                   help="time an existing --db instead of generating it")
    p.add_argument("--runs", type=int, default=1000)
    p.add_argument("--epochs", type=int, default=20)
    p.add_argument("--steps", type=int, default=2000,
                   help="train/loss rows per epoch")
    p.add_argument("--classes", type=int, default=80)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--repeat", type=int, default=5,
                   help="timed repetitions per command (median)")
    p.add_argument("--startup-repeat", type=int, default=20,
                   help="repetitions of `runs` on the one-run template store")
    p.add_argument("--skip-timing", action="store_true")
    p.add_argument("--sql-only", action="store_true",
                   help="time only the docs' example SQL, in the sqlite3 "
                        "shell (the queries' own cost, no labrun needed)")
    return p.parse_args()


def run(cmd, check=True, **kw):
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       text=True, **kw)
    if check and r.returncode != 0:
        sys.exit("failed (%d): %s\n%s%s" % (r.returncode, " ".join(cmd),
                                            r.stdout[-2000:], r.stderr[-2000:]))
    return r


def template_path(db):
    return db + ".template.db"


def make_template(labrun, db):
    """One real run in a fresh store, by labrun itself."""
    path = template_path(db)
    for suffix in ("", "-wal", "-shm"):
        if os.path.exists(path + suffix):
            os.remove(path + suffix)
    work = tempfile.mkdtemp(prefix="labrun-store-template-")
    try:
        run([labrun, "--db", path, "run",
             os.path.join(REPO, "experiments/smoke.yaml"), "train.epochs=1"],
            cwd=work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return path


def read_template(con):
    con.row_factory = sqlite3.Row
    run = con.execute("SELECT * FROM runs").fetchone()
    uuid = run["uuid"]
    t = {"run": dict(run)}
    t["params"] = [tuple(r) for r in con.execute(
        "SELECT key, type, value FROM params WHERE run = ? ORDER BY key",
        (uuid,))]
    t["plugins"] = [tuple(r) for r in con.execute(
        "SELECT name, kind, version, file, sha256 FROM run_plugins "
        "WHERE run = ?", (uuid,))]
    t["checkpoints"] = [dict(r) for r in con.execute(
        "SELECT * FROM checkpoints WHERE run = ?", (uuid,))]
    # Keys logged once per epoch (the real run trains one epoch).
    t["epoch_keys"] = [r[0] for r in con.execute(
        "SELECT key FROM metrics WHERE run = ? GROUP BY key "
        "HAVING count(*) = 1 ORDER BY key", (uuid,))]
    t["class_names"] = [r[0] for r in con.execute(
        "SELECT DISTINCT class_name FROM class_metrics WHERE run = ? "
        "ORDER BY class_index", (uuid,))]
    con.row_factory = None
    return t


def generate(args, labrun):
    tpl = args.template or make_template(labrun, args.db)
    for suffix in ("", "-wal", "-shm"):
        if os.path.exists(args.db + suffix):
            os.remove(args.db + suffix)
    src = sqlite3.connect(tpl)
    t = read_template(src)
    dst = sqlite3.connect(args.db)
    src.backup(dst)
    src.close()
    if "val/mAP" not in t["epoch_keys"]:
        sys.exit("template run logged no val/mAP per epoch")
    con = dst
    con.execute("PRAGMA foreign_keys = ON")
    con.execute("DELETE FROM runs")  # cascades to the template's rows
    con.commit()
    # Bulk load: no rollback journal, no fsync; WAL again at the end, as
    # labrun leaves its files.
    con.execute("PRAGMA journal_mode = OFF")
    con.execute("PRAGMA synchronous = OFF")
    con.execute("PRAGMA cache_size = -1000000")

    rng = random.Random(args.seed)
    run_cols = list(t["run"].keys())
    insert_run = "INSERT INTO runs (%s) VALUES (%s)" % (
        ", ".join(run_cols), ", ".join("?" * len(run_cols)))
    names = t["class_names"]
    names = [names[i] if i < len(names) else "class_%02d" % i
             for i in range(args.classes)]
    epoch_keys = t["epoch_keys"]
    now = time.time()
    first = now - 60 * 86400  # runs over the last 60 days
    sweep = None
    started = first
    t0 = time.time()
    for i in range(args.runs):
        uuid = str(uuidlib.UUID(int=rng.getrandbits(128), version=4))
        # Sweeps of 10 runs for about a third of the runs.
        if i % 10 == 0:
            sweep = ("%08x" % rng.getrandbits(32)) if rng.random() < 0.33 \
                else None
        params = []
        chosen = {}
        for key, typ, value in t["params"]:
            if key in VARIED:
                value = rng.choice(VARIED[key])
            elif key == "train.epochs":
                value = args.epochs
            elif key == "seed":
                value = rng.randrange(1000)
            chosen[key] = value
            params.append((uuid, key, typ, value))
        head = chosen.get("model.head.name", "fc")
        lr = chosen.get("optim.lr", 1e-3)
        final = HEAD_MAP.get(head, 60.0) - 4 * abs(math.log10(lr) + 3) + \
            rng.gauss(0, 1.5)
        status = rng.choices(["FINISHED", "FAILED", "KILLED", "RUNNING"],
                             [0.9, 0.05, 0.03, 0.02])[0]
        epochs = args.epochs if status == "FINISHED" else \
            rng.randrange(1, args.epochs + 1)
        step_s = rng.uniform(0.05, 0.2)
        started += rng.uniform(0.2, 1.8) * (now - first) / args.runs
        ended = started + epochs * args.steps * step_s
        spec_yaml = t["run"]["spec_yaml"] + "# synthetic %d\n" % i
        row = dict(t["run"])
        row.update(
            uuid=uuid, status=status, started_at=started,
            ended_at=None if status == "RUNNING" else ended,
            heartbeat_at=ended, error="synthetic failure"
            if status == "FAILED" else None,
            spec_yaml=spec_yaml,
            spec_hash=hashlib.sha256(spec_yaml.encode()).hexdigest(),
            seed=chosen.get("seed", i), sweep=sweep,
            name="%s-%s-lr%g" % (head, chosen.get("loss.name", "bce"), lr))
        if "pid" in row:
            row["pid"] = 10000 + i
        con.execute(insert_run, [row[c] for c in run_cols])
        con.executemany("INSERT INTO params VALUES (?, ?, ?, ?)", params)
        con.executemany(
            "INSERT INTO run_plugins (run, name, kind, version, file, sha256) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            [(uuid,) + p for p in t["plugins"]])

        def metric_rows():
            step = 0
            for e in range(epochs):
                loss0 = 0.7 * math.exp(-e / 6)
                for s in range(args.steps):
                    step += 1
                    yield (uuid, "train/loss", step, e,
                           loss0 * (1 + 0.2 * rng.random()),
                           started + step * step_s)
                m = final * (1 - math.exp(-(e + 1) / 4)) + rng.gauss(0, 0.3)
                for key in epoch_keys:
                    value = m if key == "val/mAP" else \
                        rng.uniform(0, 100) if key.startswith("val/") else \
                        rng.uniform(0, 1)
                    yield (uuid, key, step, e, value, started + step * step_s)

        con.executemany(
            "INSERT INTO metrics (run, key, step, epoch, value, time) "
            "VALUES (?, ?, ?, ?, ?, ?)", metric_rows())
        con.executemany(
            "INSERT INTO class_metrics (run, epoch, metric, class_index, "
            "class_name, value, positives) VALUES (?, ?, 'AP', ?, ?, ?, ?)",
            ((uuid, e, c, names[c],
              None if c % 37 == 36 else rng.uniform(20, 100),
              0 if c % 37 == 36 else rng.randrange(1, 5000))
             for e in range(epochs) for c in range(args.classes)))
        last_step = epochs * args.steps
        for ck in t["checkpoints"]:
            ck = dict(ck)
            ck.update(run=uuid, step=last_step, epoch=epochs - 1,
                      path=ck["path"].replace(t["run"]["uuid"], uuid),
                      metric=final)
            con.execute("INSERT INTO checkpoints (%s) VALUES (%s)" % (
                ", ".join(ck), ", ".join("?" * len(ck))), list(ck.values()))
        if i % 50 == 49 or i == args.runs - 1:
            con.commit()
            print("  %d/%d runs, %.0f s" % (i + 1, args.runs, time.time() - t0),
                  flush=True)
    con.execute("PRAGMA journal_mode = WAL")
    con.close()
    print("generated %s in %.0f s" % (args.db, time.time() - t0))


def doc_queries():
    """(label, sql) of the example SQL in README.md and docs/STORE.md."""
    out = []
    readme = open(os.path.join(REPO, "README.md")).read()
    for m in re.finditer(r'(labrun sql|sqlite3 runs/labrun\.db) "([^"]+)"',
                         readme):
        out.append(("README: " + m.group(2), m.group(2), m.group(1)))
    store = open(os.path.join(REPO, "docs/STORE.md")).read()
    for m in re.finditer(r"\n\n((?:[^\n]+\n)+?)\n```sql\n(.*?)```", store,
                         re.S):
        out.append(("STORE.md: " + " ".join(m.group(1).split()).rstrip(":"),
                    m.group(2), "sql"))
    if not out:
        sys.exit("no example SQL found in README.md / docs/STORE.md")
    return out


def pick(con):
    """Runs the commands are timed on: the 10 newest finished runs."""
    rows = con.execute(
        "SELECT uuid, name FROM runs WHERE status = 'FINISHED' "
        "ORDER BY started_at DESC LIMIT 10").fetchall()
    return [r[0] for r in rows], rows[0][1]


def commands(db, labrun, ten, newest_name, out_dir):
    prefixes = [u[:8] for u in ten]
    cmds = [
        ("labrun runs", ["runs"]),
        ("labrun runs --where \"lr < 1e-3 AND best_map > 50\"",
         ["runs", "--where", "lr < 1e-3 AND best_map > 50"]),
        ("labrun runs --sort -best_map -n 100",
         ["runs", "--sort", "-best_map", "-n", "100"]),
        ("labrun show <uuid prefix>", ["show", prefixes[0]]),
        ("labrun show <name>", ["show", newest_name]),
        ("labrun compare <10 runs>", ["compare"] + prefixes),
        ("labrun report <10 runs>",
         ["report"] + prefixes + ["-o", os.path.join(out_dir, "r.html")]),
    ]
    out = [(label, [labrun, "--db", db] + a, None) for label, a in cmds]
    for label, sql, tool in doc_queries():
        sql = sql.replace("43e00e89%", prefixes[0] + "%") \
                 .replace("0e514e3f%", prefixes[1] + "%") \
                 .replace("'baseline'", "'%s'" % newest_name)
        sql = " ".join(sql.split())
        if tool.startswith("sqlite3"):
            out.append((label, ["sqlite3", "-readonly", db, sql], sql))
        else:
            out.append((label, [labrun, "--db", db, "sql", sql], sql))
    return out


def time_cmd(cmd, repeat):
    r = run(cmd)  # warm-up; also checks that it works
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        run(cmd)
        times.append(time.perf_counter() - t)
    return statistics.median(times), len(r.stdout.splitlines())


def time_shell(db, repeat):
    con = sqlite3.connect("file:%s?mode=ro" % db, uri=True)
    ten, newest = pick(con)
    con.close()
    print("| SQL (sqlite3 shell), schema %d | seconds |\n|---|---:|" %
          schema_version(db))
    for label, _, sql in commands(db, "labrun", ten, newest, "/tmp"):
        if sql:
            median = time_cmd(["sqlite3", "-readonly", db, sql], repeat)[0]
            print("| %s | %.3f |" % (label.replace("|", "\\|"), median),
                  flush=True)


def schema_version(path):
    con = sqlite3.connect("file:%s?mode=ro" % path, uri=True)
    v = con.execute("PRAGMA user_version").fetchone()[0]
    con.close()
    return v


def ensure_current(labrun, db):
    """Migrates `db` when `labrun` has a newer schema, by opening it
    read-write once (a resume of no run); returns the seconds that took, or
    None when nothing was to do."""
    r = run([labrun, "--db", db, "sql", "SELECT 1"], check=False)
    if r.returncode == 0:
        return None
    if "older than" not in r.stderr:
        sys.exit("%s cannot read %s:\n%s" % (labrun, db, r.stderr))
    t = time.perf_counter()
    r = run([labrun, "--db", db, "resume", "no-such-run-for-bench"],
            check=False)
    took = time.perf_counter() - t
    if "no run matches" not in r.stderr:
        sys.exit("migrating with %s failed:\n%s" % (labrun, r.stderr))
    return took


def main():
    args = parse_args()
    binaries = [os.path.abspath(b) for b in
                (args.labrun or [os.path.join(REPO, "build/bin/labrun")])]
    db = os.path.abspath(args.db)
    args.db = db
    if not args.reuse:
        generate(args, binaries[0])
    elif not os.path.exists(db):
        sys.exit("--reuse: no store at " + db)
    if args.skip_timing:
        return
    print("\nload average before timing: %s" %
          " ".join(open("/proc/loadavg").read().split()[:3]))
    if args.sql_only:
        time_shell(db, args.repeat)
        return
    out_dir = tempfile.mkdtemp(prefix="labrun-store-bench-")
    tpl = template_path(db)
    results = {}
    notes = []
    try:
        for b in binaries:
            v0 = schema_version(db)
            took = ensure_current(b, db)
            if took is not None:
                notes.append("%s migrated the store from schema %d to %d in "
                             "%.1f s" % (os.path.relpath(b, REPO), v0,
                                         schema_version(db), took))
            if not os.path.exists(tpl):
                if args.template:
                    with sqlite3.connect(args.template) as a, \
                            sqlite3.connect(tpl) as c:
                        a.backup(c)
                else:
                    make_template(b, db)
            ensure_current(b, tpl)
            con = sqlite3.connect("file:%s?mode=ro" % db, uri=True)
            ten, newest = pick(con)
            con.close()
            results[b] = []
            for label, cmd, sql in commands(db, b, ten, newest, out_dir):
                median, _ = time_cmd(cmd, args.repeat)
                # The same SQL in the stock shell: the query without
                # labrun's start-up.
                shell = time_cmd(["sqlite3", "-readonly", db, sql],
                                 args.repeat)[0] if sql else None
                results[b].append((label, median, shell))
                print("  %-60.60s %7.3f s" % (label, median), flush=True)
            su, _ = time_cmd([b, "--db", tpl, "runs"], args.startup_repeat)
            results[b].append(("start-up: `labrun runs` on a 1-run store",
                               su, None))
    finally:
        shutil.rmtree(out_dir, ignore_errors=True)
    size = sum(os.path.getsize(db + s) for s in ("", "-wal")
               if os.path.exists(db + s))
    con = sqlite3.connect("file:%s?mode=ro" % db, uri=True)
    counts = [con.execute("SELECT count(*) FROM %s" % t).fetchone()[0]
              for t in ("runs", "metrics", "class_metrics", "params")]
    con.close()
    print("\nStore: %s, %.2f GB; %d runs, %d metrics rows, %d class_metrics "
          "rows, %d params rows; median of %d (start-up: %d) runs after one "
          "warm-up, seconds, whole processes." % (
              db, size / 1e9, counts[0], counts[1], counts[2], counts[3],
              args.repeat, args.startup_repeat))
    for n in notes:
        print(n + ".")
    print()
    print("| command | " + " | ".join(
        "%s | sqlite3 shell" % os.path.relpath(b, REPO) for b in binaries) +
        " |")
    print("|---|" + "---:|---:|" * len(binaries))
    for i, (label, _, _) in enumerate(results[binaries[0]]):
        cells = []
        for b in binaries:
            _, median, shell = results[b][i]
            cells += ["%.3f" % median, "" if shell is None else "%.3f" % shell]
        print("| %s | %s |" % (label.replace("|", "\\|"), " | ".join(cells)))

if __name__ == "__main__":
    main()
