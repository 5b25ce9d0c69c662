// `labrun sql`: one read-only SQL statement on the run store.
#include <CLI/CLI.hpp>
#include <iostream>
#include <optional>

#include "cli/CommandFlags.h"
#include "cli/RowWriter.h"
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
    const TableFormat format = format_.format();
    if (format == TableFormat::kText) {
      // Aligned columns need every row's width first.
      printTable(toTextTable(store->query(query_, params_)), format, std::cout);
      return kOk;
    }
    std::optional<RowWriter> writer;
    store->queryEach(
        query_, params_,
        [&](const std::vector<std::string>& columns) {
          writer.emplace(format, std::cout, columns);
        },
        [&](const store::RunStore::Row& row) {
          writer->row(row.cells, row.types);
        });
    writer->finish();
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
