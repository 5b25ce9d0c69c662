// Fault injection into the run store (docs/RELIABILITY.md): a short run is
// recorded once to count its write-side I/O calls, then again once per call
// with that call failing (a transient I/O error, then a disk that stays
// full). Each time the store must either succeed or throw StoreError, pass
// PRAGMA integrity_check, keep everything a finished run recorded, hold
// metrics without gaps or duplicates, and leak no descriptor.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "FaultVfs.h"
#include "store/RunStore.h"

namespace labrun::store {
namespace {

namespace fs = std::filesystem;

constexpr int kBatch = 8;
constexpr int kSteps = 3 * kBatch;  // three whole metric batches per run

std::size_t openDescriptors() {
  std::size_t count = 0;
  for ([[maybe_unused]] const auto& entry :
       fs::directory_iterator("/proc/self/fd")) {
    ++count;
  }
  return count;
}

// One run as the trainer records it: run, params, plugins, batched
// metrics, per-class values, checkpoints, end.
void recordRun(RunStore& store, const std::string& name) {
  store.setBatchRows(kBatch);
  RunInfo info;
  info.name = name;
  info.spec_yaml = "name: " + name + "\n";
  info.spec_hash = std::string(64, '0');
  const std::string run = store.createRun(info);
  store.addParams(
      run, {{"optim.lr", "float", "0.01"}, {"train.epochs", "int", "2"}});
  store.addPlugins(run, {{"fc", "head", "1", "/p/libfc.so", "ab"}});
  for (int step = 1; step <= kSteps; ++step) {
    store.logMetric(run, {"train/loss", step, 1 + step / 13, 1.0 / step, 1});
    if (step % 12 == 0) {
      store.addClassMetrics(run, {{step / 12, "AP", 0, "a", 0.5, 3},
                                  {step / 12, "AP", 1, "b", {}, 0}});
      store.addCheckpoint(run, {step, step / 12, "/c/" + std::to_string(step),
                                10, "ff", 0.5, step == 24});
    }
  }
  store.finishRun(run, "FINISHED", "");
}

// Two runs, the second after reopening: faults during the second must not
// touch what the first recorded.
void recordTwoRuns(const std::string& path) {
  recordRun(*RunStore::open(path), "first");
  recordRun(*RunStore::open(path), "second");
}

std::string scalar(const RunStore& store, const std::string& sql) {
  const auto table = store.query(sql);
  return table.rows.empty() || !table.rows[0][0] ? "<none>" : *table.rows[0][0];
}

// What must hold after any fault, on a store reopened without faults.
void expectConsistent(const std::string& path, bool succeeded) {
  if (!fs::exists(path)) return;  // failed before creating the file
  auto store = RunStore::open(path);
  EXPECT_EQ(scalar(*store, "PRAGMA integrity_check"), "ok");
  EXPECT_EQ(scalar(*store,
                   "SELECT COUNT(*) FROM (SELECT 1 FROM metrics "
                   "GROUP BY run, key, step HAVING COUNT(*) > 1)"),
            "0");
  // Steps are logged in order, so what a run kept is steps 1..k: a batch
  // is all there or not at all.
  EXPECT_EQ(scalar(*store,
                   "SELECT COUNT(*) FROM (SELECT run FROM metrics GROUP BY run "
                   "HAVING COUNT(*) != MAX(step) OR MIN(step) != 1)"),
            "0");
  // A finished run has everything it recorded.
  const auto finished = store->query(
      "SELECT name, (SELECT COUNT(*) FROM metrics m WHERE m.run = r.uuid), "
      "(SELECT COUNT(*) FROM checkpoints c WHERE c.run = r.uuid), "
      "(SELECT COUNT(*) FROM params p WHERE p.run = r.uuid) "
      "FROM runs r WHERE status = 'FINISHED' ORDER BY started_at");
  for (const auto& row : finished.rows) {
    SCOPED_TRACE(*row[0]);
    EXPECT_EQ(*row[1], std::to_string(kSteps));
    EXPECT_EQ(*row[2], "2");
    EXPECT_EQ(*row[3], "2");
  }
  const std::string first =
      scalar(*store, "SELECT status FROM runs WHERE name = 'first'");
  if (succeeded) {
    EXPECT_EQ(finished.rows.size(), 2u);
  } else if (scalar(*store,
                    "SELECT COUNT(*) FROM runs WHERE name = "
                    "'second'") != "0") {
    // The second run started, so the first had finished.
    EXPECT_EQ(first, "FINISHED");
  }
}

class StoreFaultTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // In memory where there is a tmpfs: the fsyncs of ~500 scenarios would
    // take a minute on a disk, and the faults are injected above the disk.
    const fs::path base =
        fs::is_directory("/dev/shm") ? "/dev/shm" : fs::temp_directory_path();
    std::string tmpl = (base / "labrun_fault_XXXXXX").string();
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { fs::remove_all(dir_); }

  struct Faulty {
    std::int64_t calls = 0;   // write-side calls the scenario made
    std::int64_t failed = 0;  // of which were made to fail
  };

  // Runs the two-run scenario with the n-th write-side call failing.
  Faulty runWithFault(std::int64_t n, int error, bool persistent) {
    const std::string path = (dir_ / std::to_string(n) / "runs.db").string();
    const std::size_t descriptors = openDescriptors();
    vfs_.arm(n, error, persistent);
    bool succeeded = true;
    try {
      recordTwoRuns(path);
    } catch (const StoreError&) {
      succeeded = false;
    }
    const Faulty faulty{vfs_.calls(), vfs_.failures()};
    vfs_.disarm();
    EXPECT_EQ(openDescriptors(), descriptors);
    expectConsistent(path, succeeded);
    fs::remove_all(fs::path(path).parent_path());
    return faulty;
  }

  fs::path dir_;
  test::FaultVfs vfs_;
};

// Every write-side call of the scenario, failed in turn, twice over.
TEST_F(StoreFaultTest, EveryWriteFailureIsCleanAndLosesNothing) {
  vfs_.arm(0, SQLITE_OK, false);
  recordTwoRuns((dir_ / "count" / "runs.db").string());
  const std::int64_t calls = vfs_.calls();
  ASSERT_GT(calls, 20) << "the scenario should write and sync many times";
  std::int64_t injected = 0, scenarios = 0;
  for (std::int64_t n = 1; n <= calls; ++n) {
    SCOPED_TRACE("write-side call " + std::to_string(n) + " of " +
                 std::to_string(calls));
    // A flush refreshes the heartbeat at most once a second, so a stalled
    // scenario writes once more than the counting one, a quicker one once
    // less: a call the scenario did not reach cannot fail.
    const Faulty transient = runWithFault(n, SQLITE_IOERR_WRITE, false);
    const Faulty full = runWithFault(n, SQLITE_FULL, true);
    EXPECT_EQ(transient.failed, transient.calls >= n ? 1 : 0);
    EXPECT_GE(full.failed, full.calls >= n ? 1 : 0);
    injected += transient.failed + full.failed;
    scenarios += 2;
    if (HasFailure()) break;  // one scenario's report is enough
  }
  std::printf(
      "[ faults ] %lld write-side calls; %lld faulty runs, %lld failed "
      "calls\n",
      static_cast<long long>(calls), static_cast<long long>(scenarios),
      static_cast<long long>(injected));
}

}  // namespace
}  // namespace labrun::store
