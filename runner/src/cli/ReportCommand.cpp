// `labrun report`: one self-contained HTML page on recorded runs (curves,
// per-class AP, differing hyperparameters, provenance).
#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <fstream>
#include <iostream>

#include <CLI/CLI.hpp>

#include "cli/CommandFlags.h"
#include "cli/ReportHtml.h"
#include "cli/RunComparison.h"
#include "cli/StoreAccess.h"
#include "store/RunStore.h"

namespace labrun::cli {
namespace {

struct ReportArgs {
  std::vector<std::string> runs;  // run references
  std::string sweep;              // or a sweep id
  std::string output = "report.html";
};

// (x, value) of `key` for one run, in step order; x is the column "epoch" or
// "step" (a constant of this file, never user input). NaN (stored as NULL)
// points are left out.
std::vector<std::pair<double, double>> series(const store::RunStore& store,
                                              const std::string& uuid,
                                              const std::string& key,
                                              const std::string& x) {
  const auto table =
      store.query("SELECT " + x +
                      ", value FROM metrics WHERE run = ?1 AND key = ?2 "
                      "AND value IS NOT NULL ORDER BY step, rowid",
                  {uuid, key});
  std::vector<std::pair<double, double>> points;
  for (const auto& row : table.rows) {
    points.emplace_back(std::stod(*row[0]), std::stod(*row[1]));
  }
  return points;
}

LineChart curve(const store::RunStore& store, const Comparison& c,
                const std::string& title, const std::string& key,
                const std::string& x_column) {
  LineChart chart{title, x_column, key, x_column == "epoch", {}};
  for (const ComparedRun& run : c.runs) {
    chart.series.push_back(
        {run.label + " " + run.name, series(store, run.uuid, key, x_column)});
  }
  return chart;
}

// Training loss per epoch; per step (train/loss) when some run has no
// per-epoch values, so every run shares one x axis.
LineChart lossCurve(const store::RunStore& store, const Comparison& c) {
  LineChart chart =
      curve(store, c, "Training loss per epoch", "train/epoch_loss", "epoch");
  const bool complete =
      std::none_of(chart.series.begin(), chart.series.end(),
                   [](const ChartSeries& s) { return s.points.empty(); });
  return complete
             ? chart
             : curve(store, c, "Training loss per step", "train/loss", "step");
}

BarChart classApChart(const Comparison& c) {
  std::vector<const ClassDiff*> classes;
  for (const ClassDiff& diff : c.classes) classes.push_back(&diff);
  std::sort(classes.begin(), classes.end(),
            [](const ClassDiff* a, const ClassDiff* b) {
              return a->class_index < b->class_index;
            });
  BarChart chart{"AP per class at the last evaluated epoch", "AP", {}, {}, {}};
  for (const ComparedRun& run : c.runs) {
    chart.legend.push_back(run.label + " " + run.name);
  }
  for (const ClassDiff* diff : classes) {
    chart.groups.push_back(diff->class_name);
    chart.values.push_back(diff->ap);
  }
  return chart;
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
  const auto facts = store.query(
      "SELECT uuid, name, datetime(started_at, 'unixepoch') AS started, "
      "datetime(ended_at, 'unixepoch') AS ended, spec_path AS spec, "
      "spec_hash AS \"spec sha256\", seed, sweep, git_commit AS \"git "
      "commit\", CASE git_dirty WHEN 1 THEN 'yes (uncommitted changes)' "
      "ELSE 'no' END AS \"git dirty\", labrun_version AS labrun, "
      "torch_version AS LibTorch, opencv_version AS OpenCV, host, device, "
      "resumes, command_line AS \"command line\" FROM runs WHERE uuid = ?1",
      {run.uuid});
  for (std::size_t c = 0; c < facts.columns.size(); ++c) {
    out.facts.rows.push_back(
        {facts.columns[c], facts.rows.at(0)[c].value_or("-")});
  }
  const auto plugins = store.query(
      "SELECT kind, name, version, substr(sha256, 1, 12), file "
      "FROM run_plugins WHERE run = ?1 ORDER BY kind, name",
      {run.uuid});
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
  page.curves = {
      lossCurve(store, c),
      curve(store, c, "Validation mAP per epoch", "val/mAP", "epoch")};
  page.class_ap = classApChart(c);
  page.metrics = metricsTable(c);
  page.params = paramsTable(c);
  for (const ComparedRun& run : c.runs) {
    page.provenance.push_back(provenance(store, run));
  }
  return page;
}

int writeReport(const GlobalOptions& global, const ReportArgs& args) {
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
        ->capture_default_str();
    report->footer(kExitCodes);
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
