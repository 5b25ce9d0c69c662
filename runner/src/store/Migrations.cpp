#include "store/Migrations.h"

#include <iterator>
#include <string>

#include "store/Sqlite.h"

namespace labrun::store::detail {
namespace {

// Migration N (1-based) is kMigrations[N - 1]. Append-only: a released
// migration is never edited, since files already at its version would not
// see the change; schema changes add an entry and bump kSchemaVersion. Each
// script ends by setting user_version to its own number (a literal, so no
// value is ever spliced into SQL), inside the same transaction.
constexpr const char* kMigrations[] = {
    // 1: core tables.
    R"sql(
CREATE TABLE runs (
  uuid TEXT PRIMARY KEY NOT NULL,
  name TEXT NOT NULL,
  status TEXT NOT NULL
    CHECK (status IN ('RUNNING', 'FINISHED', 'FAILED', 'KILLED')),
  started_at REAL NOT NULL,
  ended_at REAL,
  heartbeat_at REAL,
  error TEXT,
  spec_yaml TEXT NOT NULL,
  spec_hash TEXT NOT NULL,
  spec_path TEXT NOT NULL,
  seed INTEGER NOT NULL,
  host TEXT NOT NULL,
  device TEXT NOT NULL,
  git_commit TEXT,
  git_dirty INTEGER NOT NULL CHECK (git_dirty IN (0, 1)),
  labrun_version TEXT NOT NULL,
  torch_version TEXT NOT NULL,
  opencv_version TEXT NOT NULL,
  command_line TEXT NOT NULL
);
-- `value` has no declared type on purpose: each value keeps the storage
-- class it was bound with (INTEGER, REAL, TEXT or NULL), so numeric
-- comparisons work on numeric params.
CREATE TABLE params (
  run TEXT NOT NULL REFERENCES runs (uuid) ON DELETE CASCADE,
  key TEXT NOT NULL,
  type TEXT NOT NULL,
  value,
  PRIMARY KEY (run, key)
);
CREATE TABLE metrics (
  run TEXT NOT NULL REFERENCES runs (uuid) ON DELETE CASCADE,
  key TEXT NOT NULL,
  step INTEGER NOT NULL,
  epoch INTEGER NOT NULL,
  value REAL,
  time REAL NOT NULL
);
CREATE TABLE class_metrics (
  run TEXT NOT NULL REFERENCES runs (uuid) ON DELETE CASCADE,
  epoch INTEGER NOT NULL,
  metric TEXT NOT NULL,
  class_index INTEGER NOT NULL,
  class_name TEXT NOT NULL,
  value REAL,
  positives INTEGER NOT NULL,
  PRIMARY KEY (run, epoch, metric, class_index)
);
CREATE TABLE checkpoints (
  run TEXT NOT NULL REFERENCES runs (uuid) ON DELETE CASCADE,
  step INTEGER NOT NULL,
  epoch INTEGER NOT NULL,
  path TEXT NOT NULL,
  bytes INTEGER NOT NULL,
  sha256 TEXT NOT NULL,
  metric REAL,
  best INTEGER NOT NULL CHECK (best IN (0, 1)),
  PRIMARY KEY (run, path)
);
CREATE TABLE run_plugins (
  run TEXT NOT NULL REFERENCES runs (uuid) ON DELETE CASCADE,
  name TEXT NOT NULL,
  kind TEXT NOT NULL,
  version TEXT NOT NULL,
  file TEXT NOT NULL,
  sha256 TEXT NOT NULL,
  PRIMARY KEY (run, kind, name)
);
PRAGMA user_version = 1;
)sql",
    // 2: indexes and the run_summary view.
    R"sql(
CREATE INDEX metrics_run_key_step ON metrics (run, key, step);
CREATE INDEX runs_name_started ON runs (name, started_at);
CREATE INDEX runs_started ON runs (started_at);
CREATE INDEX params_key_value ON params (key, value);
-- At most one best checkpoint per run, enforced by the file itself.
CREATE UNIQUE INDEX checkpoints_one_best ON checkpoints (run) WHERE best = 1;
CREATE VIEW run_summary AS
SELECT
  r.uuid,
  r.name,
  r.status,
  r.started_at,
  r.ended_at,
  COALESCE(r.ended_at, r.heartbeat_at) - r.started_at AS duration_s,
  p_lr.value AS lr,
  p_optimizer.value AS optimizer,
  p_batch_size.value AS batch_size,
  p_epochs.value AS epochs,
  p_backbone.value AS backbone,
  p_head.value AS head,
  p_loss.value AS loss,
  r.seed,
  m_best.value AS best_map,
  m_best.epoch AS best_map_epoch,
  m_last.value AS last_map,
  m_last.epoch AS last_map_epoch
FROM runs AS r
LEFT JOIN params AS p_lr
  ON p_lr.run = r.uuid AND p_lr.key = 'optim.lr'
LEFT JOIN params AS p_optimizer
  ON p_optimizer.run = r.uuid AND p_optimizer.key = 'optim.name'
LEFT JOIN params AS p_batch_size
  ON p_batch_size.run = r.uuid AND p_batch_size.key = 'data.batch_size'
LEFT JOIN params AS p_epochs
  ON p_epochs.run = r.uuid AND p_epochs.key = 'train.epochs'
LEFT JOIN params AS p_backbone
  ON p_backbone.run = r.uuid AND p_backbone.key = 'model.backbone.name'
LEFT JOIN params AS p_head
  ON p_head.run = r.uuid AND p_head.key = 'model.head.name'
LEFT JOIN params AS p_loss
  ON p_loss.run = r.uuid AND p_loss.key = 'loss.name'
-- Best: highest value (earliest step on ties); last: highest step. The
-- correlated subqueries use metrics_run_key_step, so the cost is per run,
-- not per metrics row.
LEFT JOIN metrics AS m_best ON m_best.rowid = (
  SELECT rowid FROM metrics
  WHERE run = r.uuid AND key = 'val/mAP' AND value IS NOT NULL
  ORDER BY value DESC, step ASC LIMIT 1)
LEFT JOIN metrics AS m_last ON m_last.rowid = (
  SELECT rowid FROM metrics
  WHERE run = r.uuid AND key = 'val/mAP'
  ORDER BY step DESC, rowid DESC LIMIT 1);
PRAGMA user_version = 2;
)sql",
    // 3: resume bookkeeping, bad-image counts, evaluation records, and the
    // view's CRASHED status for runs whose heartbeat stopped.
    R"sql(
ALTER TABLE runs ADD COLUMN resumes INTEGER NOT NULL DEFAULT 0;
ALTER TABLE runs ADD COLUMN bad_images INTEGER NOT NULL DEFAULT 0;
-- Process id of the (last) process training the run, on `host`.
ALTER TABLE runs ADD COLUMN pid INTEGER;
-- Id of the sweep (`labrun sweep`) that started the run, if any.
ALTER TABLE runs ADD COLUMN sweep TEXT;
CREATE INDEX runs_sweep ON runs (sweep);
CREATE TABLE evaluations (
  id INTEGER PRIMARY KEY,
  run TEXT NOT NULL REFERENCES runs (uuid) ON DELETE CASCADE,
  checkpoint TEXT NOT NULL,
  checkpoint_sha256 TEXT,
  split TEXT NOT NULL,
  created_at REAL NOT NULL,
  scores_path TEXT
);
CREATE TABLE evaluation_metrics (
  evaluation INTEGER NOT NULL REFERENCES evaluations (id) ON DELETE CASCADE,
  key TEXT NOT NULL,
  value REAL,
  PRIMARY KEY (evaluation, key)
);
CREATE TABLE evaluation_class_metrics (
  evaluation INTEGER NOT NULL REFERENCES evaluations (id) ON DELETE CASCADE,
  metric TEXT NOT NULL,
  class_index INTEGER NOT NULL,
  class_name TEXT NOT NULL,
  value REAL,
  positives INTEGER NOT NULL,
  PRIMARY KEY (evaluation, metric, class_index)
);
CREATE INDEX evaluations_run ON evaluations (run);
DROP VIEW run_summary;
CREATE VIEW run_summary AS
SELECT
  r.uuid,
  r.name,
  -- A RUNNING run whose heartbeat stopped (killed with -9, machine lost)
  -- shows as CRASHED; `labrun resume` picks it up.
  CASE WHEN r.status = 'RUNNING'
            AND r.heartbeat_at < CAST(strftime('%s', 'now') AS REAL) - 60
       THEN 'CRASHED' ELSE r.status END AS status,
  r.started_at,
  r.ended_at,
  COALESCE(r.ended_at, r.heartbeat_at) - r.started_at AS duration_s,
  p_lr.value AS lr,
  p_optimizer.value AS optimizer,
  p_batch_size.value AS batch_size,
  p_epochs.value AS epochs,
  p_backbone.value AS backbone,
  p_head.value AS head,
  p_loss.value AS loss,
  r.seed,
  r.sweep,
  r.resumes,
  r.bad_images,
  m_best.value AS best_map,
  m_best.epoch AS best_map_epoch,
  m_last.value AS last_map,
  m_last.epoch AS last_map_epoch
FROM runs AS r
LEFT JOIN params AS p_lr
  ON p_lr.run = r.uuid AND p_lr.key = 'optim.lr'
LEFT JOIN params AS p_optimizer
  ON p_optimizer.run = r.uuid AND p_optimizer.key = 'optim.name'
LEFT JOIN params AS p_batch_size
  ON p_batch_size.run = r.uuid AND p_batch_size.key = 'data.batch_size'
LEFT JOIN params AS p_epochs
  ON p_epochs.run = r.uuid AND p_epochs.key = 'train.epochs'
LEFT JOIN params AS p_backbone
  ON p_backbone.run = r.uuid AND p_backbone.key = 'model.backbone.name'
LEFT JOIN params AS p_head
  ON p_head.run = r.uuid AND p_head.key = 'model.head.name'
LEFT JOIN params AS p_loss
  ON p_loss.run = r.uuid AND p_loss.key = 'loss.name'
-- Best: highest value (earliest step on ties); last: highest step. The
-- correlated subqueries use metrics_run_key_step, so the cost is per run,
-- not per metrics row.
LEFT JOIN metrics AS m_best ON m_best.rowid = (
  SELECT rowid FROM metrics
  WHERE run = r.uuid AND key = 'val/mAP' AND value IS NOT NULL
  ORDER BY value DESC, step ASC LIMIT 1)
LEFT JOIN metrics AS m_last ON m_last.rowid = (
  SELECT rowid FROM metrics
  WHERE run = r.uuid AND key = 'val/mAP'
  ORDER BY step DESC, rowid DESC LIMIT 1);
PRAGMA user_version = 3;
)sql",
    // 4: data-parallel runs: how many worker processes trained the run
    // (rank 0 records it; `labrun resume` restarts as many).
    R"sql(
ALTER TABLE runs ADD COLUMN world_size INTEGER NOT NULL DEFAULT 1
  CHECK (world_size >= 1);
PRAGMA user_version = 4;
)sql",
    // 5: query plans that stay fast at thousands of runs (docs/BENCHMARKS.md,
    // "Run store").
    R"sql(
-- Runs are picked by uuid prefix with LIKE (docs/STORE.md); LIKE is
-- case-insensitive, so only a NOCASE index can serve it.
CREATE INDEX runs_uuid_nocase ON runs (uuid COLLATE NOCASE);
-- Representative statistics in place of ANALYZE: without any, SQLite takes
-- every table for equally large and may join a million per-class rows
-- before the one run they belong to. These describe a store of 1000 runs
-- with 40000 metric rows, 1600 per-class rows and 100 params each, so plans
-- go from runs to their rows whatever the file holds. Every index has a row
-- (StoreTest checks it); a migration adding an index adds its row.
ANALYZE sqlite_schema;
DELETE FROM sqlite_stat1;
INSERT INTO sqlite_stat1 (tbl, idx, stat) VALUES
  ('runs', 'sqlite_autoindex_runs_1', '1000 1'),
  ('runs', 'runs_uuid_nocase', '1000 1'),
  ('runs', 'runs_name_started', '1000 10 1'),
  ('runs', 'runs_started', '1000 1'),
  ('runs', 'runs_sweep', '1000 10'),
  ('params', 'sqlite_autoindex_params_1', '100000 100 1'),
  ('params', 'params_key_value', '100000 1000 100'),
  ('metrics', 'metrics_run_key_step', '40000000 40000 4000 1'),
  ('class_metrics', 'sqlite_autoindex_class_metrics_1',
   '1600000 1600 80 80 1'),
  ('checkpoints', 'sqlite_autoindex_checkpoints_1', '3000 3 1'),
  ('checkpoints', 'checkpoints_one_best', '1000 1'),
  ('run_plugins', 'sqlite_autoindex_run_plugins_1', '5000 5 1 1'),
  ('evaluations', 'evaluations_run', '1000 1'),
  ('evaluation_metrics', 'sqlite_autoindex_evaluation_metrics_1',
   '10000 10 1'),
  ('evaluation_class_metrics',
   'sqlite_autoindex_evaluation_class_metrics_1', '80000 80 80 1');
PRAGMA user_version = 5;
)sql",
    // 6: metric instances with labels (metrics: [map, {name: map, ap:
    // sklearn}] records val/mAP and val/mAP@ap=sklearn): run_summary shows
    // every validation key, and the best_by key with its best value.
    R"sql(
DROP VIEW run_summary;
CREATE VIEW run_summary AS
SELECT
  r.uuid,
  r.name,
  -- A RUNNING run whose heartbeat stopped (killed with -9, machine lost)
  -- shows as CRASHED; `labrun resume` picks it up.
  CASE WHEN r.status = 'RUNNING'
            AND r.heartbeat_at < CAST(strftime('%s', 'now') AS REAL) - 60
       THEN 'CRASHED' ELSE r.status END AS status,
  r.started_at,
  r.ended_at,
  COALESCE(r.ended_at, r.heartbeat_at) - r.started_at AS duration_s,
  p_lr.value AS lr,
  p_optimizer.value AS optimizer,
  p_batch_size.value AS batch_size,
  p_epochs.value AS epochs,
  p_backbone.value AS backbone,
  p_head.value AS head,
  p_loss.value AS loss,
  r.seed,
  r.sweep,
  r.resumes,
  r.bad_images,
  m_best.value AS best_map,
  m_best.epoch AS best_map_epoch,
  m_last.value AS last_map,
  m_last.epoch AS last_map_epoch,
  -- The key ranking checkpoints (checkpoint.best_by, e.g. a labelled
  -- metric instance's val/mAP@ap=sklearn) and its best value.
  p_best_by.value AS best_by,
  (SELECT CASE WHEN p_best_mode.value = 'min' THEN min(value)
               ELSE max(value) END
   FROM metrics WHERE run = r.uuid AND key = p_best_by.value) AS best_by_value,
  -- Every validation key recorded, space-separated: labelled instances
  -- (val/mAP@ap=sklearn) show here.
  (SELECT group_concat(key, ' ') FROM (
     SELECT DISTINCT key FROM metrics
     WHERE run = r.uuid AND key >= 'val/' AND key < 'val0' ORDER BY key))
    AS val_metrics
FROM runs AS r
LEFT JOIN params AS p_lr
  ON p_lr.run = r.uuid AND p_lr.key = 'optim.lr'
LEFT JOIN params AS p_optimizer
  ON p_optimizer.run = r.uuid AND p_optimizer.key = 'optim.name'
LEFT JOIN params AS p_batch_size
  ON p_batch_size.run = r.uuid AND p_batch_size.key = 'data.batch_size'
LEFT JOIN params AS p_epochs
  ON p_epochs.run = r.uuid AND p_epochs.key = 'train.epochs'
LEFT JOIN params AS p_backbone
  ON p_backbone.run = r.uuid AND p_backbone.key = 'model.backbone.name'
LEFT JOIN params AS p_head
  ON p_head.run = r.uuid AND p_head.key = 'model.head.name'
LEFT JOIN params AS p_loss
  ON p_loss.run = r.uuid AND p_loss.key = 'loss.name'
LEFT JOIN params AS p_best_by
  ON p_best_by.run = r.uuid AND p_best_by.key = 'checkpoint.best_by'
LEFT JOIN params AS p_best_mode
  ON p_best_mode.run = r.uuid AND p_best_mode.key = 'checkpoint.best_mode'
-- Best: highest value (earliest step on ties); last: highest step. The
-- correlated subqueries use metrics_run_key_step, so the cost is per run,
-- not per metrics row.
LEFT JOIN metrics AS m_best ON m_best.rowid = (
  SELECT rowid FROM metrics
  WHERE run = r.uuid AND key = 'val/mAP' AND value IS NOT NULL
  ORDER BY value DESC, step ASC LIMIT 1)
LEFT JOIN metrics AS m_last ON m_last.rowid = (
  SELECT rowid FROM metrics
  WHERE run = r.uuid AND key = 'val/mAP'
  ORDER BY step DESC, rowid DESC LIMIT 1);
PRAGMA user_version = 6;
)sql",
    // 7: evaluation-only runs (`labrun eval SPEC`: a spec's initial weights
    // scored, nothing trained), marked by runs.kind; the view shows the kind
    // and the newest evaluation's mAP.
    R"sql(
ALTER TABLE runs ADD COLUMN kind TEXT NOT NULL DEFAULT 'train'
  CHECK (kind IN ('train', 'eval'));
DROP VIEW run_summary;
CREATE VIEW run_summary AS
SELECT
  r.uuid,
  r.name,
  -- A RUNNING run whose heartbeat stopped (killed with -9, machine lost)
  -- shows as CRASHED; `labrun resume` picks it up.
  CASE WHEN r.status = 'RUNNING'
            AND r.heartbeat_at < CAST(strftime('%s', 'now') AS REAL) - 60
       THEN 'CRASHED' ELSE r.status END AS status,
  r.started_at,
  r.ended_at,
  COALESCE(r.ended_at, r.heartbeat_at) - r.started_at AS duration_s,
  p_lr.value AS lr,
  p_optimizer.value AS optimizer,
  p_batch_size.value AS batch_size,
  p_epochs.value AS epochs,
  p_backbone.value AS backbone,
  p_head.value AS head,
  p_loss.value AS loss,
  r.seed,
  r.sweep,
  r.resumes,
  r.bad_images,
  m_best.value AS best_map,
  m_best.epoch AS best_map_epoch,
  m_last.value AS last_map,
  m_last.epoch AS last_map_epoch,
  -- The key ranking checkpoints (checkpoint.best_by, e.g. a labelled
  -- metric instance's val/mAP@ap=sklearn) and its best value.
  p_best_by.value AS best_by,
  (SELECT CASE WHEN p_best_mode.value = 'min' THEN min(value)
               ELSE max(value) END
   FROM metrics WHERE run = r.uuid AND key = p_best_by.value) AS best_by_value,
  -- Every validation key recorded, space-separated: labelled instances
  -- (val/mAP@ap=sklearn) show here.
  (SELECT group_concat(key, ' ') FROM (
     SELECT DISTINCT key FROM metrics
     WHERE run = r.uuid AND key >= 'val/' AND key < 'val0' ORDER BY key))
    AS val_metrics,
  r.kind,
  -- The newest evaluation's mAP (`labrun eval`): an evaluation-only run's
  -- only figure.
  (SELECT em.value FROM evaluations AS e
   JOIN evaluation_metrics AS em ON em.evaluation = e.id AND em.key = 'mAP'
   WHERE e.run = r.uuid ORDER BY e.id DESC LIMIT 1) AS eval_map
FROM runs AS r
LEFT JOIN params AS p_lr
  ON p_lr.run = r.uuid AND p_lr.key = 'optim.lr'
LEFT JOIN params AS p_optimizer
  ON p_optimizer.run = r.uuid AND p_optimizer.key = 'optim.name'
LEFT JOIN params AS p_batch_size
  ON p_batch_size.run = r.uuid AND p_batch_size.key = 'data.batch_size'
LEFT JOIN params AS p_epochs
  ON p_epochs.run = r.uuid AND p_epochs.key = 'train.epochs'
LEFT JOIN params AS p_backbone
  ON p_backbone.run = r.uuid AND p_backbone.key = 'model.backbone.name'
LEFT JOIN params AS p_head
  ON p_head.run = r.uuid AND p_head.key = 'model.head.name'
LEFT JOIN params AS p_loss
  ON p_loss.run = r.uuid AND p_loss.key = 'loss.name'
LEFT JOIN params AS p_best_by
  ON p_best_by.run = r.uuid AND p_best_by.key = 'checkpoint.best_by'
LEFT JOIN params AS p_best_mode
  ON p_best_mode.run = r.uuid AND p_best_mode.key = 'checkpoint.best_mode'
-- Best: highest value (earliest step on ties); last: highest step. The
-- correlated subqueries use metrics_run_key_step, so the cost is per run,
-- not per metrics row.
LEFT JOIN metrics AS m_best ON m_best.rowid = (
  SELECT rowid FROM metrics
  WHERE run = r.uuid AND key = 'val/mAP' AND value IS NOT NULL
  ORDER BY value DESC, step ASC LIMIT 1)
LEFT JOIN metrics AS m_last ON m_last.rowid = (
  SELECT rowid FROM metrics
  WHERE run = r.uuid AND key = 'val/mAP'
  ORDER BY step DESC, rowid DESC LIMIT 1);
PRAGMA user_version = 7;
)sql",
    // 8: per-class decision thresholds chosen by `labrun eval --thresholds
    // f1` (or reused by --thresholds stored), kept with the evaluation;
    // `labrun predict` applies the newest.
    R"sql(
CREATE TABLE evaluation_thresholds (
  evaluation INTEGER NOT NULL REFERENCES evaluations (id) ON DELETE CASCADE,
  class_index INTEGER NOT NULL,
  class_name TEXT NOT NULL,
  -- Predicted where logit >= this (probability >= sigmoid of it); NULL: no
  -- threshold could be chosen (no positive label), the global one applies.
  logit REAL,
  probability REAL,
  -- F1 (percent) of the class at that threshold on the evaluated split.
  f1 REAL,
  PRIMARY KEY (evaluation, class_index)
);
INSERT INTO sqlite_stat1 (tbl, idx, stat) VALUES
  ('evaluation_thresholds', 'sqlite_autoindex_evaluation_thresholds_1',
   '8000 80 1');
PRAGMA user_version = 8;
)sql",
    // 9: a checkpoint file's run by its path (`delete` checks each file it
    // removes, eval/predict/export a file named with --checkpoint); the
    // primary key (run, path) cannot serve it without the run.
    R"sql(
CREATE INDEX checkpoints_path ON checkpoints (path);
INSERT INTO sqlite_stat1 (tbl, idx, stat) VALUES
  ('checkpoints', 'checkpoints_path', '3000 1');
PRAGMA user_version = 9;
)sql",
};
static_assert(std::size(kMigrations) == kSchemaVersion,
              "one migration per schema version");

[[noreturn]] void failNewer(sqlite3* db, int version) {
  fail(db, "schema version " + std::to_string(version) +
               " is newer than this labrun supports (" +
               std::to_string(kSchemaVersion) + "); use a newer labrun");
}

// A file at version 0 is new or empty, unless it holds tables of its own:
// then it is some other program's database, not a store to migrate.
void requireNoForeignTables(sqlite3* db) {
  Stmt st(db,
          "SELECT group_concat(name, ', ') FROM sqlite_master WHERE type = "
          "'table'");
  if (st.step() && st.columnText(0) != "") {
    fail(db,
         "not a labrun run store: it has no labrun schema but tables of "
         "its own (" +
             st.columnText(0) + ")");
  }
}

}  // namespace

int userVersion(sqlite3* db) {
  Stmt st(db, "PRAGMA user_version");
  st.step();
  return static_cast<int>(st.columnInt(0));
}

void migrate(sqlite3* db, int target) {
  int version = userVersion(db);
  if (version > kSchemaVersion) failNewer(db, version);
  while (version < target) {
    Transaction tx(db);
    // Another process may have migrated while we waited for the lock.
    version = userVersion(db);
    if (version > kSchemaVersion) failNewer(db, version);
    if (version >= target) break;
    if (version == 0) requireNoForeignTables(db);
    exec(db, kMigrations[version],
         "applying migration " + std::to_string(version + 1));
    tx.commit();
    ++version;
  }
}

void requireCurrent(sqlite3* db) {
  const int version = userVersion(db);
  if (version > kSchemaVersion) failNewer(db, version);
  if (version == 0) {
    requireNoForeignTables(db);
    fail(db,
         "an empty file, not a labrun run store yet (`labrun run` makes "
         "one)");
  }
  if (version < kSchemaVersion) {
    fail(db, "schema version " + std::to_string(version) +
                 " is older than this labrun's (" +
                 std::to_string(kSchemaVersion) +
                 "); a command that writes to it (labrun run, resume, eval "
                 "or delete) migrates it");
  }
}

}  // namespace labrun::store::detail
