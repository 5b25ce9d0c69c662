// `labrun show`: spec, parameters, metrics, checkpoints and plugins of a run.
#include <fmt/format.h>

#include <CLI/CLI.hpp>
#include <cmath>
#include <iostream>

#include "cli/CommandFlags.h"
#include "cli/StoreAccess.h"

namespace labrun::cli {
namespace {

// The per-class thresholds `labrun eval --thresholds` stored, if any: as
// logits, probabilities and the F1 (percent) each gave on its evaluation.
void printThresholds(const store::RunStore& store, const std::string& run) {
  const auto stored = store.newestThresholds(run);
  if (!stored) return;
  TextTable table;
  table.columns = {"class_index", "class", "logit", "probability", "f1"};
  table.types = {"integer", "text", "real", "real", "real"};
  const auto cell = [](std::optional<double> value,
                       int digits) -> std::optional<std::string> {
    if (!value) return std::nullopt;
    return fmt::format("{:.{}f}", *value, digits);
  };
  for (const auto& row : stored->classes) {
    const auto probability =
        row.logit ? std::optional<double>(1 / (1 + std::exp(-*row.logit)))
                  : std::nullopt;
    table.rows.push_back({std::to_string(row.class_index), row.class_name,
                          cell(row.logit, 6), cell(probability, 6),
                          cell(row.f1, 2)});
  }
  std::cout << fmt::format("\nper-class thresholds (evaluation {})\n",
                           stored->evaluation);
  printTable(table, TableFormat::kText, std::cout);
}

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
  printThresholds(*store, run);
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
