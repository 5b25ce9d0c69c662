// What differs between recorded runs: parameters, validation metrics (best
// and last) and per-class AP (every map instance) with deltas against the
// first run. Read from the run store; shared by `labrun compare`, `sweep`
// and `report`.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "store/RunStore.h"

namespace labrun::cli {

struct ComparedRun {
  std::string uuid;
  std::string label;  // the first 8 characters of the uuid
  std::string name;
  std::string status;  // as run_summary shows it (CRASHED included)
};

struct ParamDiff {
  std::string key;
  // Per run: the value as text ("null" for a null value), or nullopt when
  // the run has no such key.
  std::vector<std::optional<std::string>> values;
};

struct MetricStats {
  std::string key;  // e.g. "val/mAP"
  // Per run. Best is the highest value, or the lowest for a key ending in
  // "loss"; last is the value at the highest step.
  std::vector<std::optional<double>> best;
  std::vector<std::optional<double>> last;
};

struct ClassDiff {
  std::string metric;            // "AP", or an instance's "AP@ap=sklearn"
  std::int64_t class_index = 0;  // in the first run that has the class
  std::string class_name;
  std::vector<std::optional<double>> ap;  // per run; nullopt: undefined
  // Largest |ap[r] - ap[0]| over the runs where both are defined; nullopt
  // when there is no such pair.
  std::optional<double> max_abs_delta;
};

struct Comparison {
  std::vector<ComparedRun> runs;
  std::vector<ParamDiff> params;     // keys whose values differ, by key
  std::vector<MetricStats> metrics;  // val/mAP first, then other val/* keys
  // Per run: the last epoch with per-class AP (nullopt: none recorded).
  std::vector<std::optional<std::int64_t>> ap_epochs;
  // Per-class AP of every map instance, each at the last epoch the run
  // recorded it; classes matched by instance and name. Grouped by instance
  // ("AP" first), then largest max_abs_delta first, then by index.
  std::vector<ClassDiff> classes;
};

// The runs to compare: `refs` resolved by RunStore::resolveRun, or the runs
// of `sweep` in start order. StoreError when both or neither are given, or
// the sweep has no runs.
std::vector<std::string> selectRuns(const store::RunStore& store,
                                    const std::vector<std::string>& refs,
                                    const std::string& sweep);

Comparison compareRuns(const store::RunStore& store,
                       const std::vector<std::string>& uuids);

// b - a when both are defined.
std::optional<double> delta(const std::optional<double>& a,
                            const std::optional<double>& b);

// For tables: "63.4", or "63.4 (+2.17)" with the delta against `base` when
// both are defined; "-" when `value` is undefined.
std::string formatValue(const std::optional<double>& value,
                        const std::optional<double>& base = std::nullopt);

}  // namespace labrun::cli
