// Run store tests against real SQLite files in a fresh temporary directory.
#include <gtest/gtest.h>
#include <sqlite3.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "store/HeadlineMetric.h"
#include "store/Heartbeat.h"
#include "store/Migrations.h"
#include "store/RunStore.h"

namespace labrun::store {
namespace {

namespace fs = std::filesystem;

// Message of the StoreError thrown by `f`; "" when nothing is thrown.
template <class F>
std::string errorOf(F&& f) {
  try {
    f();
  } catch (const StoreError& e) {
    return e.what();
  }
  return "";
}

::testing::AssertionResult Contains(const std::string& text,
                                    const std::string& part) {
  if (text.find(part) != std::string::npos) {
    return ::testing::AssertionSuccess();
  }
  return ::testing::AssertionFailure()
         << "'" << text << "' does not contain '" << part << "'";
}

// Rows as the sqlite3 shell prints them: "a|b|NULL".
std::vector<std::string> lines(const RunStore::Table& t) {
  std::vector<std::string> out;
  for (const auto& row : t.rows) {
    std::string line;
    for (std::size_t c = 0; c < row.size(); ++c) {
      line += (c ? "|" : "") + row[c].value_or("NULL");
    }
    out.push_back(line);
  }
  return out;
}

std::vector<std::string> lines(const RunStore& store, const std::string& sql,
                               const std::vector<std::string>& params = {}) {
  return lines(store.query(sql, params));
}

// First row of a query; "<none>" when there is none.
std::string scalar(const RunStore& store, const std::string& sql,
                   const std::vector<std::string>& params = {}) {
  const auto rows = lines(store, sql, params);
  return rows.empty() ? "<none>" : rows[0];
}

constexpr double kStale = RunStore::kStaleHeartbeatS;

RunInfo makeInfo(const std::string& name, const std::string& uuid = "") {
  RunInfo info;
  info.uuid = uuid;
  info.name = name;
  info.spec_yaml = "optim: {lr: 0.01}\n";
  info.spec_hash = std::string(64, 'a');
  info.spec_path = "/specs/" + name + ".yaml";
  info.seed = 7;
  info.host = "testhost";
  info.device = "cpu";
  info.labrun_version = "0.1.0";
  info.torch_version = "2.3.0";
  info.opencv_version = "4.6.0";
  info.command_line = "labrun train " + name + ".yaml";
  return info;
}

MetricRow metric(const std::string& key, std::int64_t step, std::int64_t epoch,
                 double value) {
  return MetricRow{key, step, epoch, value, 1000.0 + static_cast<double>(step)};
}

// A raw connection for building databases the way older labruns left them.
struct RawDb {
  explicit RawDb(const std::string& path) {
    EXPECT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  }
  ~RawDb() { sqlite3_close(db); }
  void exec(const std::string& sql) {
    char* err = nullptr;
    EXPECT_EQ(sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &err), SQLITE_OK)
        << (err ? err : "") << " in: " << sql;
    sqlite3_free(err);
  }
  sqlite3* db = nullptr;
};

class StoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl =
        (fs::temp_directory_path() / "labrun_store_XXXXXX").string();
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    // Canonical, so it matches the path SQLite reports in its errors.
    dir_ = fs::canonical(tmpl);
    path_ = (dir_ / "runs" / "labrun.db").string();
  }
  void TearDown() override { fs::remove_all(dir_); }

  // Two finished runs: "low-lr" peaks at 0.80 in epoch 2 and ends at 0.75;
  // "high-lr" rises to 0.85 in its last epoch. Returns {low, high} uuids.
  std::pair<std::string, std::string> seedTwoRuns(RunStore& store) {
    const std::string low = store.createRun(makeInfo("low-lr"));
    store.addParams(low, {{"optim.lr", "float", "1e-4"},
                          {"optim.name", "string", "adamw"},
                          {"data.batch_size", "int", "32"},
                          {"train.epochs", "int", "3"},
                          {"model.backbone.name", "string", "resnet50"},
                          {"model.head.name", "string", "linear"},
                          {"loss.name", "string", "asl"}});
    const std::string high = store.createRun(makeInfo("high-lr"));
    store.addParams(high, {{"optim.lr", "float", "0.01"},
                           {"optim.name", "string", "sgd"},
                           {"data.batch_size", "int", "64"},
                           {"train.epochs", "int", "3"}});
    const double low_map[] = {0.70, 0.80, 0.75};
    const double high_map[] = {0.60, 0.72, 0.85};
    for (int epoch = 1; epoch <= 3; ++epoch) {
      store.logMetric(
          low, metric("val/mAP", epoch * 100, epoch, low_map[epoch - 1]));
      store.logMetric(
          high, metric("val/mAP", epoch * 100, epoch, high_map[epoch - 1]));
      // Other keys must not leak into the mAP columns.
      store.logMetric(low, metric("train/loss", epoch * 100, epoch, 9.0));
    }
    store.finishRun(low, "FINISHED", "");
    store.finishRun(high, "FINISHED", "");
    return {low, high};
  }

  fs::path dir_;
  std::string path_;
};

TEST_F(StoreTest, FreshFileGetsCurrentSchema) {
  auto store = RunStore::open(path_);  // also creates runs/
  EXPECT_EQ(store->path(), path_);
  EXPECT_EQ(store->schemaVersion(), kSchemaVersion);
  EXPECT_EQ(scalar(*store, "PRAGMA user_version"),
            std::to_string(kSchemaVersion));
  for (const std::string table :
       {"runs", "params", "metrics", "class_metrics", "checkpoints",
        "run_plugins", "evaluations", "evaluation_metrics",
        "evaluation_class_metrics"}) {
    EXPECT_EQ(scalar(*store, "SELECT type FROM sqlite_master WHERE name = ?1",
                     {table}),
              "table")
        << table;
  }
  EXPECT_EQ(scalar(*store,
                   "SELECT type FROM sqlite_master WHERE name = 'run_summary'"),
            "view");
  // The (run, key, step) index on metrics, in that column order.
  const RunStore::Table index = store->query(
      "SELECT name FROM pragma_index_info('metrics_run_key_step') "
      "ORDER BY seqno");
  ASSERT_EQ(index.rows.size(), 3u);
  EXPECT_EQ(index.rows[0][0], "run");
  EXPECT_EQ(index.rows[1][0], "key");
  EXPECT_EQ(index.rows[2][0], "step");
  EXPECT_EQ(scalar(*store, "PRAGMA journal_mode"), "wal");
  EXPECT_EQ(scalar(*store, "PRAGMA foreign_keys"), "1");
  EXPECT_EQ(scalar(*store, "PRAGMA busy_timeout"), "10000");
}

TEST_F(StoreTest, ReopeningKeepsDataAndVersion) {
  std::string run;
  {
    auto store = RunStore::open(path_);
    run = store->createRun(makeInfo("a"));
  }
  auto store = RunStore::open(path_);
  EXPECT_EQ(store->schemaVersion(), kSchemaVersion);
  EXPECT_EQ(scalar(*store, "SELECT name FROM runs WHERE uuid = ?1", {run}),
            "a");
}

TEST_F(StoreTest, MigratesVersion1FileKeepingData) {
  fs::create_directories(dir_ / "runs");
  {
    RawDb raw(path_);
    detail::migrate(raw.db, 1);
    EXPECT_EQ(detail::userVersion(raw.db), 1);
    raw.exec(
        "INSERT INTO runs (uuid, name, status, started_at, ended_at, "
        "spec_yaml, spec_hash, spec_path, seed, host, device, git_dirty, "
        "labrun_version, torch_version, opencv_version, command_line) VALUES "
        "('11111111-1111-4111-8111-111111111111', 'old', 'FINISHED', 100, "
        "160, '', '', '', 3, 'h', 'cpu', 0, '0.0.9', '', '', '')");
    raw.exec(
        "INSERT INTO params VALUES ('11111111-1111-4111-8111-111111111111', "
        "'optim.lr', 'float', 0.05)");
    raw.exec(
        "INSERT INTO metrics VALUES "
        "('11111111-1111-4111-8111-111111111111', 'val/mAP', 10, 1, 0.4, 1),"
        "('11111111-1111-4111-8111-111111111111', 'val/mAP', 20, 2, 0.6, 2),"
        "('11111111-1111-4111-8111-111111111111', 'val/mAP', 30, 3, 0.5, 3)");
    // Version 1 has no view yet, so the upgrade below is what adds it.
    sqlite3_stmt* st = nullptr;
    EXPECT_NE(sqlite3_prepare_v2(raw.db, "SELECT * FROM run_summary", -1, &st,
                                 nullptr),
              SQLITE_OK);
    sqlite3_finalize(st);
  }
  auto store = RunStore::open(path_);
  EXPECT_EQ(store->schemaVersion(), kSchemaVersion);
  EXPECT_EQ(scalar(*store, "SELECT COUNT(*) FROM metrics"), "3");
  EXPECT_EQ(lines(*store,
                  "SELECT name, lr, duration_s, best_map, best_map_epoch, "
                  "last_map, last_map_epoch FROM run_summary"),
            std::vector<std::string>{"old|0.05|60.0|0.6|2|0.5|3"});
}

TEST_F(StoreTest, Version4RecordsWorldSizeAndOlderRunsHaveOne) {
  fs::create_directories(dir_ / "runs");
  {
    RawDb raw(path_);
    detail::migrate(raw.db, 3);
    raw.exec(
        "INSERT INTO runs (uuid, name, status, started_at, spec_yaml, "
        "spec_hash, spec_path, seed, host, device, git_dirty, labrun_version, "
        "torch_version, opencv_version, command_line) VALUES "
        "('11111111-1111-4111-8111-111111111111', 'old', 'FINISHED', 100, '', "
        "'', '', 3, 'h', 'cpu', 0, '', '', '', '')");
  }
  auto store = RunStore::open(path_);
  RunInfo info = makeInfo("wide");
  info.world_size = 4;
  store->createRun(info);
  EXPECT_EQ(lines(*store, "SELECT name, world_size FROM runs ORDER BY name"),
            (std::vector<std::string>{"old|1", "wide|4"}));
}

TEST_F(StoreTest, RefusesNewerSchemaNamingBothVersions) {
  fs::create_directories(dir_ / "runs");
  {
    RawDb raw(path_);
    detail::migrate(raw.db, kSchemaVersion);
    raw.exec("PRAGMA user_version = " + std::to_string(kSchemaVersion + 1));
  }
  for (const bool read_only : {false, true}) {
    const std::string msg = errorOf([&] { RunStore::open(path_, read_only); });
    EXPECT_TRUE(Contains(msg, path_));
    EXPECT_TRUE(
        Contains(msg, "schema version " + std::to_string(kSchemaVersion + 1)));
    EXPECT_TRUE(
        Contains(msg, "supports (" + std::to_string(kSchemaVersion) + ")"));
  }
  RawDb raw(path_);
  EXPECT_EQ(detail::userVersion(raw.db), kSchemaVersion + 1);
}

TEST_F(StoreTest, ReadOnlyRefusesOutdatedSchemaWithoutMigrating) {
  fs::create_directories(dir_ / "runs");
  {
    RawDb raw(path_);
    detail::migrate(raw.db, 1);
  }
  const std::string msg = errorOf([&] { RunStore::open(path_, true); });
  EXPECT_TRUE(Contains(msg, "schema version 1 is older"));
  EXPECT_TRUE(Contains(msg, "(" + std::to_string(kSchemaVersion) + ")"));
  EXPECT_TRUE(Contains(msg, "a command that writes to it (labrun run, "
                            "resume, eval or delete) migrates it"));
  RawDb raw(path_);
  EXPECT_EQ(detail::userVersion(raw.db), 1);
}

// Another program's SQLite file is named as such, read-only or not, and
// left as it was; an empty file is a store to be.
TEST_F(StoreTest, ForeignOrEmptySqliteFilesAreNamedAndLeftAlone) {
  fs::create_directories(dir_ / "runs");
  {
    RawDb raw(path_);
    raw.exec("CREATE TABLE photos (id INTEGER); CREATE TABLE tags (t TEXT)");
  }
  for (const bool read_only : {true, false}) {
    EXPECT_TRUE(Contains(errorOf([&] { RunStore::open(path_, read_only); }),
                         "not a labrun run store: it has no labrun schema but "
                         "tables of its own (photos, tags)"));
  }
  RawDb raw(path_);
  raw.exec("SELECT count(*) FROM photos");
  EXPECT_EQ(detail::userVersion(raw.db), 0);
  const std::string empty = (dir_ / "runs" / "empty.db").string();
  { RawDb created(empty); }
  EXPECT_TRUE(Contains(errorOf([&] { RunStore::open(empty, true); }),
                       "an empty file, not a labrun run store yet"));
  EXPECT_EQ(scalar(*RunStore::open(empty), "SELECT count(*) FROM runs"), "0");
}

TEST_F(StoreTest, ReadOnlyOpenOfMissingFileFailsWithoutCreatingIt) {
  const std::string msg = errorOf([&] { RunStore::open(path_, true); });
  EXPECT_TRUE(Contains(msg, path_));
  EXPECT_TRUE(Contains(msg, "unable to open database file"));
  EXPECT_FALSE(fs::exists(path_));
}

TEST_F(StoreTest, CreateRunStoresRunInfo) {
  auto store = RunStore::open(path_);
  RunInfo info = makeInfo("baseline");
  info.git_commit = "abc123";
  info.git_dirty = true;
  const std::string run = store->createRun(info);
  // Random v4 uuid: 8-4-4-4-12 lowercase hex, version 4, RFC variant.
  ASSERT_EQ(run.size(), 36u);
  EXPECT_EQ(run[8], '-');
  EXPECT_EQ(run[14], '4');
  EXPECT_NE(std::string("89ab").find(run[19]), std::string::npos);
  EXPECT_NE(store->createRun(makeInfo("baseline")), run);
  EXPECT_EQ(scalar(*store,
                   "SELECT name, status, seed, git_commit, git_dirty, "
                   "spec_path, command_line, error, ended_at, "
                   "heartbeat_at = started_at FROM runs WHERE uuid = ?1",
                   {run}),
            "baseline|RUNNING|7|abc123|1|/specs/baseline.yaml|"
            "labrun train baseline.yaml|NULL|NULL|1");
  // A caller-chosen uuid is kept; "" git_commit means "not in git": NULL.
  EXPECT_EQ(store->createRun(makeInfo("x", "my-uuid")), "my-uuid");
  EXPECT_EQ(scalar(*store,
                   "SELECT typeof(git_commit) FROM runs WHERE "
                   "uuid = 'my-uuid'"),
            "null");
}

TEST_F(StoreTest, MetricsAreBatchedOneTransactionPerFlush) {
  auto writer = RunStore::open(path_);
  writer->setBatchRows(10);
  const std::string run = writer->createRun(makeInfo("batched"));
  auto reader = RunStore::open(path_, true);
  const auto count = [&] {
    return scalar(*reader, "SELECT COUNT(*) FROM metrics WHERE run = ?1",
                  {run});
  };
  for (int i = 0; i < 9; ++i) writer->logMetric(run, metric("l", i, 0, i));
  EXPECT_EQ(count(), "0");
  writer->logMetric(run, metric("l", 9, 0, 9));  // 10th row: batch full
  EXPECT_EQ(count(), "10");
  for (int i = 10; i < 13; ++i) writer->logMetric(run, metric("l", i, 0, i));
  EXPECT_EQ(count(), "10");
  writer->flush();  // writes the rest
  EXPECT_EQ(count(), "13");
  // A connection's first flush refreshes the run's heartbeat (later ones at
  // most once a second).
  RawDb raw(path_);
  raw.exec("UPDATE runs SET heartbeat_at = 0");
  auto second = RunStore::open(path_);
  second->logMetric(run, metric("h", 13, 0, 0));
  second->flush();
  EXPECT_EQ(scalar(*reader, "SELECT heartbeat_at > 0 FROM runs"), "1");
  EXPECT_EQ(scalar(*reader, "SELECT SUM(step) FROM metrics"), "91");
  // A row without a time is stamped when logged.
  writer->logMetric(run, MetricRow{"t", 0, 0, 1.0, 0});
  writer->flush();
  EXPECT_EQ(scalar(*reader, "SELECT time > 1e9 FROM metrics WHERE key = 't'"),
            "1");
  // Destroying the store flushes what is still buffered.
  writer->logMetric(run, metric("l", 13, 0, 13));
  EXPECT_EQ(count(), "15");
  writer.reset();
  EXPECT_EQ(count(), "16");
}

TEST_F(StoreTest, FailedFlushWritesNothingAndIsDropped) {
  auto store = RunStore::open(path_);
  const std::string run = store->createRun(makeInfo("r"));
  store->logMetric(run, metric("l", 0, 0, 1));
  store->logMetric("no-such-run", metric("l", 1, 0, 1));
  store->logMetric(run, metric("l", 2, 0, 1));
  const std::string msg = errorOf([&] { store->flush(); });
  EXPECT_TRUE(Contains(msg, "run store '" + path_ + "'"));
  EXPECT_TRUE(Contains(msg, "FOREIGN KEY constraint failed"));
  EXPECT_EQ(scalar(*store, "SELECT COUNT(*) FROM metrics"), "0");
  // The bad batch is gone: the run can still be logged to and finished.
  store->logMetric(run, metric("l", 3, 0, 1));
  store->finishRun(run, "FAILED", "boom");
  EXPECT_EQ(scalar(*store, "SELECT COUNT(*) FROM metrics"), "1");
}

TEST_F(StoreTest, ParamsKeepRealSqliteTypes) {
  auto store = RunStore::open(path_);
  const std::string a = store->createRun(makeInfo("a"));
  const std::string b = store->createRun(makeInfo("b"));
  store->addParams(a, {{"optim.lr", "float", "5e-4"},
                       {"data.batch_size", "int", "32"},
                       {"train.amp", "bool", "true"},
                       {"optim.name", "string", "adamw"},
                       {"data.mean", "list", "[0.5, 0.5]"},
                       {"model.head.dropout", "null", ""},
                       {"optim.clip", "float", ".inf"}});
  store->addParams(b, {{"optim.lr", "float", "0.01"},
                       {"train.amp", "bool", "False"},
                       {"data.batch_size", "int", "-1"}});
  const std::vector<std::string> expected = {
      "data.batch_size|int|integer|32",    "data.mean|list|text|[0.5, 0.5]",
      "model.head.dropout|null|null|NULL", "optim.clip|float|real|Inf",
      "optim.lr|float|real|0.0005",        "optim.name|string|text|adamw",
      "train.amp|bool|integer|1",
  };
  EXPECT_EQ(lines(*store,
                  "SELECT key, type, typeof(value), value FROM params "
                  "WHERE run = ?1 ORDER BY key",
                  {a}),
            expected);
  // Numeric comparisons work in plain SQL.
  EXPECT_EQ(scalar(*store,
                   "SELECT r.name FROM params p JOIN runs r ON r.uuid = p.run "
                   "WHERE p.key = 'optim.lr' AND p.value < 1e-3"),
            "a");
  EXPECT_EQ(scalar(*store,
                   "SELECT COUNT(*) FROM params WHERE key = 'train.amp' "
                   "AND value = 0"),
            "1");
  EXPECT_EQ(scalar(*store,
                   "SELECT SUM(value) FROM params WHERE key = "
                   "'data.batch_size'"),
            "31");
}

TEST_F(StoreTest, BadParamRollsBackWholeCall) {
  auto store = RunStore::open(path_);
  const std::string run = store->createRun(makeInfo("a"));
  const std::string msg = errorOf([&] {
    store->addParams(run, {{"optim.lr", "float", "0.1"},
                           {"train.epochs", "int", "ten"},
                           {"optim.name", "string", "sgd"}});
  });
  EXPECT_TRUE(Contains(msg, "param 'train.epochs': 'ten' is not a valid int"));
  EXPECT_EQ(scalar(*store, "SELECT COUNT(*) FROM params"), "0");
  // A duplicate key is an SQLite error: also all-or-nothing.
  const std::string dup = errorOf([&] {
    store->addParams(run, {{"k", "int", "1"}, {"k", "int", "2"}});
  });
  EXPECT_TRUE(Contains(dup, "UNIQUE constraint failed"));
  EXPECT_EQ(scalar(*store, "SELECT COUNT(*) FROM params"), "0");
}

TEST_F(StoreTest, RunSummaryHasBestLastMapAndHyperparameters) {
  auto store = RunStore::open(path_);
  const auto [low, high] = seedTwoRuns(*store);
  const RunStore::Table t = store->query(
      "SELECT uuid, name, status, lr, optimizer, batch_size, epochs, "
      "backbone, head, loss, seed, best_map, best_map_epoch, last_map, "
      "last_map_epoch, duration_s >= 0, ended_at IS NOT NULL "
      "FROM run_summary ORDER BY name");
  const std::vector<std::string> expected = {
      high +
          "|high-lr|FINISHED|0.01|sgd|64|3|NULL|NULL|NULL|7|0.85|3|0.85|3|1|1",
      low +
          "|low-lr|FINISHED|0.0001|adamw|32|3|resnet50|linear|asl|7|0.8|2|"
          "0.75|3|1|1",
  };
  EXPECT_EQ(lines(t), expected);
  EXPECT_EQ(t.types[5], "integer");  // batch_size is a number, not text
  EXPECT_EQ(t.types[3], "real");
  // The question the view exists for, in one SELECT.
  EXPECT_EQ(scalar(*store,
                   "SELECT name, lr FROM run_summary "
                   "ORDER BY best_map DESC LIMIT 1"),
            "high-lr|0.01");
  // Best breaks ties by the earliest step; last is the highest step, not
  // the last row written. The view's key is the runner's headline metric.
  const std::string shuffled = store->createRun(makeInfo("shuffled"));
  store->logMetric(shuffled, metric(kHeadlineMetric, 300, 3, 0.5));
  store->logMetric(shuffled, metric(kHeadlineMetric, 200, 2, 0.9));
  store->logMetric(shuffled, metric(kHeadlineMetric, 100, 1, 0.9));
  store->flush();
  EXPECT_EQ(scalar(*store,
                   "SELECT best_map, best_map_epoch, last_map, last_map_epoch "
                   "FROM run_summary WHERE uuid = ?1",
                   {shuffled}),
            "0.9|1|0.5|3");
  // A run without any val/mAP still has its row, with NULLs.
  const std::string bare = store->createRun(makeInfo("bare"));
  EXPECT_EQ(scalar(*store,
                   "SELECT name, lr, best_map, best_map_epoch, last_map, "
                   "last_map_epoch FROM run_summary WHERE uuid = ?1",
                   {bare}),
            "bare|NULL|NULL|NULL|NULL|NULL");
  EXPECT_EQ(scalar(*store, "SELECT COUNT(*) FROM run_summary"), "4");
}

// `labrun eval SPEC` records runs marked evaluation-only; the view shows the
// kind and the newest evaluation's mAP (the only figure such a run has).
TEST_F(StoreTest, EvaluationOnlyRunsAreMarkedAndShowTheirEvaluation) {
  auto store = RunStore::open(path_);
  RunInfo info = makeInfo("released");
  info.kind = "eval";
  const std::string scored = store->createRun(info);
  const std::string trained = store->createRun(makeInfo("trained"));
  RunStore::Evaluation evaluation;
  evaluation.checkpoint = "init";
  evaluation.split = "val";
  evaluation.metrics = {{"mAP", 61.5}};
  store->addEvaluation(scored, evaluation);
  evaluation.metrics = {{"mAP", 62.5}, {"loss", 0.25}};
  store->addEvaluation(scored, evaluation);
  EXPECT_EQ(scalar(*store,
                   "SELECT kind, eval_map, best_map FROM run_summary WHERE "
                   "uuid = ?1",
                   {scored}),
            "eval|62.5|NULL");
  EXPECT_EQ(
      scalar(*store, "SELECT kind, eval_map FROM run_summary WHERE uuid = ?1",
             {trained}),
      "train|NULL");
  info.kind = "other";
  EXPECT_TRUE(Contains(errorOf([&] { store->createRun(info); }),
                       "CHECK constraint failed"));
}

TEST_F(StoreTest, StockSqliteShellAnswersBestRunInOneSelect) {
  if (std::system("command -v sqlite3 >/dev/null 2>&1") != 0) {
    GTEST_SKIP() << "sqlite3 shell not installed";
  }
  {
    auto store = RunStore::open(path_);
    seedTwoRuns(*store);
  }
  const std::string cmd = "sqlite3 -readonly '" + path_ +
                          "' 'SELECT name, lr, best_map FROM run_summary "
                          "ORDER BY best_map DESC LIMIT 1;'";
  FILE* pipe = popen(cmd.c_str(), "r");
  ASSERT_NE(pipe, nullptr);
  std::string out;
  char buf[256];
  while (fgets(buf, sizeof buf, pipe)) out += buf;
  EXPECT_EQ(pclose(pipe), 0);
  EXPECT_EQ(out, "high-lr|0.01|0.85\n");
}

// EXPLAIN QUERY PLAN of `sql`, one line per step.
std::string plan(const RunStore& store, const std::string& sql,
                 const std::vector<std::string>& params = {}) {
  std::string out;
  for (const auto& row :
       store.query("EXPLAIN QUERY PLAN " + sql, params).rows) {
    out += row[3].value_or("") + "\n";
  }
  return out;
}

// Plans, not timings (docs/BENCHMARKS.md, "Run store", has those): the
// queries that must stay fast at thousands of runs go from the runs to
// their rows through indexes, on an empty file as on a large one, since
// the migration's fixed statistics, not the file's contents, shape them.
TEST_F(StoreTest, HotQueriesGoFromRunsToTheirRowsThroughIndexes) {
  {
    auto store = RunStore::open(path_);
    seedTwoRuns(*store);
  }
  const auto store = RunStore::open(path_, /*read_only=*/true);
  // Every index has representative statistics: one without would be taken
  // for a million rows and could turn plans around.
  EXPECT_EQ(lines(*store,
                  "SELECT name FROM sqlite_master WHERE type = 'index' "
                  "AND name NOT IN (SELECT idx FROM sqlite_stat1)"),
            std::vector<std::string>{});
  // `labrun runs`: newest first straight from the index, no sort of all.
  const std::string runs =
      plan(*store,
           "SELECT s.uuid, s.best_map FROM run_summary AS s "
           "ORDER BY s.started_at DESC LIMIT 20");
  EXPECT_TRUE(Contains(runs, "SCAN r USING INDEX runs_started"));
  EXPECT_TRUE(Contains(
      runs,
      "SEARCH metrics USING INDEX metrics_run_key_step (run=? AND key=?)"));
  // Per-class AP of a run picked by uuid prefix at its best epoch
  // (docs/STORE.md): the one run first, then its 80 rows, never a scan of
  // every run's per-class rows.
  const std::string per_class = plan(
      *store,
      "SELECT c.class_index, c.value FROM class_metrics AS c "
      "JOIN run_summary AS s ON s.uuid = c.run AND c.epoch = s.best_map_epoch "
      "WHERE s.uuid LIKE '43e00e89%' AND c.metric = 'AP'");
  EXPECT_TRUE(Contains(per_class,
                       "SEARCH r USING COVERING INDEX runs_uuid_nocase "
                       "(uuid>? AND uuid<?)"));
  EXPECT_TRUE(Contains(per_class,
                       "SEARCH c USING INDEX sqlite_autoindex_class_metrics_1 "
                       "(run=? AND epoch=? AND metric=?)"));
  // Two runs' per-class AP side by side: no temporary index over the whole
  // table, no scan.
  const std::string gain =
      plan(*store,
           "SELECT a.class_name, b.value - a.value FROM run_summary AS sa "
           "JOIN class_metrics AS a ON a.run = sa.uuid "
           "AND a.epoch = sa.best_map_epoch "
           "JOIN run_summary AS sb ON sb.uuid LIKE '0e514e3f%' "
           "JOIN class_metrics AS b ON b.run = sb.uuid "
           "AND b.epoch = sb.best_map_epoch AND b.class_index = a.class_index "
           "AND b.metric = a.metric "
           "WHERE sa.uuid LIKE '43e00e89%' AND a.metric = 'AP'");
  EXPECT_FALSE(Contains(gain, "AUTOMATIC"));
  EXPECT_FALSE(Contains(gain, "SCAN"));
  EXPECT_TRUE(Contains(gain,
                       "SEARCH b USING INDEX sqlite_autoindex_class_metrics_1 "
                       "(run=? AND epoch=? AND metric=? AND class_index=?)"));
  // `labrun show` / `compare`: one run's metrics through its index range.
  EXPECT_TRUE(
      Contains(plan(*store,
                    "SELECT key, count(*), max(value) FROM metrics "
                    "WHERE run = ?1 GROUP BY key",
                    {"x"}),
               "SEARCH metrics USING INDEX metrics_run_key_step (run=?)"));
  // A uuid prefix (resolveRun: every command naming a run) and a checkpoint
  // file's run (`delete` for each file, --checkpoint FILE): searches, where
  // a store of 5,000 runs showed scans costing seconds with a cold cache.
  const std::string prefix =
      plan(*store,
           "SELECT uuid, name FROM runs "
           "WHERE uuid >= lower(?1) AND uuid < lower(?1) || '~' "
           "ORDER BY started_at DESC, rowid DESC LIMIT ?2",
           {"43e00e89", "6"});
  EXPECT_TRUE(Contains(prefix,
                       "SEARCH runs USING INDEX sqlite_autoindex_runs_1 "
                       "(uuid>? AND uuid<?)"))
      << prefix;
  const std::string owner =
      plan(*store, "SELECT run FROM checkpoints WHERE path = ?1", {"x.pt"});
  EXPECT_TRUE(Contains(owner,
                       "SEARCH checkpoints USING INDEX checkpoints_path "
                       "(path=?)"))
      << owner;
}

TEST_F(StoreTest, ClassMetricsStoreNullForUndefined) {
  auto store = RunStore::open(path_);
  const std::string run = store->createRun(makeInfo("a"));
  store->addClassMetrics(run, {{3, "AP", 0, "cat", 0.5, 12},
                               {3, "AP", 1, "dog", std::nullopt, 0}});
  const RunStore::Table t = store->query(
      "SELECT class_name, value, typeof(value), positives FROM class_metrics "
      "WHERE run = ?1 AND epoch = 3 AND metric = 'AP' ORDER BY class_index",
      {run});
  using Row = std::vector<std::optional<std::string>>;
  ASSERT_EQ(t.rows.size(), 2u);
  EXPECT_EQ(t.rows[0], (Row{"cat", "0.5", "real", "12"}));
  EXPECT_EQ(t.rows[1], (Row{"dog", std::nullopt, "null", "0"}));
  EXPECT_EQ(t.types[1], "real");  // first non-NULL value decides
  // AVG skips NULLs: undefined classes do not drag the mean down.
  EXPECT_EQ(scalar(*store, "SELECT AVG(value) FROM class_metrics"), "0.5");
  // Re-evaluating the epoch replaces its rows instead of duplicating them.
  store->addClassMetrics(run, {{3, "AP", 1, "dog", 0.25, 2}});
  EXPECT_EQ(scalar(*store, "SELECT COUNT(*) FROM class_metrics"), "2");
  EXPECT_EQ(
      scalar(*store, "SELECT value FROM class_metrics WHERE class_index = 1"),
      "0.25");
}

TEST_F(StoreTest, CheckpointBestFlagMoves) {
  auto store = RunStore::open(path_);
  const std::string run = store->createRun(makeInfo("a"));
  const std::string other = store->createRun(makeInfo("b"));
  const auto best = [&](const std::string& r) {
    return scalar(*store,
                  "SELECT group_concat(path) FROM checkpoints "
                  "WHERE run = ?1 AND best = 1",
                  {r});
  };
  store->addCheckpoint(other, {1, 1, "b/e1.pt", 10, "h0", 0.9, true});
  store->addCheckpoint(run, {1, 1, "a/e1.pt", 10, "h1", 0.5, true});
  EXPECT_EQ(best(run), "a/e1.pt");
  store->addCheckpoint(run, {2, 2, "a/e2.pt", 10, "h2", 0.4, false});
  EXPECT_EQ(best(run), "a/e1.pt");
  store->addCheckpoint(run, {3, 3, "a/e3.pt", 10, "h3", 0.7, true});
  EXPECT_EQ(best(run), "a/e3.pt");
  EXPECT_EQ(best(other), "b/e1.pt");  // other runs are untouched
  // Saving the same path again replaces its row.
  store->addCheckpoint(run, {4, 4, "a/e2.pt", 20, "h4", std::nullopt, false});
  EXPECT_EQ(
      scalar(*store, "SELECT COUNT(*) FROM checkpoints WHERE run = ?1", {run}),
      "3");
  EXPECT_EQ(scalar(*store,
                   "SELECT step || ',' || bytes || ',' || sha256 || ',' || "
                   "typeof(metric) FROM checkpoints WHERE path = 'a/e2.pt'"),
            "4,20,h4,null");
  // The file itself refuses a second best checkpoint for one run.
  const std::string msg = errorOf([&] {
    store->query("UPDATE checkpoints SET best = 1 WHERE path = 'a/e1.pt'");
  });
  EXPECT_TRUE(Contains(msg, "UNIQUE constraint failed"));
}

TEST_F(StoreTest, ResolveRunByUuidPrefixAndName) {
  auto store = RunStore::open(path_);
  const std::string a1 = "aaaa1111-0000-4000-8000-000000000001";
  const std::string a2 = "aaaa2222-0000-4000-8000-000000000002";
  const std::string b = "bbbb3333-0000-4000-8000-000000000003";
  store->createRun(makeInfo("sweep", a1));
  store->createRun(makeInfo("other", a2));
  store->createRun(makeInfo("sweep", b));  // newer run of the same name
  EXPECT_EQ(store->resolveRun(a1), a1);
  EXPECT_EQ(store->resolveRun("AAAA1111-0000-4000-8000-000000000001"), a1);
  EXPECT_EQ(store->resolveRun("aaaa2"), a2);
  EXPECT_EQ(store->resolveRun("bbbb"), b);
  EXPECT_EQ(store->resolveRun("sweep"), b);
  EXPECT_EQ(store->resolveRun("other"), a2);
  // An evaluation-only run of a name: the newest run of that name, unless a
  // training run is preferred (what has checkpoints); the only run of its
  // name either way.
  RunInfo scored = makeInfo("sweep");
  scored.kind = "eval";
  const std::string e = store->createRun(scored);
  EXPECT_EQ(store->resolveRun("sweep"), e);
  EXPECT_EQ(store->resolveRun("sweep", /*prefer_trained=*/true), b);
  scored.name = "released";
  const std::string r = store->createRun(scored);
  EXPECT_EQ(store->resolveRun("released", /*prefer_trained=*/true), r);

  const std::string ambiguous = errorOf([&] { store->resolveRun("aaaa"); });
  EXPECT_TRUE(Contains(ambiguous, "'aaaa' is ambiguous"));
  EXPECT_TRUE(Contains(ambiguous, a1 + " (sweep)"));
  EXPECT_TRUE(Contains(ambiguous, a2 + " (other)"));
  EXPECT_TRUE(Contains(errorOf([&] { store->resolveRun("zzzz"); }),
                       "no run matches 'zzzz'"));
  EXPECT_TRUE(Contains(errorOf([&] { store->resolveRun("bbb"); }),
                       "needs at least 4 characters"));
  // Quotes and wildcards are data, not SQL or patterns.
  EXPECT_TRUE(Contains(errorOf([&] { store->resolveRun("%%%%"); }),
                       "no run matches '%%%%'"));
  const std::string tricky = "x'; DROP TABLE runs; --";
  const std::string t = store->createRun(makeInfo(tricky));
  EXPECT_EQ(store->resolveRun(tricky), t);
  EXPECT_EQ(scalar(*store, "SELECT COUNT(*) FROM runs"), "6");
}

TEST_F(StoreTest, FinishRunRecordsStatusOnce) {
  auto store = RunStore::open(path_);
  const std::string run = store->createRun(makeInfo("a"));
  store->logMetric(run, metric("l", 0, 0, 1));  // flushed by finishRun
  EXPECT_TRUE(Contains(errorOf([&] { store->finishRun(run, "DONE", ""); }),
                       "invalid final status 'DONE'"));
  store->finishRun(run, "KILLED", "interrupted by SIGINT");
  EXPECT_EQ(scalar(*store,
                   "SELECT status, error, ended_at >= started_at, "
                   "heartbeat_at = ended_at FROM runs"),
            "KILLED|interrupted by SIGINT|1|1");
  EXPECT_EQ(scalar(*store, "SELECT COUNT(*) FROM metrics"), "1");
  EXPECT_TRUE(Contains(errorOf([&] { store->finishRun(run, "FINISHED", ""); }),
                       "is already KILLED"));
  EXPECT_TRUE(Contains(errorOf([&] { store->finishRun("nope", "FAILED", ""); }),
                       "no run 'nope'"));
  EXPECT_TRUE(
      Contains(errorOf([&] { store->heartbeat("nope"); }), "no run 'nope'"));
}

TEST_F(StoreTest, PluginsAreRecordedOncePerRun) {
  auto store = RunStore::open(path_);
  const std::string run = store->createRun(makeInfo("a"));
  const PluginRow asl{"asl", "loss", "1.0", "/p/libasl.so", "s1"};
  store->addPlugins(run,
                    {asl, {"resnet", "backbone", "2.0", "/p/r.so", "s2"}, asl});
  EXPECT_EQ(scalar(*store,
                   "SELECT group_concat(kind || ':' || name, ',') FROM "
                   "(SELECT * FROM run_plugins WHERE run = ?1 ORDER BY kind)",
                   {run}),
            "backbone:resnet,loss:asl");
}

TEST_F(StoreTest, QueryBindsParametersAndReportsTypes) {
  auto store = RunStore::open(path_);
  const RunStore::Table t = store->query(
      "SELECT ?1 AS a, 2 AS b, 2.5 AS c, NULL AS d, ?2 AS e", {"it's", "x"});
  EXPECT_EQ(t.columns, (std::vector<std::string>{"a", "b", "c", "d", "e"}));
  EXPECT_EQ(t.types, (std::vector<std::string>{"text", "integer", "real",
                                               "null", "text"}));
  ASSERT_EQ(t.rows.size(), 1u);
  EXPECT_EQ(t.rows[0][0], "it's");
  EXPECT_EQ(t.rows[0][3], std::nullopt);
  // Columns are known even without rows.
  const RunStore::Table empty = store->query("SELECT uuid, name FROM runs");
  EXPECT_EQ(empty.columns.size(), 2u);
  EXPECT_TRUE(empty.rows.empty());
  EXPECT_TRUE(Contains(errorOf([&] { store->query("SELECT ?1"); }),
                       "takes 1 parameter(s), 0 given"));
  EXPECT_TRUE(
      Contains(errorOf([&] { store->query("SELEC 1"); }), "syntax error"));
  EXPECT_TRUE(Contains(errorOf([&] { store->query("  -- nothing\n"); }),
                       "empty query"));
}

TEST_F(StoreTest, QueryRefusesMultipleStatements) {
  auto store = RunStore::open(path_);
  store->createRun(makeInfo("a"));
  for (const std::string sql :
       {"SELECT 1; SELECT 2", "SELECT 1; DROP TABLE runs",
        "CREATE TABLE t (x); INSERT INTO t VALUES (1)"}) {
    EXPECT_TRUE(
        Contains(errorOf([&] { store->query(sql); }), "only one SQL statement"))
        << sql;
  }
  EXPECT_EQ(scalar(*store, "SELECT COUNT(*) FROM runs"), "1");
  EXPECT_EQ(scalar(*store,
                   "SELECT COUNT(*) FROM sqlite_master WHERE name = "
                   "'t'"),
            "0");
  // Trailing whitespace, semicolons and comments are fine.
  EXPECT_EQ(scalar(*store, "SELECT 1; -- done\n ;"), "1");
}

TEST_F(StoreTest, ReadOnlyStoreRefusesWrites) {
  std::string run;
  {
    auto store = RunStore::open(path_);
    run = store->createRun(makeInfo("a"));
  }
  auto store = RunStore::open(path_, true);
  EXPECT_EQ(scalar(*store, "SELECT name FROM runs"), "a");
  const std::string msg = errorOf([&] {
    store->query(
        "INSERT INTO params (run, key, type, value) VALUES (?1, 'k', 'int', 1)",
        {run});
  });
  EXPECT_TRUE(Contains(msg, path_));
  EXPECT_TRUE(Contains(msg, "attempt to write a readonly database"));
  EXPECT_TRUE(
      Contains(errorOf([&] { store->query("DELETE FROM runs"); }), "readonly"));
  EXPECT_TRUE(
      Contains(errorOf([&] { store->createRun(makeInfo("b")); }), "readonly"));
  EXPECT_EQ(scalar(*store, "SELECT COUNT(*) FROM runs"), "1");
  EXPECT_EQ(scalar(*store, "SELECT COUNT(*) FROM params"), "0");
}

// Child process body: a whole run with many small batches. Exit status 0 on
// success, 2 for a "database is locked" failure, 1 for anything else.
int writeRunInChild(const std::string& path, const std::string& name,
                    int rows) {
  try {
    auto store = RunStore::open(path);
    store->setBatchRows(7);
    const std::string run = store->createRun(makeInfo(name));
    store->addParams(run, {{"optim.lr", "float", "0.01"}});
    for (int i = 0; i < rows; ++i) {
      store->logMetric(run, metric("train/loss", i, i / 100, 1.0 / (i + 1)));
      if (i % 500 == 0) store->heartbeat(run);
    }
    store->addCheckpoint(run, {rows, 20, name + ".pt", 1, "h", 0.5, true});
    store->finishRun(run, "FINISHED", "");
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s: %s\n", name.c_str(), e.what());
    return std::string(e.what()).find("locked") != std::string::npos ? 2 : 1;
  }
}

TEST_F(StoreTest, ConcurrentWritersFromTwoProcesses) {
  constexpr int kRows = 2000;
  constexpr int kChildren = 2;
  // Both children block on the pipe until the parent closes it, then open the
  // (not yet existing) file at the same moment: they race on creation and
  // migration as well as on the writes.
  int gate[2];
  ASSERT_EQ(pipe(gate), 0);
  std::vector<pid_t> children;
  for (int c = 0; c < kChildren; ++c) {
    const pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      close(gate[1]);
      char byte;
      (void)!read(gate[0], &byte, 1);
      _exit(writeRunInChild(path_, "worker" + std::to_string(c), kRows));
    }
    children.push_back(pid);
  }
  close(gate[0]);
  close(gate[1]);
  for (const pid_t pid : children) {
    int status = 0;
    ASSERT_EQ(waitpid(pid, &status, 0), pid);
    ASSERT_TRUE(WIFEXITED(status));
    EXPECT_EQ(WEXITSTATUS(status), 0) << "2 means 'database is locked'";
  }
  auto store = RunStore::open(path_, true);
  EXPECT_EQ(scalar(*store, "SELECT COUNT(*) FROM metrics"),
            std::to_string(kChildren * kRows));
  // Every child's rows, each step once.
  const std::string n = std::to_string(kRows);
  EXPECT_EQ(lines(*store,
                  "SELECT r.name, COUNT(*), COUNT(DISTINCT m.step) FROM "
                  "metrics m JOIN runs r ON r.uuid = m.run GROUP BY r.name "
                  "ORDER BY r.name"),
            (std::vector<std::string>{"worker0|" + n + "|" + n,
                                      "worker1|" + n + "|" + n}));
  EXPECT_EQ(
      scalar(*store, "SELECT COUNT(*) FROM runs WHERE status = 'FINISHED'"),
      "2");
  EXPECT_EQ(scalar(*store, "SELECT COUNT(*) FROM checkpoints WHERE best = 1"),
            "2");
  EXPECT_EQ(scalar(*store, "PRAGMA integrity_check"), "ok");
  EXPECT_EQ(store->schemaVersion(), kSchemaVersion);
}

// A lock held past the busy timeout (10 s) is a StoreBusyError: the
// command exits 1 (a failure of the moment), not 2 (a usage error).
TEST_F(StoreTest, LockHeldPastTheBusyTimeoutIsABusyError) {
  auto store = RunStore::open(path_);
  const std::string run = store->createRun(makeInfo("a"));
  RawDb other(path_);
  other.exec("BEGIN EXCLUSIVE");
  std::string message;
  try {
    store->finishRun(run, "FINISHED", "");
  } catch (const StoreBusyError& busy) {
    message = busy.what();
  }
  other.exec("ROLLBACK");
  EXPECT_TRUE(Contains(message, "database is locked (another process held "
                                "the store's lock for longer than the busy "
                                "timeout)"))
      << message;
  store->finishRun(run, "FINISHED", "");  // free again
  EXPECT_EQ(scalar(*store, "SELECT status FROM runs"), "FINISHED");
}

TEST_F(StoreTest, StaleHeartbeatShowsAsCrashedAndCanBeReopened) {
  auto store = RunStore::open(path_);
  const std::string run = store->createRun(makeInfo("killed"));
  // Fresh heartbeat: still running, so resuming it is refused.
  EXPECT_EQ(scalar(*store, "SELECT status FROM run_summary"), "RUNNING");
  EXPECT_TRUE(
      Contains(errorOf([&] { store->reopenRun(run, kStale, 42, "testhost"); }),
               "is still running on testhost"));
  // The view (SQL, a literal) and resume (C++) draw the line at the same
  // age: 10 s short of it, both say running.
  RawDb raw(path_);
  raw.exec("UPDATE runs SET heartbeat_at = heartbeat_at - " +
           std::to_string(kStale - 10));
  EXPECT_EQ(scalar(*store, "SELECT status FROM run_summary"), "RUNNING");
  EXPECT_TRUE(
      Contains(errorOf([&] { store->reopenRun(run, kStale, 42, "testhost"); }),
               "is still running on testhost"));
  // 10 s past it, as if the process died with -9: both say it is gone.
  raw.exec("UPDATE runs SET heartbeat_at = heartbeat_at - 20");
  EXPECT_EQ(scalar(*store, "SELECT status FROM run_summary"), "CRASHED");
  store->reopenRun(run, kStale, 42, "testhost");
  EXPECT_EQ(scalar(*store, "SELECT status, resumes FROM run_summary"),
            "RUNNING|1");
  EXPECT_EQ(scalar(*store, "SELECT pid FROM runs"), "42");
  store->finishRun(run, "FINISHED", "");
  EXPECT_TRUE(
      Contains(errorOf([&] { store->reopenRun(run, kStale, 42, "testhost"); }),
               "already FINISHED"));
}

// One writer per run. Of two processes resuming a crashed run, the first
// claims it and the second is refused, even when both found its process
// gone; the process that lost the run (stopped, then resumed elsewhere)
// can no longer write it, its heartbeat included.
TEST_F(StoreTest, ARunHasOneWriterAtATime) {
  auto first = RunStore::open(path_);
  const std::string run =
      first->createRun(makeInfo("taken"), {{"optim.lr", "float", "0.01"}},
                       {{"fc", "head", "1", "/p/fc.so", "ab"}});
  EXPECT_EQ(first->claimOf(run), 0);
  EXPECT_EQ(scalar(*first,
                   "SELECT (SELECT count(*) FROM params) || ' ' || (SELECT "
                   "count(*) FROM run_plugins)"),
            "1 1");
  RawDb raw(path_);
  raw.exec("UPDATE runs SET heartbeat_at = heartbeat_at - 120");
  auto second = RunStore::open(path_);
  auto third = RunStore::open(path_);
  // Both found claim 0's process gone; the second to claim finds claim 1.
  const auto gone = second->runProcess(run).claim;
  EXPECT_EQ(gone, 0);
  second->reopenRun(run, kStale, 43, "otherhost", gone);
  EXPECT_EQ(second->claimOf(run), 1);
  EXPECT_TRUE(Contains(
      errorOf([&] { third->reopenRun(run, kStale, 44, "testhost", gone); }),
      "is still running on otherhost"));
  EXPECT_FALSE(third->claimOf(run));
  EXPECT_EQ(scalar(*first,
                   "SELECT resumes || ' ' || pid || ' ' || host FROM "
                   "runs"),
            "1 43 otherhost");
  // The first process wakes up: none of its writes of the run lands.
  const std::string taken =
      "run 'RUN' was resumed by process 43 on otherhost (resume 1) while this "
      "process was not heard from; this process stops recording it";
  const auto expectTaken = [&](const std::function<void()>& write) {
    std::string message = errorOf(write);
    const auto at = message.find(run);
    if (at != std::string::npos) message.replace(at, run.size(), "RUN");
    EXPECT_TRUE(Contains(message, taken)) << message;
  };
  first->logMetric(run, metric("train/loss", 5, 1, 0.5));
  expectTaken([&] { first->flush(); });
  expectTaken([&] { first->flush(); });  // nothing pending: still checked
  expectTaken([&] {
    first->addCheckpoint(run, {5, 1, "/c/5.pt", 10, "ab", 0.5, true});
  });
  expectTaken([&] {
    first->addClassMetrics(run, {{1, "AP", 0, "cat", 50.0, 3}});
  });
  expectTaken([&] { first->finishRun(run, "FINISHED", ""); });
  EXPECT_TRUE(Contains(errorOf([&] { first->heartbeat(run, 0); }),
                       "resumed by another?"));
  EXPECT_EQ(scalar(*first,
                   "SELECT status || ' ' || (SELECT count(*) FROM metrics) || "
                   "' ' || (SELECT count(*) FROM checkpoints) FROM runs"),
            "RUNNING 0 0");
  // The new owner writes and ends it.
  second->logMetric(run, metric("train/loss", 5, 1, 0.5));
  second->heartbeat(run, 1);
  second->finishRun(run, "FINISHED", "");
  EXPECT_EQ(scalar(*first,
                   "SELECT status || ' ' || (SELECT count(*) FROM metrics) "
                   "FROM runs"),
            "FINISHED 1");
}

// A process found gone (same host, no such pid) is passed over at once,
// however fresh its heartbeat: only that claim, not a later one.
TEST_F(StoreTest, AGoneClaimIsPassedOverAtOnce) {
  auto store = RunStore::open(path_);
  const std::string run = store->createRun(makeInfo("gone"));
  auto resumer = RunStore::open(path_);
  EXPECT_TRUE(Contains(
      errorOf([&] { resumer->reopenRun(run, kStale, 50, "testhost", 1); }),
      "is still running"));
  resumer->reopenRun(run, kStale, 50, "testhost", 0);
  EXPECT_EQ(resumer->claimOf(run), 1);
}

// What keeps a long run from looking crashed: the heartbeat's own thread
// refreshes a stale heartbeat_at (waiting up to 60 s for a beat due every
// second, so a loaded machine cannot fail it), and stops with the object.
TEST_F(StoreTest, HeartbeatKeepsARunAliveUntilItStops) {
  auto store = RunStore::open(path_);
  const std::string run = store->createRun(makeInfo("long"));
  RawDb raw(path_);
  raw.exec("UPDATE runs SET heartbeat_at = heartbeat_at - 120");
  ASSERT_EQ(scalar(*store, "SELECT status FROM run_summary"), "CRASHED");
  {
    const Heartbeat beating(path_, run, std::nullopt, std::chrono::seconds(1));
    for (int i = 0; i < 600 && scalar(*store,
                                      "SELECT status FROM "
                                      "run_summary") != "RUNNING";
         ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    EXPECT_EQ(scalar(*store, "SELECT status FROM run_summary"), "RUNNING");
  }
  // Joined: no beat follows, so a run whose process stopped goes stale.
  raw.exec("UPDATE runs SET heartbeat_at = heartbeat_at - 120");
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  EXPECT_EQ(scalar(*store, "SELECT status FROM run_summary"), "CRASHED");
}

TEST_F(StoreTest, TruncateAfterForgetsWhatFollowsTheCheckpoint) {
  auto store = RunStore::open(path_);
  const std::string run = store->createRun(makeInfo("resumed"));
  for (int step = 1; step <= 6; ++step) {
    store->logMetric(run, metric("train/loss", step, (step + 2) / 3, 1.0));
  }
  for (int epoch = 1; epoch <= 2; ++epoch) {
    store->addClassMetrics(run, {{epoch, "AP", 0, "cat", 50.0, 3}});
    store->addCheckpoint(run, {epoch * 3, epoch, "/c/e" + std::to_string(epoch),
                               10, "ab", 1.0, epoch == 1});
  }
  const auto removed = store->truncateAfter(run, /*step=*/3,
                                            /*completed_epochs=*/1);
  EXPECT_EQ(removed, std::vector<std::string>{"/c/e2"});
  EXPECT_EQ(scalar(*store, "SELECT count(*), max(step) FROM metrics"), "3|3");
  EXPECT_EQ(scalar(*store, "SELECT count(*) FROM class_metrics"), "1");
  EXPECT_EQ(scalar(*store, "SELECT path FROM checkpoints"), "/c/e1");
}

TEST_F(StoreTest, EvaluationsAreLinkedToTheirRun) {
  auto store = RunStore::open(path_);
  const std::string run = store->createRun(makeInfo("evaluated"));
  RunStore::Evaluation eval;
  eval.checkpoint = "/c/best.pt";
  eval.split = "val";
  eval.metrics = {{"mAP", 81.5}, {"loss", 0.2}};
  eval.class_metrics = {{0, "AP", 0, "cat", std::nullopt, 0}};
  const auto id = store->addEvaluation(run, eval);
  EXPECT_EQ(lines(*store,
                  "SELECT e.run = ?1, e.checkpoint, m.key, m.value FROM "
                  "evaluations e JOIN evaluation_metrics m ON m.evaluation = "
                  "e.id WHERE e.id = ?2 ORDER BY m.key",
                  {run, std::to_string(id)}),
            (std::vector<std::string>{"1|/c/best.pt|loss|0.2",
                                      "1|/c/best.pt|mAP|81.5"}));
  EXPECT_EQ(
      scalar(*store, "SELECT value IS NULL FROM evaluation_class_metrics"),
      "1");
  // A run deleted meanwhile (`labrun delete` while `eval` ran).
  store->finishRun(run, "FINISHED", "");
  store->deleteRuns({run});
  EXPECT_EQ(errorOf([&] { store->addEvaluation(run, eval); }),
            "run store '" + path_ + "': run " + run +
                " is not there (deleted while it was being evaluated?); the "
                "evaluation of /c/best.pt is not recorded");
  EXPECT_EQ(scalar(*store, "SELECT count(*) FROM evaluations"), "0");
}

// `labrun delete`: one transaction takes a run's rows from every table
// that refers to it, directly or through its evaluations; a live run is
// refused and then nothing goes.
TEST_F(StoreTest, DeleteRunsTakesEverythingRecordedAndRefusesALiveRun) {
  auto store = RunStore::open(path_);
  const auto record = [&](const std::string& name) {
    const std::string run = store->createRun(makeInfo(name));
    store->addParams(run, {{"optim.lr", "float", "0.01"}});
    store->addPlugins(run, {{"fc", "head", "1", "/p/fc.so", "ab"}});
    store->logMetric(run, metric("val/mAP", 10, 1, 0.5));
    store->addClassMetrics(run, {{1, "AP", 0, "cat", 50.0, 3}});
    store->addCheckpoint(run, {10, 1, "/c/" + name + ".pt", 10, "ab", 0.5,
                               /*best=*/true});
    RunStore::Evaluation eval;
    eval.checkpoint = "/c/" + name + ".pt";
    eval.split = "val";
    eval.metrics = {{"mAP", 50.0}};
    eval.class_metrics = {{0, "AP", 0, "cat", 50.0, 3}};
    store->addEvaluation(run, eval);
    store->finishRun(run, "FINISHED", "");
    return run;
  };
  const std::string gone = record("gone");
  const std::string kept = record("kept");
  const std::string live = store->createRun(makeInfo("live"));
  // Every table with a run column, and those below evaluations.
  const std::vector<std::string> by_run =
      lines(*store,
            "SELECT m.name FROM sqlite_master AS m, pragma_table_info(m.name) "
            "AS c WHERE m.type = 'table' AND c.name = 'run' ORDER BY m.name");
  // checkpoints, class_metrics, evaluations, metrics, params, run_plugins
  ASSERT_EQ(by_run.size(), 6u);
  const auto rows_of = [&](const std::string& run) {
    std::string counts;
    for (const std::string& table : by_run) {
      counts +=
          scalar(*store, "SELECT count(*) FROM " + table + " WHERE run = ?1",
                 {run}) +
          " ";
    }
    return counts;
  };
  const std::string recorded = rows_of(kept);
  EXPECT_EQ(rows_of(gone), recorded);
  EXPECT_EQ(recorded.find('0'), std::string::npos) << recorded;

  EXPECT_TRUE(Contains(errorOf([&] {
                         store->deleteRuns({gone, live});
                       }),
                       "run '" + live + "' is still running (heartbeat "));
  EXPECT_EQ(rows_of(gone), recorded);
  EXPECT_EQ(scalar(*store, "SELECT count(*) FROM runs"), "3");

  EXPECT_EQ(store->deleteRuns({gone}), std::vector<std::string>{"/c/gone.pt"});
  std::string none;
  for (std::size_t t = 0; t < by_run.size(); ++t) none += "0 ";
  EXPECT_EQ(rows_of(gone), none);
  EXPECT_EQ(rows_of(kept), recorded);
  for (const char* table : {"evaluation_metrics", "evaluation_class_metrics",
                            "evaluation_thresholds"}) {
    EXPECT_EQ(scalar(*store, std::string("SELECT count(*) FROM ") + table +
                                 " WHERE evaluation NOT IN (SELECT id FROM "
                                 "evaluations)"),
              "0")
        << table;
  }
  EXPECT_EQ(scalar(*store, "SELECT count(*) FROM evaluation_metrics"), "1");
  EXPECT_TRUE(Contains(errorOf([&] { store->deleteRuns({gone}); }),
                       "no run '" + gone + "'"));
}

}  // namespace
}  // namespace labrun::store
