// RunStore's typed reads: the SQL of every question the runner asks of the
// store, with values read as the types they are stored as (no text parsed
// again by callers).
#include <sqlite3.h>

#include "store/RunStore.h"
#include "store/RunStoreImpl.h"
#include "store/Sqlite.h"

namespace labrun::store {

using detail::fail;
using detail::Stmt;

namespace {

std::optional<double> optionalReal(const Stmt& st, int col) {
  if (sqlite3_column_type(st.get(), col) == SQLITE_NULL) return std::nullopt;
  return st.columnReal(col);
}

std::optional<std::string> optionalText(const Stmt& st, int col) {
  if (sqlite3_column_type(st.get(), col) == SQLITE_NULL) return std::nullopt;
  return st.columnText(col);
}

[[noreturn]] void noRun(sqlite3* db, const std::string& run) {
  fail(db, "no run '" + run + "'");
}

}  // namespace

RunStore::RunHeader RunStore::runHeader(const std::string& run) const {
  Stmt st(impl_->db,
          "SELECT uuid, name, status, kind FROM run_summary WHERE uuid = ?1");
  st.bindText(1, run);
  if (!st.step()) noRun(impl_->db, run);
  return {st.columnText(0), st.columnText(1), st.columnText(2),
          st.columnText(3)};
}

std::optional<std::string> RunStore::storedStatus(
    const std::string& run) const {
  Stmt st(impl_->db, "SELECT status FROM runs WHERE uuid = ?1");
  st.bindText(1, run);
  if (!st.step()) return std::nullopt;
  return st.columnText(0);
}

std::int64_t RunStore::worldSize(const std::string& run) const {
  Stmt st(impl_->db, "SELECT world_size FROM runs WHERE uuid = ?1");
  st.bindText(1, run);
  if (!st.step()) noRun(impl_->db, run);
  return st.columnInt(0);
}

RunStore::RunSpec RunStore::runSpec(const std::string& run) const {
  Stmt st(impl_->db,
          "SELECT spec_yaml, spec_path, spec_hash FROM runs WHERE uuid = ?1");
  st.bindText(1, run);
  if (!st.step()) noRun(impl_->db, run);
  return {st.columnText(0), st.columnText(1), st.columnText(2)};
}

RunStore::RunProcess RunStore::runProcess(const std::string& run) const {
  Stmt st(impl_->db,
          "SELECT host, pid, status, resumes, started_at, heartbeat_at "
          "FROM runs WHERE uuid = ?1");
  st.bindText(1, run);
  if (!st.step()) noRun(impl_->db, run);
  RunProcess out{optionalText(st, 0), std::nullopt,     st.columnText(2),
                 st.columnInt(3),     st.columnReal(4), st.columnReal(5)};
  if (sqlite3_column_type(st.get(), 1) != SQLITE_NULL) {
    out.pid = st.columnInt(1);
  }
  return out;
}

std::optional<RunStore::SweepMember> RunStore::sweepMember(
    const std::string& sweep, std::int64_t pid) const {
  Stmt st(impl_->db,
          "SELECT r.uuid, r.name, s.status, s.best_map FROM runs AS r JOIN "
          "run_summary AS s ON s.uuid = r.uuid WHERE r.sweep = ?1 AND "
          "r.pid = ?2");
  st.bindText(1, sweep).bindInt(2, pid);
  if (!st.step()) return std::nullopt;
  return SweepMember{st.columnText(0), st.columnText(1), st.columnText(2),
                     optionalReal(st, 3)};
}

std::vector<std::string> RunStore::sweepRuns(const std::string& sweep) const {
  Stmt st(impl_->db,
          "SELECT uuid FROM runs WHERE sweep = ?1 ORDER BY started_at, rowid");
  st.bindText(1, sweep);
  std::vector<std::string> out;
  while (st.step()) out.push_back(st.columnText(0));
  return out;
}

std::vector<std::pair<std::string, std::string>> RunStore::params(
    const std::string& run) const {
  Stmt st(impl_->db, "SELECT key, value FROM params WHERE run = ?1");
  st.bindText(1, run);
  std::vector<std::pair<std::string, std::string>> out;
  while (st.step()) {
    out.emplace_back(st.columnText(0), optionalText(st, 1).value_or("null"));
  }
  return out;
}

std::vector<RunStore::MetricRange> RunStore::validationMetrics(
    const std::string& run) const {
  Stmt st(impl_->db,
          "SELECT key, max(value), min(value), "
          "(SELECT value FROM metrics m2 WHERE m2.run = m.run AND "
          "m2.key = m.key ORDER BY step DESC, rowid DESC LIMIT 1) "
          "FROM metrics m WHERE run = ?1 AND substr(key, 1, 4) = 'val/' "
          "GROUP BY key");
  st.bindText(1, run);
  std::vector<MetricRange> out;
  while (st.step()) {
    out.push_back({st.columnText(0), optionalReal(st, 1), optionalReal(st, 2),
                   optionalReal(st, 3)});
  }
  return out;
}

std::vector<std::pair<double, double>> RunStore::metricSeries(
    const std::string& run, const std::string& key, Axis x) const {
  Stmt st(impl_->db,
          x == Axis::kStep
              ? "SELECT step, value FROM metrics WHERE run = ?1 AND key = ?2 "
                "AND value IS NOT NULL ORDER BY step, rowid"
              : "SELECT epoch, value FROM metrics WHERE run = ?1 AND key = ?2 "
                "AND value IS NOT NULL ORDER BY step, rowid");
  st.bindText(1, run).bindText(2, key);
  std::vector<std::pair<double, double>> out;
  while (st.step()) out.emplace_back(st.columnReal(0), st.columnReal(1));
  return out;
}

std::vector<ClassMetricRow> RunStore::lastClassAp(
    const std::string& run) const {
  Stmt st(impl_->db,
          "SELECT c.epoch, c.metric, c.class_index, c.class_name, c.value, "
          "c.positives FROM (SELECT metric, max(epoch) AS epoch FROM "
          "class_metrics WHERE run = ?1 AND (metric = 'AP' OR "
          "substr(metric, 1, 3) = 'AP@') GROUP BY metric) AS last "
          "JOIN class_metrics AS c ON c.run = ?1 AND c.epoch = last.epoch "
          "AND c.metric = last.metric ORDER BY c.metric, c.class_index");
  st.bindText(1, run);
  std::vector<ClassMetricRow> out;
  while (st.step()) {
    out.push_back({st.columnInt(0), st.columnText(1), st.columnInt(2),
                   st.columnText(3), optionalReal(st, 4), st.columnInt(5)});
  }
  return out;
}

std::optional<CheckpointRow> RunStore::pickCheckpoint(
    const std::string& run, CheckpointPick pick) const {
  std::string which;
  switch (pick) {
    case CheckpointPick::kBest:
      which = "AND best = 1";
      break;
    case CheckpointPick::kNewest:
      which = "ORDER BY step DESC LIMIT 1";
      break;
    case CheckpointPick::kBestElseNewest:
      which = "ORDER BY best DESC, step DESC LIMIT 1";
      break;
  }
  std::vector<CheckpointRow> rows = checkpointRows(run, which);
  if (rows.empty()) return std::nullopt;
  return std::move(rows.front());
}

std::vector<CheckpointRow> RunStore::checkpoints(const std::string& run) const {
  return checkpointRows(run, "ORDER BY step DESC");
}

std::vector<CheckpointRow> RunStore::checkpointRows(
    const std::string& run, const std::string& which) const {
  const std::string sql =
      "SELECT step, epoch, path, bytes, sha256, metric, best FROM checkpoints "
      "WHERE run = ?1 " +
      which;
  Stmt st(impl_->db, sql.c_str());
  st.bindText(1, run);
  std::vector<CheckpointRow> out;
  while (st.step()) {
    out.push_back({st.columnInt(0), st.columnInt(1), st.columnText(2),
                   st.columnInt(3), st.columnText(4), optionalReal(st, 5),
                   st.columnInt(6) != 0});
  }
  return out;
}

std::optional<RunStore::StoredThresholds> RunStore::newestThresholds(
    const std::string& run) const {
  sqlite3* db = impl_->db;
  Stmt st(db,
          "SELECT t.evaluation, t.class_index, t.class_name, t.logit, t.f1 "
          "FROM evaluation_thresholds AS t WHERE t.evaluation = (SELECT "
          "max(e.id) FROM evaluations AS e WHERE e.run = ?1 AND EXISTS "
          "(SELECT 1 FROM evaluation_thresholds WHERE evaluation = e.id)) "
          "ORDER BY t.class_index");
  st.bindText(1, run);
  std::optional<StoredThresholds> stored;
  while (st.step()) {
    if (!stored) stored.emplace().evaluation = st.columnInt(0);
    stored->classes.push_back({st.columnInt(1), st.columnText(2),
                               optionalReal(st, 3), optionalReal(st, 4)});
  }
  return stored;
}

std::optional<std::string> RunStore::checkpointOwner(
    const std::string& path) const {
  Stmt st(impl_->db, "SELECT run FROM checkpoints WHERE path = ?1");
  st.bindText(1, path);
  if (!st.step()) return std::nullopt;
  return st.columnText(0);
}

std::vector<std::string> RunStore::trainedClassNames(
    const std::string& run) const {
  Stmt st(impl_->db,
          "SELECT c.class_index, c.class_name FROM class_metrics c JOIN "
          "(SELECT epoch, metric FROM class_metrics WHERE run = ?1 ORDER BY "
          "epoch DESC, metric LIMIT 1) AS newest ON c.epoch = newest.epoch "
          "AND c.metric = newest.metric WHERE c.run = ?1 ORDER BY "
          "c.class_index");
  st.bindText(1, run);
  std::vector<std::string> names;
  while (st.step()) names.push_back(st.columnText(1));
  return names;
}

std::vector<RunStore::SizedCheckpoint> RunStore::checkpointsOfSize(
    std::int64_t bytes) const {
  Stmt st(impl_->db,
          "SELECT c.run, c.path, c.sha256 FROM checkpoints c JOIN runs r ON "
          "r.uuid = c.run WHERE c.bytes = ?1 ORDER BY r.started_at, c.step");
  st.bindInt(1, bytes);
  std::vector<SizedCheckpoint> found;
  while (st.step()) {
    found.push_back({st.columnText(0), st.columnText(1), st.columnText(2)});
  }
  return found;
}

std::vector<std::string> RunStore::checkpointsBeyond(
    const std::string& run, std::int64_t keep_last) const {
  Stmt st(impl_->db,
          "SELECT path FROM checkpoints WHERE run = ?1 AND best = 0 AND path "
          "NOT IN (SELECT path FROM checkpoints WHERE run = ?1 ORDER BY step "
          "DESC LIMIT ?2)");
  st.bindText(1, run).bindInt(2, keep_last);
  std::vector<std::string> out;
  while (st.step()) out.push_back(st.columnText(0));
  return out;
}

RunStore::Table RunStore::runFacts(const std::string& run) const {
  return query(
      "SELECT uuid, name, kind, status, datetime(started_at, 'unixepoch') AS "
      "started, datetime(ended_at, 'unixepoch') AS ended, error, spec_path, "
      "spec_hash, seed, host, device, git_commit, git_dirty, labrun_version, "
      "torch_version, opencv_version, command_line, spec_yaml "
      "FROM runs WHERE uuid = ?1",
      {run});
}

RunStore::Table RunStore::runProvenance(const std::string& run) const {
  return query(
      "SELECT uuid, name, datetime(started_at, 'unixepoch') AS started, "
      "datetime(ended_at, 'unixepoch') AS ended, spec_path AS spec, "
      "spec_hash AS \"spec sha256\", seed, sweep, git_commit AS \"git "
      "commit\", CASE git_dirty WHEN 1 THEN 'yes (uncommitted changes)' "
      "ELSE 'no' END AS \"git dirty\", labrun_version AS labrun, "
      "torch_version AS LibTorch, opencv_version AS OpenCV, host, device, "
      "resumes, command_line AS \"command line\" FROM runs WHERE uuid = ?1",
      {run});
}

RunStore::Table RunStore::runPlugins(const std::string& run) const {
  return query(
      "SELECT kind, name, version, substr(sha256, 1, 12), file "
      "FROM run_plugins WHERE run = ?1 ORDER BY kind, name",
      {run});
}

std::vector<RunStore::Section> RunStore::runSections(
    const std::string& run) const {
  std::vector<Section> out;
  auto section = [&](const char* title, const char* sql) {
    out.push_back({title, query(sql, {run})});
  };
  section("parameters:",
          "SELECT key, type, value FROM params WHERE run = ?1 ORDER BY key");
  section("metrics (last and best of each key):",
          "SELECT key, count(*) AS points, "
          "(SELECT value FROM metrics m2 WHERE m2.run = m.run AND "
          "m2.key = m.key ORDER BY step DESC, rowid DESC LIMIT 1) AS last, "
          "min(value) AS min, max(value) AS max, max(epoch) AS epochs "
          "FROM metrics m WHERE run = ?1 GROUP BY key ORDER BY key");
  section("per-class values (last epoch):",
          "SELECT metric, class_index, class_name, round(value, 2) AS "
          "value, positives FROM class_metrics WHERE run = ?1 AND "
          "epoch = (SELECT max(epoch) FROM class_metrics WHERE run = ?1) "
          "ORDER BY metric, class_index");
  section("evaluations:",
          "SELECT e.id, datetime(e.created_at, 'unixepoch') AS created, "
          "e.checkpoint, e.split, (SELECT round(value, 2) FROM "
          "evaluation_metrics WHERE evaluation = e.id AND key = 'mAP') "
          "AS mAP, e.scores_path FROM evaluations e WHERE e.run = ?1 "
          "ORDER BY e.id");
  section("checkpoints:",
          "SELECT epoch, step, path, bytes, substr(sha256, 1, 12) AS "
          "sha256, round(metric, 2) AS metric, best FROM checkpoints "
          "WHERE run = ?1 ORDER BY step");
  section("plugins:",
          "SELECT kind, name, version, file, substr(sha256, 1, 12) AS "
          "sha256 FROM run_plugins WHERE run = ?1 ORDER BY kind");
  return out;
}

}  // namespace labrun::store
