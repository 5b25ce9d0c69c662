// What the commands that read past runs share.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "cli/Command.h"
#include "cli/TablePrinter.h"
#include "store/RunStore.h"

namespace CLI {
class App;
}

namespace labrun::cli {

// The store, read-only unless `read_only` is false (which migrates an older
// schema); StoreError when the file does not exist: commands that work on
// past runs never create one.
std::unique_ptr<store::RunStore> openExistingStore(const GlobalOptions& global,
                                                   bool read_only = true);

// --where, --status and --name: runs picked by their run_summary row
// (`runs` lists them, `delete` removes them).
struct RunFilter {
  std::string where;   // the user's SQL condition on run_summary's columns
  std::string status;  // only runs with this status
  std::string name;    // only runs whose name matches this GLOB

  void add(CLI::App* command);
  bool empty() const;
  // The conditions on `run_summary AS s`; their values are appended to
  // `params`, which they bind as ?N. StoreError for a --where that is more
  // than one condition.
  std::vector<std::string> conditions(std::vector<std::string>& params) const;
  // store.query(sql, params), with an SQL error in --where named as such.
  store::RunStore::Table query(const store::RunStore& store,
                               const std::string& sql,
                               const std::vector<std::string>& params) const;
};

// A query result as the table printer takes it.
TextTable toTextTable(store::RunStore::Table table);

}  // namespace labrun::cli
