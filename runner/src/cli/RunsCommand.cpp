// `labrun runs`: rows of the run_summary view, filtered and sorted.
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <iostream>

#include "cli/CommandFlags.h"
#include "cli/StoreAccess.h"

namespace labrun::cli {
namespace {

struct RunsArgs {
  int limit = 20;
  RunFilter filter;
  std::string sort = "-started_at";  // a run_summary column; '-': descending
  TableFormat format = TableFormat::kText;
};

int listRuns(const GlobalOptions& global, const RunsArgs& args) {
  const auto store = openExistingStore(global);
  // A column name cannot be bound as a parameter, so --sort is checked
  // against the view's own columns before it becomes part of the SQL.
  const auto columns =
      store->query("SELECT * FROM run_summary LIMIT 0").columns;
  const bool descending = args.sort.rfind('-', 0) == 0;
  const std::string column = args.sort.substr(descending ? 1 : 0);
  if (std::find(columns.begin(), columns.end(), column) == columns.end()) {
    throw store::StoreError(fmt::format(
        "--sort '{}': not a column of run_summary; expected one of {} "
        "(a leading '-' sorts descending)",
        args.sort, fmt::join(columns, ", ")));
  }
  std::vector<std::string> params;
  const std::vector<std::string> conditions = args.filter.conditions(params);
  params.push_back(std::to_string(args.limit));
  const std::string sql = fmt::format(
      "SELECT substr(s.uuid, 1, 8) AS run, s.name, s.kind, s.status, "
      "datetime(s.started_at, 'unixepoch') AS started, "
      "round(s.duration_s, 1) AS duration_s, s.backbone, s.head, "
      "s.optimizer, s.lr, round(s.best_map, 2) AS best_map, s.best_map_epoch, "
      "round(s.last_map, 2) AS last_map, round(s.eval_map, 2) AS eval_map, "
      "s.sweep "
      "FROM run_summary AS s {}{} ORDER BY s.\"{}\" {}, s.started_at DESC "
      "LIMIT ?{}",
      conditions.empty() ? "" : "WHERE ", fmt::join(conditions, " AND "),
      column, descending ? "DESC" : "ASC", params.size());
  const store::RunStore::Table table = args.filter.query(*store, sql, params);
  printTable(toTextTable(table), args.format, std::cout);
  return kOk;
}

class RunsCommand : public Command {
 public:
  CLI::App* add(CLI::App& app) override {
    auto* runs = app.add_subcommand("runs", "Table of past runs, newest first");
    runs->add_option("--limit,-n", args_.limit, "Rows to show")
        ->capture_default_str()
        ->check(atLeast(1));
    args_.filter.add(runs);
    runs->add_option("--sort", args_.sort,
                     "Sort by this run_summary column; a leading '-' sorts "
                     "descending")
        ->capture_default_str();
    format_.add(runs);
    return runs;
  }

  int run(const GlobalOptions& global) override {
    args_.format = format_.format();
    return listRuns(global, args_);
  }

 private:
  RunsArgs args_;
  FormatFlags format_;
};

}  // namespace

LABRUN_COMMAND(RunsCommand, "runs", 50)

}  // namespace labrun::cli
