// `labrun report`: one self-contained HTML page on recorded runs (curves,
// per-class AP, differing hyperparameters, provenance).
#include <fmt/format.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <fstream>
#include <iostream>
#include <map>

#include "cli/CommandFlags.h"
#include "cli/OutputFiles.h"
#include "cli/ReportHtml.h"
#include "cli/RunComparison.h"
#include "cli/StoreAccess.h"
#include "store/HeadlineMetric.h"
#include "store/RunStore.h"

namespace labrun::cli {
namespace {

constexpr auto kStep = store::RunStore::Axis::kStep;
constexpr auto kEpoch = store::RunStore::Axis::kEpoch;

struct ReportArgs {
  std::vector<std::string> runs;  // run references
  std::string sweep;              // or a sweep id
  std::string output = "report.html";
};

LineChart curve(const store::RunStore& store, const Comparison& c,
                const std::string& title, const std::string& key,
                store::RunStore::Axis x) {
  const bool epochs = x == kEpoch;
  LineChart chart{title, epochs ? "epoch" : "step", key, epochs, {}};
  for (const ComparedRun& run : c.runs) {
    chart.series.push_back(
        {run.label + " " + run.name, store.metricSeries(run.uuid, key, x)});
  }
  return chart;
}

// Training loss per logged step, then per epoch when some run has it.
std::vector<LineChart> lossCurves(const store::RunStore& store,
                                  const Comparison& c) {
  LineChart steps =
      curve(store, c, "Training loss per logged step", "train/loss", kStep);
  steps.markers = false;  // thousands of points: the line is the reading
  std::vector<LineChart> out{std::move(steps)};
  LineChart epochs =
      curve(store, c, "Training loss per epoch", "train/epoch_loss", kEpoch);
  if (std::any_of(epochs.series.begin(), epochs.series.end(),
                  [](const ChartSeries& s) { return !s.points.empty(); })) {
    out.push_back(std::move(epochs));
  }
  return out;
}

// One chart per mAP instance (val/mAP, val/mAP@ap=sklearn, ...).
std::vector<LineChart> mapCurves(const store::RunStore& store,
                                 const Comparison& c) {
  std::vector<LineChart> out;
  for (const MetricStats& stats : c.metrics) {
    if (stats.key == store::kHeadlineMetric ||
        stats.key.rfind(std::string(store::kHeadlineMetric) + "@", 0) == 0) {
      out.push_back(curve(store, c, "Validation " + stats.key + " per epoch",
                          stats.key, kEpoch));
    }
  }
  // Runs without validation still get an (empty) mAP chart.
  if (out.empty()) {
    const std::string key = store::kHeadlineMetric;
    out.push_back(
        curve(store, c, "Validation " + key + " per epoch", key, kEpoch));
  }
  return out;
}

// One chart per map instance ("AP" first), classes in index order.
std::vector<BarChart> classApCharts(const Comparison& c) {
  std::map<std::string, std::vector<const ClassDiff*>> by_metric;
  for (const ClassDiff& diff : c.classes) {
    by_metric[diff.metric].push_back(&diff);
  }
  std::vector<BarChart> charts;
  for (auto& [metric, classes] : by_metric) {
    std::sort(classes.begin(), classes.end(),
              [](const ClassDiff* a, const ClassDiff* b) {
                return a->class_index < b->class_index;
              });
    BarChart chart{
        metric + " per class at the last evaluated epoch", metric, {}, {}, {}};
    for (const ComparedRun& run : c.runs) {
      chart.legend.push_back(run.label + " " + run.name);
    }
    for (const ClassDiff* diff : classes) {
      chart.groups.push_back(diff->class_name);
      chart.values.push_back(diff->ap);
    }
    charts.push_back(std::move(chart));
  }
  return charts;
}

HtmlTable runsTable(const Comparison& c) {
  HtmlTable table{{"run", "name", "status", "uuid", "AP epoch"}, {}, 0};
  for (std::size_t r = 0; r < c.runs.size(); ++r) {
    const ComparedRun& run = c.runs[r];
    table.rows.push_back(
        {run.label, run.name, run.status, run.uuid,
         c.ap_epochs[r] ? std::to_string(*c.ap_epochs[r]) : "-"});
  }
  return table;
}

std::vector<std::string> labels(const Comparison& c) {
  std::vector<std::string> out;
  for (const ComparedRun& run : c.runs) out.push_back(run.label);
  return out;
}

HtmlTable metricsTable(const Comparison& c) {
  HtmlTable table{{"key", "stat"}, {}, -1};
  const auto run_labels = labels(c);
  table.header.insert(table.header.end(), run_labels.begin(), run_labels.end());
  for (const MetricStats& stats : c.metrics) {
    for (const auto& [stat, values] :
         {std::pair{"best", &stats.best}, std::pair{"last", &stats.last}}) {
      std::vector<std::string> row{stats.key, stat};
      for (std::size_t r = 0; r < values->size(); ++r) {
        row.push_back(
            formatValue((*values)[r], r > 0 ? (*values)[0] : std::nullopt));
      }
      table.rows.push_back(std::move(row));
    }
  }
  return table;
}

HtmlTable paramsTable(const Comparison& c) {
  HtmlTable table{{"key"}, {}, -1};
  const auto run_labels = labels(c);
  table.header.insert(table.header.end(), run_labels.begin(), run_labels.end());
  for (const ParamDiff& diff : c.params) {
    std::vector<std::string> row{diff.key};
    for (const auto& value : diff.values)
      row.push_back(value.value_or("(unset)"));
    table.rows.push_back(std::move(row));
  }
  return table;
}

RunProvenance provenance(const store::RunStore& store, const ComparedRun& run) {
  RunProvenance out{run.label + " " + run.name,
                    {{"fact", "value"}, {}, -1},
                    {{"kind", "plugin", "version", "sha256", "file"}, {}, -1}};
  const auto facts = store.runProvenance(run.uuid);
  for (std::size_t c = 0; c < facts.columns.size(); ++c) {
    out.facts.rows.push_back(
        {facts.columns[c], facts.rows.at(0)[c].value_or("-")});
  }
  const auto plugins = store.runPlugins(run.uuid);
  for (const auto& row : plugins.rows) {
    std::vector<std::string> cells;
    for (const auto& cell : row) cells.push_back(cell.value_or(""));
    out.plugins.rows.push_back(std::move(cells));
  }
  return out;
}

std::string utcNow() {
  const std::time_t now = std::time(nullptr);
  std::tm utc{};
  ::gmtime_r(&now, &utc);
  char text[32];
  std::strftime(text, sizeof(text), "%Y-%m-%d %H:%M UTC", &utc);
  return text;
}

// The page for runs `uuids`, in that order.
ReportPage buildReport(const store::RunStore& store,
                       const std::vector<std::string>& uuids,
                       const std::string& title) {
  const Comparison c = compareRuns(store, uuids);
  ReportPage page;
  page.title = title;
  page.generated = utcNow();
  page.runs = runsTable(c);
  page.curves = lossCurves(store, c);
  for (LineChart& chart : mapCurves(store, c)) {
    page.curves.push_back(std::move(chart));
  }
  page.class_ap = classApCharts(c);
  page.metrics = metricsTable(c);
  page.params = paramsTable(c);
  for (const ComparedRun& run : c.runs) {
    page.provenance.push_back(provenance(store, run));
  }
  return page;
}

int writeReport(const GlobalOptions& global, const ReportArgs& args) {
  checkOutputFiles(global, "report -o", {args.output}, /*inputs=*/{});
  const auto store = openExistingStore(global);
  const auto uuids = selectRuns(*store, args.runs, args.sweep);
  const std::string title =
      !args.sweep.empty()
          ? "labrun report: sweep " + args.sweep
          : fmt::format("labrun report: {} run(s)", uuids.size());
  const std::string html = renderReport(buildReport(*store, uuids, title));
  std::ofstream out(args.output, std::ios::binary);
  out << html;
  out.close();
  if (!out) {
    throw std::runtime_error(fmt::format("report: cannot write {}: {}",
                                         args.output, std::strerror(errno)));
  }
  std::cout << fmt::format("report of {} run(s) written to {}\n", uuids.size(),
                           args.output);
  return kOk;
}

class ReportCommand : public Command {
 public:
  CLI::App* add(CLI::App& app) override {
    auto* report = app.add_subcommand(
        "report",
        "Write one self-contained HTML page on runs: curves, per-class AP, "
        "differing hyperparameters, provenance");
    addRunsOrSweep(report, args_.runs, args_.sweep);
    report->add_option("--output,-o", args_.output, "HTML file to write")
        ->capture_default_str()
        ->check(outputFile(/*standard_output=*/false));
    return report;
  }

  int run(const GlobalOptions& global) override {
    return writeReport(global, args_);
  }

 private:
  ReportArgs args_;
};

}  // namespace

LABRUN_COMMAND(ReportCommand, "report", 80)

}  // namespace labrun::cli
