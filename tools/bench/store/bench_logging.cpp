// What recording into the run store costs a training step
// (docs/BENCHMARKS.md, "Store logging"): trains SPEC --runs times as
// `labrun run` does (Experiment::run: the store recorder, the heartbeat
// thread, checkpoints as the spec asks) into a fresh store, and reports per
// run the time the training thread spent inside the store (metric,
// per-class and checkpoint rows, flushes: RunOutcome::recording_seconds)
// per optimizer step, against the step's own time (batch size over the
// recorded train/images_per_s, mean over epochs). The heartbeat's thread
// beats every 10 s; one beat is timed apart (median of 200) and its share
// of a step added.
//   bench_store_logging --plugins DIR --db FILE [--runs 3] SPEC [OVERRIDES...]
#include <fmt/format.h>
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "plugins/PluginHost.h"
#include "store/RunStore.h"
#include "train/Experiment.h"

namespace {

using labrun::store::RunStore;

double scalar(RunStore& store, const std::string& sql, const std::string& run) {
  const auto table = store.query(sql, {run});
  return std::stod(*table.rows.at(0).at(0));
}

// Median seconds of one heartbeat UPDATE on its own connection.
double heartbeatSeconds(const std::string& db, const std::string& run) {
  auto store = RunStore::open(db);
  std::vector<double> times;
  for (int i = 0; i < 200; ++i) {
    const auto start = std::chrono::steady_clock::now();
    store->heartbeat(run);
    times.push_back(
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
            .count());
  }
  std::nth_element(times.begin(), times.begin() + 100, times.end());
  return times[100];
}

}  // namespace

int main(int argc, char** argv) {
  std::string plugin_dir, db, spec;
  int runs = 3;
  std::vector<std::string> overrides;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--plugins" && i + 1 < argc) {
      plugin_dir = argv[++i];
    } else if (arg == "--db" && i + 1 < argc) {
      db = argv[++i];
    } else if (arg == "--runs" && i + 1 < argc) {
      runs = std::stoi(argv[++i]);
    } else if (spec.empty()) {
      spec = arg;
    } else {
      overrides.push_back(arg);
    }
  }
  if (plugin_dir.empty() || db.empty() || spec.empty()) {
    std::cerr << "usage: bench_store_logging --plugins DIR --db FILE "
                 "[--runs N] SPEC [OVERRIDES...]\n";
    return 2;
  }
  std::filesystem::remove(db);
  labrun::plugins::PluginHost host;
  host.loadDirectories({plugin_dir});
  auto store = RunStore::open(db);
  std::string last_run;
  fmt::print("{:>4} {:>7} {:>12} {:>16} {:>8}\n", "run", "steps", "step (ms)",
             "recording (ms)", "share");
  for (int r = 1; r <= runs; ++r) {
    labrun::train::Experiment experiment(
        labrun::train::resolveSpec(spec, overrides, host.schemaLookup()), host,
        db);
    labrun::train::RunControls controls;
    controls.db_path = db;
    controls.quiet = true;
    std::ostringstream log;
    const auto outcome = experiment.run(*store, controls, log);
    if (outcome.status != "FINISHED") {
      std::cerr << "run " << outcome.uuid << ": " << outcome.status << " "
                << outcome.error << "\n";
      return 1;
    }
    const double steps = scalar(
        *store,
        "SELECT max(step) FROM metrics WHERE run = ?1 AND key = 'train/loss'",
        outcome.uuid);
    const double images_per_s =
        scalar(*store,
               "SELECT avg(value) FROM metrics WHERE run = ?1 AND key = "
               "'train/images_per_s'",
               outcome.uuid);
    const double step_s =
        static_cast<double>(experiment.options().batch_size) / images_per_s;
    const double recording_s = outcome.recording_seconds / steps;
    fmt::print("{:>4} {:>7} {:>12.2f} {:>16.4f} {:>7.3f}%\n", r, steps,
               1e3 * step_s, 1e3 * recording_s, 100 * recording_s / step_s);
    last_run = outcome.uuid;
    if (r == runs) {
      const double beat = heartbeatSeconds(db, last_run);
      fmt::print(
          "heartbeat: {:.4f} ms a beat, every 10 s: {:.5f}% of the time\n",
          1e3 * beat, 100 * beat / 10.0);
    }
  }
  return 0;
}
