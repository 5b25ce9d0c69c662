#include "cli/StoreAccess.h"

#include <fmt/format.h>
#include <sqlite3.h>

#include <CLI/CLI.hpp>
#include <filesystem>

namespace labrun::cli {

// A missing store is a usage error, never created.
std::unique_ptr<store::RunStore> openExistingStore(const GlobalOptions& global,
                                                   bool read_only) {
  if (!std::filesystem::exists(global.db)) {
    throw store::StoreError(fmt::format(
        "no run store at {} (run an experiment first, or pass --db / set "
        "LABRUN_DB)",
        global.db));
  }
  return store::RunStore::open(global.db, read_only);
}

void RunFilter::add(CLI::App* command) {
  command->add_option("--where", where,
                      "SQL condition on the columns of the run_summary view, "
                      "e.g. \"lr < 1e-3 AND best_map > 50\"");
  command->add_option("--status", status, "Only runs with this status")
      ->transform(
          CLI::IsMember({"RUNNING", "FINISHED", "FAILED", "KILLED", "CRASHED"},
                        CLI::ignore_case));
  command->add_option("--name", name,
                      "Only runs whose name matches this GLOB (e.g. 'smoke*')");
}

bool RunFilter::empty() const {
  return where.empty() && status.empty() && name.empty();
}

std::vector<std::string> RunFilter::conditions(
    std::vector<std::string>& params) const {
  std::vector<std::string> found;
  if (!where.empty()) {
    // The user's own SQL on a read-only connection. A ';' that SQLite's
    // tokenizer takes for a statement end (not inside a string or comment)
    // is refused up front; on lines of its own, a trailing "--" comment
    // cannot swallow the rest of the query.
    for (auto at = where.find(';'); at != std::string::npos;
         at = where.find(';', at + 1)) {
      if (sqlite3_complete(where.substr(0, at + 1).c_str())) {
        throw store::StoreError(fmt::format(
            "--where '{}': expected one SQL condition, found ';' ending a "
            "statement (only one SQL statement is allowed)",
            where));
      }
    }
    found.push_back("(\n" + where + "\n)");
  }
  if (!status.empty()) {
    params.push_back(status);
    found.push_back(fmt::format("s.status = ?{}", params.size()));
  }
  if (!name.empty()) {
    params.push_back(name);
    found.push_back(fmt::format("s.name GLOB ?{}", params.size()));
  }
  return found;
}

store::RunStore::Table RunFilter::query(
    const store::RunStore& store, const std::string& sql,
    const std::vector<std::string>& params) const {
  try {
    return store.query(sql, params);
  } catch (const store::StoreError& error) {
    if (where.empty()) throw;
    throw store::StoreError(
        fmt::format("--where '{}': {}", where, error.what()));
  }
}

TextTable toTextTable(store::RunStore::Table table) {
  return {std::move(table.columns), std::move(table.rows),
          std::move(table.types)};
}

}  // namespace labrun::cli
