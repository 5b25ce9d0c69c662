// `labrun show`: spec, parameters, metrics, checkpoints and plugins of a run.
#include <iostream>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "cli/CommandFlags.h"
#include "cli/StoreAccess.h"

namespace labrun::cli {
namespace {

void printSection(const std::string& title, const store::RunStore& store,
                  const std::string& sql, const std::string& run) {
  const store::RunStore::Table table = store.query(sql, {run});
  std::cout << "\n" << title << "\n";
  if (table.rows.empty()) {
    std::cout << "(none)\n";
    return;
  }
  printTable(toTextTable(table), TableFormat::kText, std::cout);
}

int showRun(const GlobalOptions& global, const std::string& run_ref) {
  const auto store = openExistingStore(global);
  const std::string run = store->resolveRun(run_ref);
  const auto runs = store->query(
      "SELECT uuid, name, kind, status, datetime(started_at, 'unixepoch') AS "
      "started, datetime(ended_at, 'unixepoch') AS ended, error, spec_path, "
      "spec_hash, seed, host, device, git_commit, git_dirty, labrun_version, "
      "torch_version, opencv_version, command_line, spec_yaml "
      "FROM runs WHERE uuid = ?1",
      {run});
  const auto& row = runs.rows.at(0);
  for (std::size_t c = 0; c + 1 < runs.columns.size(); ++c) {
    std::cout << fmt::format("{:<15} {}\n", runs.columns[c] + ":",
                             row[c] ? *row[c] : "");
  }
  std::cout << "\nresolved spec:\n" << row.back().value_or("");
  printSection("parameters:", *store,
               "SELECT key, type, value FROM params WHERE run = ?1 "
               "ORDER BY key", run);
  printSection("metrics (last and best of each key):", *store,
               "SELECT key, count(*) AS points, "
               "(SELECT value FROM metrics m2 WHERE m2.run = m.run AND "
               "m2.key = m.key ORDER BY step DESC, rowid DESC LIMIT 1) AS last, "
               "min(value) AS min, max(value) AS max, max(epoch) AS epochs "
               "FROM metrics m WHERE run = ?1 GROUP BY key ORDER BY key", run);
  printSection("per-class values (last epoch):", *store,
               "SELECT metric, class_index, class_name, round(value, 2) AS "
               "value, positives FROM class_metrics WHERE run = ?1 AND "
               "epoch = (SELECT max(epoch) FROM class_metrics WHERE run = ?1) "
               "ORDER BY metric, class_index", run);
  printSection("evaluations:", *store,
               "SELECT e.id, datetime(e.created_at, 'unixepoch') AS created, "
               "e.checkpoint, e.split, (SELECT round(value, 2) FROM "
               "evaluation_metrics WHERE evaluation = e.id AND key = 'mAP') "
               "AS mAP, e.scores_path FROM evaluations e WHERE e.run = ?1 "
               "ORDER BY e.id",
               run);
  printSection("checkpoints:", *store,
               "SELECT epoch, step, path, bytes, substr(sha256, 1, 12) AS "
               "sha256, round(metric, 2) AS metric, best FROM checkpoints "
               "WHERE run = ?1 ORDER BY step", run);
  printSection("plugins:", *store,
               "SELECT kind, name, version, file, substr(sha256, 1, 12) AS "
               "sha256 FROM run_plugins WHERE run = ?1 ORDER BY kind", run);
  return kOk;
}

class ShowCommand : public Command {
 public:
  CLI::App* add(CLI::App& app) override {
    auto* show = app.add_subcommand(
        "show", "Spec, parameters, metrics, checkpoints and plugins of a run");
    show->add_option("run", run_ref_, "Run uuid, unique uuid prefix or run name")
        ->required();
    show->footer(kExitCodes);
    return show;
  }

  int run(const GlobalOptions& global) override {
    return showRun(global, run_ref_);
  }

 private:
  std::string run_ref_;
};

}  // namespace

LABRUN_COMMAND(ShowCommand, "show", 90)

}  // namespace labrun::cli

