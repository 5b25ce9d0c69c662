// `labrun sql`: one read-only SQL statement on the run store.
#include <CLI/CLI.hpp>
#include <iostream>

#include "cli/CommandFlags.h"
#include "cli/StoreAccess.h"

namespace labrun::cli {
namespace {

class SqlCommand : public Command {
 public:
  CLI::App* add(CLI::App& app) override {
    auto* sql = app.add_subcommand(
        "sql",
        "Run a read-only SQL query on the run store (see docs/STORE.md)");
    sql->add_option("query", query_, "One SQL statement")->required();
    sql->add_option("params", params_,
                    "Values bound to ?1, ?2, ... (as text: compare numbers "
                    "through CAST(?1 AS REAL))");
    format_.add(sql);
    return sql;
  }

  int run(const GlobalOptions& global) override {
    const auto store = openExistingStore(global);
    printTable(toTextTable(store->query(query_, params_)), format_.format(),
               std::cout);
    return kOk;
  }

 private:
  std::string query_;
  std::vector<std::string> params_;
  FormatFlags format_;
};

}  // namespace

LABRUN_COMMAND(SqlCommand, "sql", 100)

}  // namespace labrun::cli
