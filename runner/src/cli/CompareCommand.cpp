#include "cli/CompareCommand.h"

#include <fmt/format.h>

#include <CLI/CLI.hpp>
#include <iostream>
#include <map>

#include "cli/CommandFlags.h"
#include "cli/StoreAccess.h"
#include "store/RunStore.h"

namespace labrun::cli {
namespace {

using Cells = std::vector<std::optional<std::string>>;

// One row: the leading cells, then a value per run; with deltas (against
// run 0) inline in text ("63.4 (+2.17)") or, in CSV, at full precision in
// trailing columns.
Cells valueRow(Cells row, const std::vector<std::optional<double>>& values,
               bool csv) {
  auto exact = [](const std::optional<double>& value) {
    return value ? std::optional(fmt::format("{}", *value)) : std::nullopt;
  };
  Cells deltas;
  for (std::size_t r = 0; r < values.size(); ++r) {
    const std::optional<double> base =
        r > 0 ? values[0] : std::optional<double>();
    if (csv) {
      row.push_back(exact(values[r]));
      if (r > 0) deltas.push_back(exact(delta(base, values[r])));
    } else {
      row.push_back(formatValue(values[r], base));
    }
  }
  row.insert(row.end(), deltas.begin(), deltas.end());
  return row;
}

std::string epochText(const std::optional<std::int64_t>& epoch) {
  return epoch ? std::to_string(*epoch) : "-";
}

void printText(const Comparison& c, std::ostream& out) {
  const std::size_t n = c.runs.size();
  TextTable runs{{"run", "name", "status", "uuid", "AP epoch"}, {}, {}};
  for (std::size_t r = 0; r < n; ++r) {
    const ComparedRun& run = c.runs[r];
    runs.rows.push_back(
        {run.label, run.name, run.status, run.uuid, epochText(c.ap_epochs[r])});
  }
  out << "runs\n";
  printTable(runs, TableFormat::kText, out);

  std::vector<std::string> labels;
  for (const ComparedRun& run : c.runs) labels.push_back(run.label);
  auto section = [&](const std::string& title, std::vector<std::string> head,
                     std::vector<Cells> rows) {
    out << "\n" << title << "\n";
    if (rows.empty()) {
      out << "(none)\n";
      return;
    }
    head.insert(head.end(), labels.begin(), labels.end());
    printTable({std::move(head), std::move(rows), {}}, TableFormat::kText, out);
  };

  std::vector<Cells> params;
  for (const ParamDiff& diff : c.params) {
    Cells row{diff.key};
    for (const auto& value : diff.values) {
      row.push_back(value.value_or("(unset)"));
    }
    params.push_back(std::move(row));
  }
  section("parameters that differ", {"key"}, std::move(params));

  const std::string against =
      n > 1 ? " (delta against " + c.runs[0].label + ")" : "";
  std::vector<Cells> metrics;
  for (const MetricStats& stats : c.metrics) {
    metrics.push_back(valueRow({stats.key, "best"}, stats.best, false));
    metrics.push_back(valueRow({stats.key, "last"}, stats.last, false));
  }
  section("validation metrics" + against, {"key", "stat"}, std::move(metrics));

  // One table per map instance; "AP" even when none was recorded.
  std::map<std::string, std::vector<Cells>> classes{{"AP", {}}};
  for (const ClassDiff& diff : c.classes) {
    classes[diff.metric].push_back(valueRow(
        {std::to_string(diff.class_index), diff.class_name}, diff.ap, false));
  }
  for (auto& [metric, rows] : classes) {
    section("per-class " + metric + " at the last evaluated epoch" + against +
                (n > 1 ? ", largest change first" : ""),
            {"index", "class"}, std::move(rows));
  }
}

void printCsv(const Comparison& c, std::ostream& out) {
  TextTable table{{"section", "key", "stat"}, {}, {}};
  for (const ComparedRun& run : c.runs) table.columns.push_back(run.uuid);
  for (std::size_t r = 1; r < c.runs.size(); ++r) {
    table.columns.push_back("delta_" + c.runs[r].uuid);
  }
  const std::size_t deltas = c.runs.empty() ? 0 : c.runs.size() - 1;
  auto textRow = [&](Cells row, const Cells& values) {
    row.insert(row.end(), values.begin(), values.end());
    row.resize(row.size() + deltas);
    table.rows.push_back(std::move(row));
  };
  Cells names, statuses, epochs;
  for (std::size_t r = 0; r < c.runs.size(); ++r) {
    names.push_back(c.runs[r].name);
    statuses.push_back(c.runs[r].status);
    epochs.push_back(c.ap_epochs[r]
                         ? std::optional(std::to_string(*c.ap_epochs[r]))
                         : std::nullopt);
  }
  textRow({"run", "name", ""}, names);
  textRow({"run", "status", ""}, statuses);
  textRow({"run", "ap_epoch", ""}, epochs);
  for (const ParamDiff& diff : c.params) {
    textRow({"param", diff.key, ""}, diff.values);
  }
  for (const MetricStats& stats : c.metrics) {
    table.rows.push_back(
        valueRow({"metric", stats.key, "best"}, stats.best, true));
    table.rows.push_back(
        valueRow({"metric", stats.key, "last"}, stats.last, true));
  }
  for (const ClassDiff& diff : c.classes) {
    // "class_ap" for the plain instance, "class_ap@ap=sklearn" for others.
    table.rows.push_back(
        valueRow({"class_ap" + diff.metric.substr(2), diff.class_name,
                  std::to_string(diff.class_index)},
                 diff.ap, true));
  }
  printTable(table, TableFormat::kCsv, out);
}

}  // namespace

void printComparison(const Comparison& comparison, bool csv,
                     std::ostream& out) {
  csv ? printCsv(comparison, out) : printText(comparison, out);
}

namespace {

class CompareCommand : public Command {
 public:
  CLI::App* add(CLI::App& app) override {
    auto* compare = app.add_subcommand(
        "compare",
        "Runs side by side: parameters that differ, validation metrics, "
        "per-class AP with deltas against the first run");
    addRunsOrSweep(compare, runs_, sweep_);
    compare->add_flag("--csv", csv_, "Print one CSV table");
    return compare;
  }

  int run(const GlobalOptions& global) override {
    const auto store = openExistingStore(global);
    printComparison(compareRuns(*store, selectRuns(*store, runs_, sweep_)),
                    csv_, std::cout);
    return kOk;
  }

 private:
  std::vector<std::string> runs_;  // run references
  std::string sweep_;              // or a sweep id
  bool csv_ = false;
};

}  // namespace

LABRUN_COMMAND(CompareCommand, "compare", 60)

}  // namespace labrun::cli
