// The run store: one SQLite file that records every run, its resolved spec,
// parameters, metrics, per-class values, checkpoints and plugins, so past
// results can be compared with plain SQL.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace labrun::store {

class StoreError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// The store stayed locked by another process past the busy timeout: a
// failure of the moment, not of the command line (exit 1, not 2).
class StoreBusyError : public StoreError {
 public:
  using StoreError::StoreError;
};

// Another process claimed the run this store was writing (RunStore::claimOf):
// this process stops recording it (exit 1: nothing is wrong with the
// command line).
class StoreClaimLost : public StoreError {
 public:
  using StoreError::StoreError;
};

// Current schema version (PRAGMA user_version after migrations).
constexpr int kSchemaVersion = 9;

struct RunInfo {
  std::string uuid;  // filled by createRun when empty
  std::string name;
  std::string spec_yaml;  // resolved spec text
  std::string spec_hash;  // sha256 hex of spec_yaml
  std::string spec_path;
  std::int64_t seed = 0;
  std::string host;
  std::string device;
  std::string git_commit;  // "" when the spec is not in a git repository
  bool git_dirty = false;
  std::string labrun_version;
  std::string torch_version;
  std::string opencv_version;
  std::string command_line;
  std::int64_t pid = 0;         // process training the run; 0: unknown
  std::string sweep;            // sweep id; "" when not part of a sweep
  std::int64_t world_size = 1;  // data-parallel worker processes
  std::string kind = "train";   // "eval": evaluation only, nothing trained
};

struct ParamRow {
  std::string key;
  std::string type;  // "int", "float", "bool", "string", "list", "null"
  std::string value;
};

struct MetricRow {
  std::string key;  // e.g. "train/loss", "val/mAP"
  std::int64_t step = 0;
  std::int64_t epoch = 0;
  double value = 0;
  double time = 0;  // unix seconds
};

struct ClassMetricRow {
  std::int64_t epoch = 0;
  std::string metric;  // e.g. "AP"
  std::int64_t class_index = 0;
  std::string class_name;
  std::optional<double> value;  // empty: undefined (no positives)
  std::int64_t positives = 0;
};

struct CheckpointRow {
  std::int64_t step = 0;
  std::int64_t epoch = 0;
  std::string path;
  std::int64_t bytes = 0;
  std::string sha256;
  std::optional<double> metric;  // value of the tracked metric at save
  bool best = false;
};

// A class's decision threshold, chosen on an evaluation's scores.
struct ClassThresholdRow {
  std::int64_t class_index = 0;
  std::string class_name;
  std::optional<double> logit;  // empty: none chosen (no positive label)
  std::optional<double> f1;     // percent, at `logit`, on the split
};

struct PluginRow {
  std::string name;
  std::string kind;
  std::string version;
  std::string file;
  std::string sha256;
};

// Opens (creating when needed) the store at `path`, creating parent
// directories, enabling WAL and a busy timeout, and migrating the schema up
// to kSchemaVersion inside a transaction. A file with a newer user_version
// is refused (StoreError naming both versions). `read_only` opens with
// SQLITE_OPEN_READONLY and never migrates (refuses an outdated schema).
class RunStore {
 public:
  // Seconds without a heartbeat after which a RUNNING run counts as crashed
  // (the heartbeat thread beats every 10 s; the run_summary view uses 60
  // too).
  static constexpr double kStaleHeartbeatS = 60;

  static std::unique_ptr<RunStore> open(const std::string& path,
                                        bool read_only = false);
  ~RunStore();
  RunStore(const RunStore&) = delete;
  RunStore& operator=(const RunStore&) = delete;

  const std::string& path() const { return path_; }
  int schemaVersion() const;

  // Inserts a RUNNING run with start time and heartbeat = now, with its
  // parameters and plugins in the same transaction (a kill in between would
  // leave a run that `runs --where "lr < ..."` cannot see); returns uuid.
  std::string createRun(RunInfo info, const std::vector<ParamRow>& params = {},
                        const std::vector<PluginRow>& plugins = {});
  void addParams(const std::string& run, const std::vector<ParamRow>& rows);
  void addPlugins(const std::string& run, const std::vector<PluginRow>& rows);

  // Metrics are buffered and written in one transaction per flush(): when
  // the buffer reaches `batch_rows` (default 256) or on flush()/finishRun().
  void logMetric(const std::string& run, const MetricRow& row);
  void flush();  // also refreshes the run's heartbeat
  // Refreshes the run's heartbeat; with `claim`, only while the run is still
  // that claim's (see claimOf): StoreError otherwise.
  void heartbeat(const std::string& run,
                 std::optional<std::int64_t> claim = std::nullopt);

  void addClassMetrics(const std::string& run,
                       const std::vector<ClassMetricRow>& rows);
  void addCheckpoint(const std::string& run, const CheckpointRow& row);
  // Clears the best flag of the run's other checkpoints when row.best.

  // Claims a stopped run for process `pid` on `host`: marks it RUNNING
  // again and counts the resume, in one transaction. A stopped run is
  // FAILED, KILLED, RUNNING with a heartbeat older than `stale_after_s`, or
  // RUNNING under `gone_claim`, a claim whose process the caller found gone
  // (runProcess). Refuses a FINISHED run and any other RUNNING one: of two
  // processes resuming a run at once, one claims it, the other is refused.
  void reopenRun(const std::string& run, double stale_after_s, std::int64_t pid,
                 const std::string& host,
                 std::optional<std::int64_t> gone_claim = std::nullopt);
  // The claim this store holds on `run` (createRun or reopenRun made it):
  // while it holds one, every write of the run's rows first checks that no
  // other process has claimed the run since, and fails (StoreError) if one
  // has, so that a process taken over (stopped, then resumed elsewhere)
  // cannot record a step twice or end the run under the new owner.
  std::optional<std::int64_t> claimOf(const std::string& run) const;
  // Writes of `run` from here on check `claim` as if this store had made it:
  // a data-parallel launcher ends its rank 0's run only while it is that
  // rank's.
  void actFor(const std::string& run, std::int64_t claim);
  // Forgets what a run recorded after its checkpoint at `step`, where
  // `completed_epochs` epochs had ended: metric rows with a later step,
  // per-class rows of later epochs, and later checkpoint rows (whose paths
  // are returned so the caller can delete the files).
  std::vector<std::string> truncateAfter(const std::string& run,
                                         std::int64_t step,
                                         std::int64_t completed_epochs);
  void removeCheckpoint(const std::string& run, const std::string& path);
  // Deletes the runs and everything recorded for them, in one transaction;
  // a run still running (RUNNING with a fresh heartbeat) is refused and
  // then none is deleted. Returns their checkpoint rows' paths, so that the
  // caller can delete the files.
  std::vector<std::string> deleteRuns(const std::vector<std::string>& runs);
  void setBadImages(const std::string& run, std::int64_t count);

  // An evaluation of a checkpoint (`labrun eval`); returns its id.
  struct Evaluation {
    std::string checkpoint;
    std::string checkpoint_sha256;
    std::string split;
    std::string scores_path;  // "" when no per-image scores were written
    std::vector<std::pair<std::string, double>> metrics;
    std::vector<ClassMetricRow> class_metrics;  // epoch unused
    std::vector<ClassThresholdRow> thresholds;  // none, or one per class
  };
  std::int64_t addEvaluation(const std::string& run, const Evaluation& eval);
  // The per-class thresholds of the newest evaluation of `run` that has
  // them, in class order, with that evaluation's id; nothing when none has
  // (RunReads.cpp, as the next one).
  struct StoredThresholds {
    std::int64_t evaluation = 0;
    std::vector<ClassThresholdRow> classes;
  };
  std::optional<StoredThresholds> newestThresholds(
      const std::string& run) const;
  // The run that recorded checkpoint file `path` (absolute), if any.
  std::optional<std::string> checkpointOwner(const std::string& path) const;
  // The class names of the run's per-class training metrics, by class
  // index; empty when it recorded none.
  std::vector<std::string> trainedClassNames(const std::string& run) const;
  // The recorded checkpoints of `bytes` bytes with their runs, oldest run
  // first: the candidates for "which run's checkpoint is this file" before
  // its sha256 (or the file itself) is compared.
  struct SizedCheckpoint {
    std::string run, path, sha256;
  };
  std::vector<SizedCheckpoint> checkpointsOfSize(std::int64_t bytes) const;

  // status: "FINISHED", "FAILED" or "KILLED"; error may be empty.
  void finishRun(const std::string& run, const std::string& status,
                 const std::string& error);

  // Resolves a run reference: a full uuid, a unique uuid prefix (>= 4 chars),
  // or a run name (the most recent run of that name). StoreError if none or
  // ambiguous (listing candidates). `prefer_trained`: a name stands for its
  // most recent training run if it has one, passing over evaluation-only
  // runs (kind 'eval'), which have no checkpoints to evaluate, resume or
  // start from.
  std::string resolveRun(const std::string& ref,
                         bool prefer_trained = false) const;

  // ---- Typed reads (RunReads.cpp): every question the runner asks of the
  // store. `run` is a full uuid (resolveRun); a run that is not there is a
  // StoreError naming it, unless the result is optional.

  // The run's name and status as run_summary shows it (CRASHED included).
  struct RunHeader {
    std::string uuid;
    std::string name;
    std::string status;
    std::string kind;  // "train", or "eval" (evaluation only)
  };
  RunHeader runHeader(const std::string& run) const;
  // runs.status as stored (RUNNING for a crashed run); nullopt: no such run.
  std::optional<std::string> storedStatus(const std::string& run) const;
  std::int64_t worldSize(const std::string& run) const;
  // The resolved spec the run recorded, the file it came from, and its hash.
  struct RunSpec {
    std::string yaml;
    std::string path;
    std::string hash;  // sha256 hex of yaml
  };
  RunSpec runSpec(const std::string& run) const;
  // The host and pid that trained the run last (either may be unknown).
  struct RunProcess {
    std::optional<std::string> host;
    std::optional<std::int64_t> pid;
    std::string status;      // as recorded (RUNNING, never CRASHED)
    std::int64_t claim = 0;  // `resumes`: 0 for the first process
    double started_at = 0;   // unix seconds
    double heartbeat_at = 0;  // unix seconds
  };
  RunProcess runProcess(const std::string& run) const;
  // The run started in `sweep` by process `pid`, as run_summary shows it.
  struct SweepMember {
    std::string uuid;
    std::string name;
    std::string status;
    std::optional<double> best_map;
  };
  std::optional<SweepMember> sweepMember(const std::string& sweep,
                                         std::int64_t pid) const;
  // The runs of `sweep` in start order.
  std::vector<std::string> sweepRuns(const std::string& sweep) const;

  // (key, value) of the run's params; value "null" for a null value.
  std::vector<std::pair<std::string, std::string>> params(
      const std::string& run) const;
  // Per `val/*` key of the run: its largest, smallest and last value (at
  // the highest step); nullopt where every value is NULL (NaN).
  struct MetricRange {
    std::string key;
    std::optional<double> max;
    std::optional<double> min;
    std::optional<double> last;
  };
  std::vector<MetricRange> validationMetrics(const std::string& run) const;
  // (x, value) of `key` in step order, x being the step or the epoch; NULL
  // (NaN) values are left out.
  enum class Axis { kStep, kEpoch };
  std::vector<std::pair<double, double>> metricSeries(const std::string& run,
                                                      const std::string& key,
                                                      Axis x) const;
  // Per-class AP of every map instance ("AP", "AP@ap=sklearn", ...), each at
  // the last epoch the run recorded it; by instance, then class index.
  std::vector<ClassMetricRow> lastClassAp(const std::string& run) const;

  // Checkpoints. "best": the one flagged best; "newest": highest step;
  // "best, else newest": what init_from takes from a run.
  enum class CheckpointPick { kBest, kNewest, kBestElseNewest };
  std::optional<CheckpointRow> pickCheckpoint(const std::string& run,
                                              CheckpointPick pick) const;
  // Every checkpoint of the run, newest (highest step) first.
  std::vector<CheckpointRow> checkpoints(const std::string& run) const;
  // The run's checkpoints to delete so that only the newest `keep_last` and
  // the best one remain.
  std::vector<std::string> checkpointsBeyond(const std::string& run,
                                             std::int64_t keep_last) const;

  // Generic read-only query for the CLI (`labrun sql`, `runs`, `show`).
  struct Table {
    std::vector<std::string> columns;
    // NULL cells are std::nullopt; everything else as text.
    std::vector<std::vector<std::optional<std::string>>> rows;
    // SQLite column type of the first non-NULL value per column:
    // "integer", "real", "text", "blob" or "null" (for JSON output).
    std::vector<std::string> types;
  };
  // Runs one statement with positional text parameters bound (?1, ?2, ...).
  // In a read-only store any write is refused by SQLite itself.
  Table query(const std::string& sql,
              const std::vector<std::string>& params = {}) const;
  // One result row: NULL cells are std::nullopt, everything else as text,
  // with each value's own SQLite type ("integer", "real", "text", "blob",
  // "null"): a column may hold several.
  struct Row {
    std::vector<std::optional<std::string>> cells;
    std::vector<std::string> types;
  };
  // query() a row at a time, for results too large to hold (`labrun sql
  // --csv` of millions of metric rows): `columns` gets the column names,
  // then `row` each row as it is read.
  void queryEach(
      const std::string& sql, const std::vector<std::string>& params,
      const std::function<void(const std::vector<std::string>&)>& columns,
      const std::function<void(const Row&)>& row) const;

  // Display tables with their column titles (`labrun show`, `report`).
  Table runFacts(const std::string& run) const;       // one row, spec last
  Table runProvenance(const std::string& run) const;  // one row
  Table runPlugins(const std::string& run) const;
  // `labrun show`'s sections after the facts, each with its title.
  struct Section {
    std::string title;
    Table table;
  };
  std::vector<Section> runSections(const std::string& run) const;

  void setBatchRows(std::size_t rows) { batch_rows_ = rows; }

 private:
  // Throws StoreError when this store holds a claim on `run` and another
  // process has claimed it since (claimOf).
  void requireClaim(const std::string& run) const;
  struct Impl;
  RunStore(std::string path, std::unique_ptr<Impl> impl);
  // The run's checkpoints that the SQL `which` (a condition, an order)
  // picks.
  std::vector<CheckpointRow> checkpointRows(const std::string& run,
                                            const std::string& which) const;
  std::string path_;
  std::unique_ptr<Impl> impl_;
  std::size_t batch_rows_ = 256;
};

}  // namespace labrun::store
