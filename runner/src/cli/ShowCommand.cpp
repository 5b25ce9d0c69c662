// `labrun show`: spec, parameters, metrics, checkpoints and plugins of a run.
#include <fmt/format.h>

#include <CLI/CLI.hpp>
#include <iostream>

#include "cli/CommandFlags.h"
#include "cli/StoreAccess.h"

namespace labrun::cli {
namespace {

int showRun(const GlobalOptions& global, const std::string& run_ref) {
  const auto store = openExistingStore(global);
  const std::string run = store->resolveRun(run_ref);
  const auto facts = store->runFacts(run);
  const auto& row = facts.rows.at(0);
  for (std::size_t c = 0; c + 1 < facts.columns.size(); ++c) {
    std::cout << fmt::format("{:<15} {}\n", facts.columns[c] + ":",
                             row[c] ? *row[c] : "");
  }
  std::cout << "\nresolved spec:\n" << row.back().value_or("");
  for (const auto& [title, table] : store->runSections(run)) {
    std::cout << "\n" << title << "\n";
    if (table.rows.empty()) {
      std::cout << "(none)\n";
      continue;
    }
    printTable(toTextTable(table), TableFormat::kText, std::cout);
  }
  return kOk;
}

class ShowCommand : public Command {
 public:
  CLI::App* add(CLI::App& app) override {
    auto* show = app.add_subcommand(
        "show", "Spec, parameters, metrics, checkpoints and plugins of a run");
    show->add_option("run", run_ref_,
                     "Run uuid, unique uuid prefix or run name")
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
