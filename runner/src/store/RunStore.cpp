#include "store/RunStore.h"

#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <limits>
#include <random>
#include <set>
#include <string_view>
#include <system_error>
#include <thread>
#include <utility>

#include "store/Migrations.h"
#include "store/RunStoreImpl.h"
#include "store/Sqlite.h"

namespace labrun::store {

using detail::fail;
using detail::inTransaction;
using detail::Stmt;

namespace {

// Long enough to ride out another process's flush or migration.
constexpr int kBusyTimeoutMs = 10000;
// Seconds between the heartbeats that metric flushes refresh.
constexpr double kFlushHeartbeatS = 1.0;
// Shortest uuid prefix accepted by resolveRun.
constexpr std::size_t kMinPrefix = 4;
// Candidates listed in an ambiguity error.
constexpr std::size_t kMaxCandidates = 10;

// Switching a file to WAL needs an exclusive lock, and SQLite answers
// SQLITE_BUSY at once, without the busy handler, when another process opening
// the same fresh file holds a conflicting lock (waiting could deadlock). So
// retry here, for as long as the busy timeout would have waited.
void enableWal(sqlite3* db) {
  const auto deadline = std::chrono::steady_clock::now() +
                        std::chrono::milliseconds(kBusyTimeoutMs);
  for (;;) {
    const int rc = sqlite3_exec(db, "PRAGMA journal_mode = WAL", nullptr,
                                nullptr, nullptr);
    if (rc == SQLITE_OK) return;
    if (rc != SQLITE_BUSY || std::chrono::steady_clock::now() > deadline) {
      detail::failSqlite(db, "enabling WAL journal mode");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

double nowSeconds() {
  return std::chrono::duration<double>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Random (version 4) uuid. random_device draws fresh entropy on every call,
// so forked processes never repeat each other's ids.
std::string newUuid() {
  std::random_device rd;
  unsigned char bytes[16];
  for (int i = 0; i < 16; i += 4) {
    const unsigned v = rd();
    for (int j = 0; j < 4; ++j) bytes[i + j] = (v >> (8 * j)) & 0xff;
  }
  bytes[6] = (bytes[6] & 0x0f) | 0x40;  // version 4
  bytes[8] = (bytes[8] & 0x3f) | 0x80;  // RFC 4122 variant
  std::string out;
  char hex[3];
  for (int i = 0; i < 16; ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) out += '-';
    std::snprintf(hex, sizeof hex, "%02x", bytes[i]);
    out += hex;
  }
  return out;
}

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return std::tolower(c); });
  return s;
}

// Whole-string, locale-independent number parse.
template <class T>
std::optional<T> parseNumber(std::string_view s) {
  if (!s.empty() && s.front() == '+') s.remove_prefix(1);
  T v{};
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size()) return std::nullopt;
  return v;
}

// Floats as YAML writes them, including .inf / -.inf / .nan.
std::optional<double> parseFloat(const std::string& text) {
  const std::string s = lower(text);
  constexpr double kInf = std::numeric_limits<double>::infinity();
  if (s == ".inf" || s == "+.inf") return kInf;
  if (s == "-.inf") return -kInf;
  if (s == ".nan") return std::numeric_limits<double>::quiet_NaN();
  return parseNumber<double>(s);
}

std::optional<bool> parseBool(const std::string& text) {
  const std::string s = lower(text);
  if (s == "true" || s == "yes" || s == "on" || s == "1") return true;
  if (s == "false" || s == "no" || s == "off" || s == "0") return false;
  return std::nullopt;
}

[[noreturn]] void failParam(Stmt& st, const ParamRow& p) {
  fail(st.db(),
       "param '" + p.key + "': '" + p.value + "' is not a valid " + p.type);
}

// Binds a param's value with a real SQLite storage class (INTEGER for int
// and bool, REAL for float, NULL for null, TEXT otherwise) so that SQL like
// `value < 1e-3` compares numerically.
void bindParamValue(Stmt& st, int i, const ParamRow& p) {
  if (p.type == "int") {
    const auto v = parseNumber<std::int64_t>(p.value);
    if (!v) failParam(st, p);
    st.bindInt(i, *v);
  } else if (p.type == "float") {
    const auto v = parseFloat(p.value);
    if (!v) failParam(st, p);
    st.bindReal(i, *v);
  } else if (p.type == "bool") {
    const auto v = parseBool(p.value);
    if (!v) failParam(st, p);
    st.bindInt(i, *v ? 1 : 0);
  } else if (p.type == "null") {
    st.bindNull(i);
  } else {
    st.bindText(i, p.value);
  }
}

const char* typeName(int sqlite_type) {
  switch (sqlite_type) {
    case SQLITE_INTEGER:
      return "integer";
    case SQLITE_FLOAT:
      return "real";
    case SQLITE_BLOB:
      return "blob";
    case SQLITE_NULL:
      return "null";
    default:
      return "text";
  }
}

void insertParams(sqlite3* db, const std::string& run,
                  const std::vector<ParamRow>& rows) {
  Stmt st(db,
          "INSERT INTO params (run, key, type, value) VALUES (?1, ?2, ?3, ?4)");
  for (const ParamRow& p : rows) {
    st.bindText(1, run).bindText(2, p.key).bindText(3, p.type);
    bindParamValue(st, 4, p);
    st.run();
  }
}

void insertPlugins(sqlite3* db, const std::string& run,
                   const std::vector<PluginRow>& rows) {
  // A plugin used in several slots is one row.
  Stmt st(db,
          "INSERT OR REPLACE INTO run_plugins (run, name, kind, version, "
          "file, sha256) VALUES (?1, ?2, ?3, ?4, ?5, ?6)");
  for (const PluginRow& p : rows) {
    st.bindText(1, run)
        .bindText(2, p.name)
        .bindText(3, p.kind)
        .bindText(4, p.version)
        .bindText(5, p.file)
        .bindText(6, p.sha256);
    st.run();
  }
}

}  // namespace

RunStore::RunStore(std::string path, std::unique_ptr<Impl> impl)
    : path_(std::move(path)), impl_(std::move(impl)) {}

RunStore::~RunStore() {
  if (impl_->pending.empty()) return;
  try {
    flush();
  } catch (const StoreError& e) {
    // Destructors cannot throw; say what was lost rather than nothing.
    std::fprintf(stderr, "labrun: %s (unflushed metric rows lost)\n", e.what());
  }
}

std::unique_ptr<RunStore> RunStore::open(const std::string& path,
                                         bool read_only) {
  const auto where = [&] { return "run store '" + path + "': "; };
  std::error_code folder_error;
  if (std::filesystem::is_directory(path, folder_error)) {
    throw StoreError(where() +
                     "a folder, not a run store file; name a file "
                     "in it, e.g. " +
                     (std::filesystem::path(path) / "labrun.db").string());
  }
  if (!read_only) {
    const auto parent = std::filesystem::path(path).parent_path();
    std::error_code ec;
    if (!parent.empty()) std::filesystem::create_directories(parent, ec);
    if (ec) {
      throw StoreError(where() + "cannot create directory '" + parent.string() +
                       "': " + ec.message());
    }
  }
  auto impl = std::make_unique<Impl>();
  const int flags = read_only ? SQLITE_OPEN_READONLY
                              : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE;
  const int rc = sqlite3_open_v2(path.c_str(), &impl->db, flags, nullptr);
  if (rc != SQLITE_OK) {
    throw StoreError(
        where() + "cannot open: " +
        (impl->db ? sqlite3_errmsg(impl->db) : sqlite3_errstr(rc)));
  }
  sqlite3* db = impl->db;
  sqlite3_busy_timeout(db, kBusyTimeoutMs);
  detail::exec(db, "PRAGMA foreign_keys = ON");
  if (read_only) {
    try {
      detail::requireCurrent(db);
    } catch (const StoreBusyError&) {
      throw;
    } catch (const StoreError& unreadable) {
      // SQLite reads a WAL-mode file only with its -shm file beside it,
      // which it cannot create in a folder it cannot write.
      const auto folder = std::filesystem::absolute(path).parent_path();
      const std::string_view what = unreadable.what();
      std::error_code error;
      if (::access(folder.c_str(), W_OK) != 0 &&
          !std::filesystem::exists(path + "-shm", error) &&
          (what.find("readonly database") != std::string_view::npos ||
           what.find("unable to open") != std::string_view::npos)) {
        throw StoreError(
            where() + "cannot be read from a folder this user cannot write (" +
            folder.string() +
            "): SQLite keeps a store in WAL mode readable through its -shm "
            "file, made beside it; copy the store (and any -wal file) to a "
            "folder you can write");
      }
      throw;
    }
  } else {
    // WAL lets readers run during writes and writers from several processes
    // queue on the busy timeout; the mode is stored in the file. NORMAL sync
    // is safe in WAL mode (a power cut may lose the last commits, never
    // corrupt the file).
    enableWal(db);
    detail::exec(db, "PRAGMA synchronous = NORMAL");
    // A reader that holds a snapshot for long (`labrun runs` in a loop, a
    // notebook) keeps checkpoints from restarting the WAL, which then grows;
    // without a limit it keeps that size until every connection closes.
    detail::exec(db, "PRAGMA journal_size_limit = 16777216");
    detail::migrate(db, kSchemaVersion);
  }
  return std::unique_ptr<RunStore>(new RunStore(path, std::move(impl)));
}

int RunStore::schemaVersion() const { return detail::userVersion(impl_->db); }

std::string RunStore::createRun(RunInfo info,
                                const std::vector<ParamRow>& params,
                                const std::vector<PluginRow>& plugins) {
  if (info.uuid.empty()) info.uuid = newUuid();
  sqlite3* db = impl_->db;
  inTransaction(db, [&] {
    Stmt st(db,
            "INSERT INTO runs (uuid, name, status, started_at, heartbeat_at, "
            "spec_yaml, spec_hash, spec_path, seed, host, device, git_commit, "
            "git_dirty, labrun_version, torch_version, opencv_version, "
            "command_line, pid, sweep, world_size, kind) VALUES (?1, ?2, "
            "'RUNNING', ?3, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, "
            "?14, ?15, ?16, ?17, ?18, ?19)");
    st.bindText(1, info.uuid)
        .bindText(2, info.name)
        .bindReal(3, nowSeconds())
        .bindText(4, info.spec_yaml)
        .bindText(5, info.spec_hash)
        .bindText(6, info.spec_path)
        .bindInt(7, info.seed)
        .bindText(8, info.host)
        .bindText(9, info.device)
        .bindTextOrNull(10, info.git_commit)
        .bindInt(11, info.git_dirty ? 1 : 0)
        .bindText(12, info.labrun_version)
        .bindText(13, info.torch_version)
        .bindText(14, info.opencv_version)
        .bindText(15, info.command_line)
        .bindInt(16, info.pid)
        .bindTextOrNull(17, info.sweep)
        .bindInt(18, info.world_size)
        .bindText(19, info.kind);
    st.run();
    insertParams(db, info.uuid, params);
    insertPlugins(db, info.uuid, plugins);
  });
  impl_->claims[info.uuid] = 0;
  return info.uuid;
}

std::optional<std::int64_t> RunStore::claimOf(const std::string& run) const {
  const auto it = impl_->claims.find(run);
  if (it == impl_->claims.end()) return std::nullopt;
  return it->second;
}

void RunStore::actFor(const std::string& run, std::int64_t claim) {
  impl_->claims[run] = claim;
}

void RunStore::requireClaim(const std::string& run) const {
  const auto claim = claimOf(run);
  if (!claim) return;
  sqlite3* db = impl_->db;
  Stmt st(db, "SELECT resumes, pid, host FROM runs WHERE uuid = ?1");
  st.bindText(1, run);
  if (!st.step()) fail(db, "no run '" + run + "' (deleted?)");
  if (st.columnInt(0) == *claim) return;
  throw StoreClaimLost(
      "run store '" + path_ + "': run '" + run + "' was resumed by process " +
      st.columnText(1) + " on " + st.columnText(2) + " (resume " +
      std::to_string(st.columnInt(0)) +
      ") while this process was not heard from; this process stops "
      "recording it");
}

void RunStore::addParams(const std::string& run,
                         const std::vector<ParamRow>& rows) {
  sqlite3* db = impl_->db;
  inTransaction(db, [&] { insertParams(db, run, rows); });
}

void RunStore::addPlugins(const std::string& run,
                          const std::vector<PluginRow>& rows) {
  sqlite3* db = impl_->db;
  inTransaction(db, [&] { insertPlugins(db, run, rows); });
}

void RunStore::logMetric(const std::string& run, const MetricRow& row) {
  impl_->pending.emplace_back(run, row);
  // A row without a time is stamped when logged, not when flushed.
  if (row.time <= 0) impl_->pending.back().second.time = nowSeconds();
  if (impl_->pending.size() >= batch_rows_) flush();
}

void RunStore::flush() {
  if (impl_->pending.empty()) {
    // Still a point where a process learns that its run was claimed since
    // (before it writes a checkpoint file, say).
    for (const auto& claimed : impl_->claims) requireClaim(claimed.first);
    return;
  }
  // Taken out before writing: a failed batch is rolled back and dropped, so
  // one bad row cannot make every later flush (and finishRun) fail too.
  const auto batch = std::exchange(impl_->pending, {});
  sqlite3* db = impl_->db;
  inTransaction(db, [&] {
    Stmt insert(db,
                "INSERT INTO metrics (run, key, step, epoch, value, time) "
                "VALUES (?1, ?2, ?3, ?4, ?5, ?6)");
    std::set<std::string> runs;
    for (const auto& row : batch) runs.insert(row.first);
    for (const std::string& run : runs) requireClaim(run);
    for (const auto& [run, m] : batch) {
      insert.bindText(1, run)
          .bindText(2, m.key)
          .bindInt(3, m.step)
          .bindInt(4, m.epoch)
          .bindReal(5, m.value)
          .bindReal(6, m.time);
      insert.run();
    }
    // At most once a second: the update rewrites the run's whole row, the
    // resolved spec included, which cost more than the metric rows when a
    // run flushes every step (docs/BENCHMARKS.md, "Store logging"); the
    // heartbeat thread beats every 10 s besides.
    const double now = nowSeconds();
    if (now - impl_->flush_heartbeat_at < kFlushHeartbeatS) return;
    Stmt beat(db, "UPDATE runs SET heartbeat_at = ?2 WHERE uuid = ?1");
    for (const std::string& run : runs) {
      beat.bindText(1, run).bindReal(2, now);
      beat.run();
    }
    impl_->flush_heartbeat_at = now;
  });
}

void RunStore::heartbeat(const std::string& run,
                         std::optional<std::int64_t> claim) {
  sqlite3* db = impl_->db;
  inTransaction(db, [&] {
    Stmt st(db,
            "UPDATE runs SET heartbeat_at = ?2 WHERE uuid = ?1 "
            "AND (?3 IS NULL OR resumes = ?3)");
    st.bindText(1, run).bindReal(2, nowSeconds());
    if (claim) st.bindInt(3, *claim);
    st.run();
    if (sqlite3_changes(db) == 0) {
      fail(db, "no run '" + run + "'" +
                   (claim ? " of this process (resumed by another?)" : ""));
    }
  });
}

void RunStore::addClassMetrics(const std::string& run,
                               const std::vector<ClassMetricRow>& rows) {
  sqlite3* db = impl_->db;
  inTransaction(db, [&] {
    requireClaim(run);
    // Re-evaluating an epoch replaces its values.
    Stmt st(db,
            "INSERT OR REPLACE INTO class_metrics (run, epoch, metric, "
            "class_index, class_name, value, positives) VALUES (?1, ?2, ?3, "
            "?4, ?5, ?6, ?7)");
    for (const ClassMetricRow& c : rows) {
      st.bindText(1, run)
          .bindInt(2, c.epoch)
          .bindText(3, c.metric)
          .bindInt(4, c.class_index)
          .bindText(5, c.class_name)
          .bindReal(6, c.value)
          .bindInt(7, c.positives);
      st.run();
    }
  });
}

void RunStore::addCheckpoint(const std::string& run, const CheckpointRow& row) {
  sqlite3* db = impl_->db;
  inTransaction(db, [&] {
    requireClaim(run);
    if (row.best) {
      Stmt clear(db,
                 "UPDATE checkpoints SET best = 0 WHERE run = ?1 AND best = 1");
      clear.bindText(1, run);
      clear.run();
    }
    // A file saved again under the same path (e.g. last.pt) replaces its row:
    // the table describes the files as they are on disk.
    Stmt st(db,
            "INSERT INTO checkpoints (run, step, epoch, path, bytes, sha256, "
            "metric, best) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) "
            "ON CONFLICT (run, path) DO UPDATE SET step = excluded.step, "
            "epoch = excluded.epoch, bytes = excluded.bytes, "
            "sha256 = excluded.sha256, metric = excluded.metric, "
            "best = excluded.best");
    st.bindText(1, run)
        .bindInt(2, row.step)
        .bindInt(3, row.epoch)
        .bindText(4, row.path)
        .bindInt(5, row.bytes)
        .bindText(6, row.sha256)
        .bindReal(7, row.metric)
        .bindInt(8, row.best ? 1 : 0);
    st.run();
  });
}

void RunStore::reopenRun(const std::string& run, double stale_after_s,
                         std::int64_t pid, const std::string& host,
                         std::optional<std::int64_t> gone_claim) {
  sqlite3* db = impl_->db;
  std::int64_t claim = 0;
  inTransaction(db, [&] {
    Stmt current(db,
                 "SELECT status, heartbeat_at, host, resumes FROM runs "
                 "WHERE uuid = ?1");
    current.bindText(1, run);
    if (!current.step()) fail(db, "no run '" + run + "'");
    const std::string status = current.columnText(0);
    const double age = nowSeconds() - current.columnReal(1);
    const std::int64_t resumes = current.columnInt(3);
    if (status == "FINISHED") fail(db, "run '" + run + "' already FINISHED");
    if (status == "RUNNING" && age < stale_after_s && gone_claim != resumes) {
      fail(db, "run '" + run + "' is still running on " +
                   current.columnText(2) + " (heartbeat " +
                   std::to_string(static_cast<long>(age)) + " s ago)");
    }
    Stmt st(
        db,
        "UPDATE runs SET status = 'RUNNING', ended_at = NULL, error = NULL, "
        "heartbeat_at = ?2, resumes = ?3, pid = ?4, host = ?5 "
        "WHERE uuid = ?1");
    claim = resumes + 1;
    st.bindText(1, run)
        .bindReal(2, nowSeconds())
        .bindInt(3, claim)
        .bindInt(4, pid)
        .bindText(5, host);
    st.run();
  });
  impl_->claims[run] = claim;
}

std::vector<std::string> RunStore::truncateAfter(
    const std::string& run, std::int64_t step, std::int64_t completed_epochs) {
  flush();
  sqlite3* db = impl_->db;
  std::vector<std::string> removed;
  inTransaction(db, [&] {
    requireClaim(run);
    Stmt later(db, "SELECT path FROM checkpoints WHERE run = ?1 AND step > ?2");
    later.bindText(1, run).bindInt(2, step);
    while (later.step()) removed.push_back(later.columnText(0));
    for (const char* sql :
         {"DELETE FROM metrics WHERE run = ?1 AND step > ?2",
          "DELETE FROM checkpoints WHERE run = ?1 AND step > ?2"}) {
      Stmt st(db, sql);
      st.bindText(1, run).bindInt(2, step);
      st.run();
    }
    Stmt st(db, "DELETE FROM class_metrics WHERE run = ?1 AND epoch > ?2");
    st.bindText(1, run).bindInt(2, completed_epochs);
    st.run();
  });
  return removed;
}

void RunStore::removeCheckpoint(const std::string& run,
                                const std::string& path) {
  sqlite3* db = impl_->db;
  inTransaction(db, [&] {
    requireClaim(run);
    Stmt st(db, "DELETE FROM checkpoints WHERE run = ?1 AND path = ?2");
    st.bindText(1, run).bindText(2, path);
    st.run();
  });
}

std::vector<std::string> RunStore::deleteRuns(
    const std::vector<std::string>& runs) {
  flush();
  sqlite3* db = impl_->db;
  std::vector<std::string> paths;
  inTransaction(db, [&] {
    for (const std::string& run : runs) {
      Stmt current(db, "SELECT status, heartbeat_at FROM runs WHERE uuid = ?1");
      current.bindText(1, run);
      if (!current.step()) fail(db, "no run '" + run + "'");
      const double age = nowSeconds() - current.columnReal(1);
      if (current.columnText(0) == "RUNNING" && age < kStaleHeartbeatS) {
        fail(db, "run '" + run + "' is still running (heartbeat " +
                     std::to_string(static_cast<long>(age)) + " s ago)");
      }
      Stmt files(db, "SELECT path FROM checkpoints WHERE run = ?1");
      files.bindText(1, run);
      while (files.step()) paths.push_back(files.columnText(0));
      // The foreign keys cascade to every table that refers to the run.
      Stmt st(db, "DELETE FROM runs WHERE uuid = ?1");
      st.bindText(1, run);
      st.run();
    }
  });
  for (const std::string& run : runs) impl_->claims.erase(run);
  return paths;
}

void RunStore::setBadImages(const std::string& run, std::int64_t count) {
  sqlite3* db = impl_->db;
  inTransaction(db, [&] {
    requireClaim(run);
    Stmt st(db, "UPDATE runs SET bad_images = ?2 WHERE uuid = ?1");
    st.bindText(1, run).bindInt(2, count);
    st.run();
  });
}

std::int64_t RunStore::addEvaluation(const std::string& run,
                                     const Evaluation& eval) {
  sqlite3* db = impl_->db;
  std::int64_t id = 0;
  inTransaction(db, [&] {
    // In the same transaction, so that a `delete` cannot come in between:
    // said as such, not as "FOREIGN KEY constraint failed".
    Stmt exists(db, "SELECT 1 FROM runs WHERE uuid = ?1");
    exists.bindText(1, run);
    if (!exists.step()) {
      throw StoreError("run store '" + path_ + "': run " + run +
                       " is not there (deleted while it was being "
                       "evaluated?); the evaluation of " +
                       eval.checkpoint + " is not recorded");
    }
    Stmt st(db,
            "INSERT INTO evaluations (run, checkpoint, checkpoint_sha256, "
            "split, created_at, scores_path) VALUES (?1, ?2, ?3, ?4, ?5, ?6)");
    st.bindText(1, run)
        .bindText(2, eval.checkpoint)
        .bindTextOrNull(3, eval.checkpoint_sha256)
        .bindText(4, eval.split)
        .bindReal(5, nowSeconds())
        .bindTextOrNull(6, eval.scores_path);
    st.run();
    id = sqlite3_last_insert_rowid(db);
    Stmt metric(db,
                "INSERT INTO evaluation_metrics (evaluation, key, value) "
                "VALUES (?1, ?2, ?3)");
    for (const auto& [key, value] : eval.metrics) {
      metric.bindInt(1, id).bindText(2, key).bindReal(3, value);
      metric.run();
    }
    Stmt cls(db,
             "INSERT INTO evaluation_class_metrics (evaluation, metric, "
             "class_index, class_name, value, positives) VALUES "
             "(?1, ?2, ?3, ?4, ?5, ?6)");
    for (const ClassMetricRow& c : eval.class_metrics) {
      cls.bindInt(1, id)
          .bindText(2, c.metric)
          .bindInt(3, c.class_index)
          .bindText(4, c.class_name)
          .bindReal(5, c.value)
          .bindInt(6, c.positives);
      cls.run();
    }
    Stmt threshold(db,
                   "INSERT INTO evaluation_thresholds (evaluation, "
                   "class_index, class_name, logit, probability, f1) VALUES "
                   "(?1, ?2, ?3, ?4, ?5, ?6)");
    for (const ClassThresholdRow& t : eval.thresholds) {
      std::optional<double> probability;
      if (t.logit) probability = 1.0 / (1.0 + std::exp(-*t.logit));
      threshold.bindInt(1, id)
          .bindInt(2, t.class_index)
          .bindText(3, t.class_name)
          .bindReal(4, t.logit)
          .bindReal(5, probability)
          .bindReal(6, t.f1);
      threshold.run();
    }
  });
  return id;
}

void RunStore::finishRun(const std::string& run, const std::string& status,
                         const std::string& error) {
  sqlite3* db = impl_->db;
  if (status != "FINISHED" && status != "FAILED" && status != "KILLED") {
    fail(db, "invalid final status '" + status +
                 "' (expected FINISHED, FAILED or KILLED)");
  }
  flush();
  inTransaction(db, [&] {
    requireClaim(run);
    Stmt current(db, "SELECT status FROM runs WHERE uuid = ?1");
    current.bindText(1, run);
    if (!current.step()) fail(db, "no run '" + run + "'");
    const std::string was = current.columnText(0);
    if (was != "RUNNING") fail(db, "run '" + run + "' is already " + was);
    Stmt st(db,
            "UPDATE runs SET status = ?2, ended_at = ?3, heartbeat_at = ?3, "
            "error = ?4 WHERE uuid = ?1");
    st.bindText(1, run)
        .bindText(2, status)
        .bindReal(3, nowSeconds())
        .bindTextOrNull(4, error);
    st.run();
  });
}

std::string RunStore::resolveRun(const std::string& ref,
                                 bool prefer_trained) const {
  sqlite3* db = impl_->db;
  if (ref.empty()) fail(db, "empty run reference");
  // Order: full uuid, then name (an explicit label wins over a prefix that
  // happens to look like it), then unique uuid prefix.
  {
    Stmt st(db, "SELECT uuid FROM runs WHERE uuid = lower(?1)");
    st.bindText(1, ref);
    if (st.step()) return st.columnText(0);
  }
  {
    Stmt st(db,
            "SELECT uuid FROM runs WHERE name = ?1 "
            "ORDER BY kind = 'train' AND ?2 DESC, started_at DESC, rowid DESC "
            "LIMIT 1");
    st.bindText(1, ref).bindInt(2, prefer_trained ? 1 : 0);
    if (st.step()) return st.columnText(0);
  }
  if (ref.size() < kMinPrefix) {
    fail(db, "no run matches '" + ref + "' (a uuid prefix needs at least " +
                 std::to_string(kMinPrefix) + " characters)");
  }
  // A range of the primary key ('~' sorts after every uuid character),
  // not a scan of every run.
  Stmt st(db,
          "SELECT uuid, name FROM runs "
          "WHERE uuid >= lower(?1) AND uuid < lower(?1) || '~' "
          "ORDER BY started_at DESC, rowid DESC LIMIT ?2");
  st.bindText(1, ref).bindInt(2, kMaxCandidates + 1);
  std::vector<std::string> candidates;
  std::string uuid;
  while (st.step()) {
    uuid = st.columnText(0);
    candidates.push_back(uuid + " (" + st.columnText(1) + ")");
  }
  if (candidates.empty()) fail(db, "no run matches '" + ref + "'");
  if (candidates.size() == 1) return uuid;
  std::string list;
  for (std::size_t i = 0; i < std::min(candidates.size(), kMaxCandidates);
       ++i) {
    list += (i ? ", " : "") + candidates[i];
  }
  if (candidates.size() > kMaxCandidates) list += ", ...";
  fail(db, "run reference '" + ref + "' is ambiguous; candidates: " + list);
}

void RunStore::queryEach(
    const std::string& sql, const std::vector<std::string>& params,
    const std::function<void(const std::vector<std::string>&)>& columns,
    const std::function<void(const Row&)>& row) const {
  sqlite3* db = impl_->db;
  const char* tail = nullptr;
  Stmt st(db, sql.c_str(), &tail);
  if (!st.get()) fail(db, "empty query");
  // Anything but whitespace and comments after the first statement is
  // refused, whether or not it would prepare on its own.
  sqlite3_stmt* rest = nullptr;
  const int rc = sqlite3_prepare_v2(db, tail, -1, &rest, nullptr);
  sqlite3_finalize(rest);
  if (rc != SQLITE_OK || rest) {
    fail(db, "only one SQL statement per query is allowed");
  }
  const int expected = sqlite3_bind_parameter_count(st.get());
  // A read-only connection still lets VACUUM INTO write a new file. (A
  // PRAGMA that reads, as journal_mode does, counts as writing; one that
  // writes fails on the connection.)
  const std::string_view text = sqlite3_sql(st.get());
  const auto first = text.find_first_not_of(" \t\r\n");
  const bool pragma = first != std::string_view::npos &&
                      sqlite3_strnicmp(text.data() + first, "PRAGMA", 6) == 0;
  if (sqlite3_db_readonly(db, "main") == 1 &&
      sqlite3_stmt_readonly(st.get()) == 0 && !pragma) {
    fail(db,
         "attempt to write a readonly database: the store is open for "
         "reading, and this statement writes (to it, or to a new file as "
         "VACUUM INTO does); expected a query that only reads");
  }
  if (static_cast<int>(params.size()) != expected) {
    fail(db, "query takes " + std::to_string(expected) + " parameter(s), " +
                 std::to_string(params.size()) + " given");
  }
  for (std::size_t i = 0; i < params.size(); ++i) {
    st.bindText(static_cast<int>(i) + 1, params[i]);
  }
  const int count = sqlite3_column_count(st.get());
  std::vector<std::string> names;
  for (int c = 0; c < count; ++c) {
    names.emplace_back(sqlite3_column_name(st.get(), c));
  }
  columns(names);
  Row values;
  while (st.step()) {
    values.cells.clear();
    values.types.clear();
    for (int c = 0; c < count; ++c) {
      const int type = sqlite3_column_type(st.get(), c);
      values.types.push_back(typeName(type));
      if (type == SQLITE_NULL) {
        values.cells.emplace_back(std::nullopt);
      } else {
        values.cells.emplace_back(st.columnText(c));
      }
    }
    row(values);
  }
}

RunStore::Table RunStore::query(const std::string& sql,
                                const std::vector<std::string>& params) const {
  Table table;
  queryEach(
      sql, params,
      [&table](const std::vector<std::string>& names) {
        table.columns = names;
        table.types.assign(names.size(), "null");
      },
      [&table](const Row& values) {
        table.rows.push_back(values.cells);
        for (std::size_t c = 0; c < values.cells.size(); ++c) {
          // The first non-NULL value's type stands for the column.
          if (table.types[c] == "null") table.types[c] = values.types[c];
        }
      });
  return table;
}

}  // namespace labrun::store
