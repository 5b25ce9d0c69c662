#include "cli/RunComparison.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <map>

#include "store/HeadlineMetric.h"
namespace labrun::cli {
namespace {

bool lowerIsBetter(const std::string& key) {
  const std::string suffix = "loss";
  return key.size() >= suffix.size() &&
         key.compare(key.size() - suffix.size(), suffix.size(), suffix) == 0;
}

ComparedRun loadRun(const store::RunStore& store, const std::string& uuid) {
  auto header = store.runHeader(uuid);
  return {header.uuid, header.uuid.substr(0, 8), std::move(header.name),
          std::move(header.status)};
}

void addParams(const store::RunStore& store, Comparison& out) {
  const std::size_t n = out.runs.size();
  std::map<std::string, std::vector<std::optional<std::string>>> by_key;
  for (std::size_t r = 0; r < n; ++r) {
    for (auto& [key, value] : store.params(out.runs[r].uuid)) {
      auto& values = by_key[key];
      values.resize(n);
      values[r] = std::move(value);
    }
  }
  for (auto& [key, values] : by_key) {
    if (std::adjacent_find(values.begin(), values.end(),
                           std::not_equal_to<>()) != values.end()) {
      out.params.push_back({key, std::move(values)});
    }
  }
}

void addMetrics(const store::RunStore& store, Comparison& out) {
  const std::size_t n = out.runs.size();
  std::map<std::string, MetricStats> by_key;
  for (std::size_t r = 0; r < n; ++r) {
    for (const auto& range : store.validationMetrics(out.runs[r].uuid)) {
      MetricStats& stats = by_key[range.key];
      stats.key = range.key;
      stats.best.resize(n);
      stats.last.resize(n);
      stats.best[r] = lowerIsBetter(stats.key) ? range.min : range.max;
      stats.last[r] = range.last;
    }
  }
  if (auto main = by_key.find(store::kHeadlineMetric); main != by_key.end()) {
    out.metrics.push_back(std::move(main->second));
    by_key.erase(main);
  }
  for (auto& [key, stats] : by_key) out.metrics.push_back(std::move(stats));
}

void addClassAp(const store::RunStore& store, Comparison& out) {
  const std::size_t n = out.runs.size();
  std::map<std::pair<std::string, std::string>, ClassDiff> by_key;
  out.ap_epochs.assign(n, std::nullopt);
  for (std::size_t r = 0; r < n; ++r) {
    for (const auto& row : store.lastClassAp(out.runs[r].uuid)) {
      out.ap_epochs[r] =
          std::max(out.ap_epochs[r].value_or(row.epoch), row.epoch);
      auto [it, fresh] = by_key.try_emplace({row.metric, row.class_name});
      ClassDiff& diff = it->second;
      if (fresh) {
        diff.metric = row.metric;
        diff.class_index = row.class_index;
        diff.class_name = row.class_name;
        diff.ap.resize(n);
      }
      diff.ap[r] = row.value;
    }
  }
  for (auto& [key, diff] : by_key) {
    for (std::size_t r = 1; r < n; ++r) {
      if (const auto d = delta(diff.ap[0], diff.ap[r])) {
        diff.max_abs_delta =
            std::max(diff.max_abs_delta.value_or(0.0), std::abs(*d));
      }
    }
    out.classes.push_back(std::move(diff));
  }
  // "AP" sorts before "AP@...": the plain instance comes first.
  std::sort(out.classes.begin(), out.classes.end(),
            [](const ClassDiff& a, const ClassDiff& b) {
              if (a.metric != b.metric) return a.metric < b.metric;
              const double da = a.max_abs_delta.value_or(-1);
              const double db = b.max_abs_delta.value_or(-1);
              return da != db ? da > db : a.class_index < b.class_index;
            });
}

}  // namespace

std::vector<std::string> selectRuns(const store::RunStore& store,
                                    const std::vector<std::string>& refs,
                                    const std::string& sweep) {
  // Both at once is refused with the command line (addRunsOrSweep).
  if (refs.empty() && sweep.empty()) {
    throw store::StoreError(
        "name the runs (uuid, uuid prefix or name) or pass --sweep ID");
  }
  std::vector<std::string> uuids;
  for (const std::string& ref : refs) uuids.push_back(store.resolveRun(ref));
  if (!sweep.empty()) uuids = store.sweepRuns(sweep);
  if (uuids.empty()) {
    throw store::StoreError("run store '" + store.path() +
                            "': no runs in sweep '" + sweep + "'");
  }
  return uuids;
}

Comparison compareRuns(const store::RunStore& store,
                       const std::vector<std::string>& uuids) {
  Comparison out;
  for (const std::string& uuid : uuids)
    out.runs.push_back(loadRun(store, uuid));
  addParams(store, out);
  addMetrics(store, out);
  addClassAp(store, out);
  return out;
}

std::optional<double> delta(const std::optional<double>& a,
                            const std::optional<double>& b) {
  if (!a || !b) return std::nullopt;
  return *b - *a;
}

std::string formatValue(const std::optional<double>& value,
                        const std::optional<double>& base) {
  if (!value) return "-";
  const auto d = delta(base, value);
  return d ? fmt::format("{:.4g} ({:+.3g})", *value, *d)
           : fmt::format("{:.4g}", *value);
}

}  // namespace labrun::cli
