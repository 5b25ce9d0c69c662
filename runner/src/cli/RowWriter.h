// Writes query results as CSV (RFC 4180) or JSON a row at a time, so that a
// result of millions of rows never has to be held (`labrun sql --csv` of
// every metric row). JSON values keep their SQLite type: numbers stay
// numbers.
#pragma once

#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "cli/TablePrinter.h"

namespace labrun::cli {

class RowWriter {
 public:
  // Writes the header line (CSV) or the opening bracket (JSON); `format` is
  // kCsv or kJson.
  RowWriter(TableFormat format, std::ostream& out,
            std::vector<std::string> columns);

  // `types[c]` is the SQLite type of `cells[c]` ("integer", "real", "text",
  // "blob" or "null").
  void row(const std::vector<std::optional<std::string>>& cells,
           const std::vector<std::string>& types);
  // Closes the JSON array.
  void finish();

 private:
  TableFormat format_;
  std::ostream& out_;
  std::vector<std::string> columns_;
  bool any_row_ = false;
};

}  // namespace labrun::cli
