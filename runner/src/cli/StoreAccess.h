// What the commands that read past runs share.
#pragma once

#include <memory>

#include "cli/Command.h"
#include "cli/TablePrinter.h"
#include "store/RunStore.h"

namespace labrun::cli {

// The store, read-only; StoreError when the file does not exist (reading
// commands never create one).
std::unique_ptr<store::RunStore> openExistingStore(const GlobalOptions& global);

// A query result as the table printer takes it.
TextTable toTextTable(store::RunStore::Table table);

}  // namespace labrun::cli
