#include "cli/StoreAccess.h"

#include <fmt/format.h>

#include <filesystem>

namespace labrun::cli {

// Past runs are only read: a missing store is a usage error, never created.
std::unique_ptr<store::RunStore> openExistingStore(
    const GlobalOptions& global) {
  if (!std::filesystem::exists(global.db)) {
    throw store::StoreError(fmt::format(
        "no run store at {} (run an experiment first, or pass --db / set "
        "LABRUN_DB)",
        global.db));
  }
  return store::RunStore::open(global.db, /*read_only=*/true);
}

TextTable toTextTable(store::RunStore::Table table) {
  return {std::move(table.columns), std::move(table.rows),
          std::move(table.types)};
}

}  // namespace labrun::cli
