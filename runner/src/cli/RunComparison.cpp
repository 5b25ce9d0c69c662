#include "cli/RunComparison.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <map>

namespace labrun::cli {
namespace {

constexpr const char* kMainMetric = "val/mAP";

std::optional<double> number(const std::optional<std::string>& cell) {
  if (!cell) return std::nullopt;
  return std::stod(*cell);
}

bool lowerIsBetter(const std::string& key) {
  const std::string suffix = "loss";
  return key.size() >= suffix.size() &&
         key.compare(key.size() - suffix.size(), suffix.size(), suffix) == 0;
}

ComparedRun loadRun(const store::RunStore& store, const std::string& uuid) {
  const auto row = store.query(
      "SELECT uuid, name, status FROM run_summary WHERE uuid = ?1", {uuid});
  if (row.rows.empty()) {
    throw store::StoreError("run store '" + store.path() + "': no run '" +
                            uuid + "'");
  }
  return {*row.rows[0][0], row.rows[0][0]->substr(0, 8), *row.rows[0][1],
          *row.rows[0][2]};
}

void addParams(const store::RunStore& store, Comparison& out) {
  const std::size_t n = out.runs.size();
  std::map<std::string, std::vector<std::optional<std::string>>> by_key;
  for (std::size_t r = 0; r < n; ++r) {
    const auto table = store.query(
        "SELECT key, value FROM params WHERE run = ?1", {out.runs[r].uuid});
    for (const auto& row : table.rows) {
      auto& values = by_key[*row[0]];
      values.resize(n);
      values[r] = row[1].value_or("null");
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
    const auto table = store.query(
        "SELECT key, max(value), min(value), "
        "(SELECT value FROM metrics m2 WHERE m2.run = m.run AND "
        "m2.key = m.key ORDER BY step DESC, rowid DESC LIMIT 1) "
        "FROM metrics m WHERE run = ?1 AND substr(key, 1, 4) = 'val/' "
        "GROUP BY key",
        {out.runs[r].uuid});
    for (const auto& row : table.rows) {
      MetricStats& stats = by_key[*row[0]];
      stats.key = *row[0];
      stats.best.resize(n);
      stats.last.resize(n);
      stats.best[r] = number(lowerIsBetter(stats.key) ? row[2] : row[1]);
      stats.last[r] = number(row[3]);
    }
  }
  if (auto main = by_key.find(kMainMetric); main != by_key.end()) {
    out.metrics.push_back(std::move(main->second));
    by_key.erase(main);
  }
  for (auto& [key, stats] : by_key) out.metrics.push_back(std::move(stats));
}

void addClassAp(const store::RunStore& store, Comparison& out) {
  const std::size_t n = out.runs.size();
  std::map<std::string, ClassDiff> by_name;
  out.ap_epochs.assign(n, std::nullopt);
  for (std::size_t r = 0; r < n; ++r) {
    const auto table = store.query(
        "SELECT epoch, class_index, class_name, value FROM class_metrics "
        "WHERE run = ?1 AND metric = 'AP' AND epoch = (SELECT max(epoch) "
        "FROM class_metrics WHERE run = ?1 AND metric = 'AP') "
        "ORDER BY class_index",
        {out.runs[r].uuid});
    for (const auto& row : table.rows) {
      out.ap_epochs[r] = std::stoll(*row[0]);
      auto [it, fresh] = by_name.try_emplace(*row[2]);
      ClassDiff& diff = it->second;
      if (fresh) {
        diff.class_index = std::stoll(*row[1]);
        diff.class_name = *row[2];
        diff.ap.resize(n);
      }
      diff.ap[r] = number(row[3]);
    }
  }
  for (auto& [name, diff] : by_name) {
    for (std::size_t r = 1; r < n; ++r) {
      if (const auto d = delta(diff.ap[0], diff.ap[r])) {
        diff.max_abs_delta =
            std::max(diff.max_abs_delta.value_or(0.0), std::abs(*d));
      }
    }
    out.classes.push_back(std::move(diff));
  }
  std::sort(out.classes.begin(), out.classes.end(),
            [](const ClassDiff& a, const ClassDiff& b) {
              const double da = a.max_abs_delta.value_or(-1);
              const double db = b.max_abs_delta.value_or(-1);
              return da != db ? da > db : a.class_index < b.class_index;
            });
}

}  // namespace

std::vector<std::string> selectRuns(const store::RunStore& store,
                                    const std::vector<std::string>& refs,
                                    const std::string& sweep) {
  if (refs.empty() == sweep.empty()) {
    throw store::StoreError(
        "name the runs to compare (uuid, uuid prefix or name) or pass "
        "--sweep ID, not both");
  }
  std::vector<std::string> uuids;
  for (const std::string& ref : refs) uuids.push_back(store.resolveRun(ref));
  if (sweep.empty()) return uuids;
  const auto table = store.query(
      "SELECT uuid FROM runs WHERE sweep = ?1 ORDER BY started_at, rowid",
      {sweep});
  for (const auto& row : table.rows) uuids.push_back(*row[0]);
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
