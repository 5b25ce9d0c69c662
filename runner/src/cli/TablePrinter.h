// Renders query results as an aligned text table, CSV (RFC 4180) or JSON.
#pragma once

#include <optional>
#include <ostream>
#include <string>
#include <vector>

namespace labrun::cli {

struct TextTable {
  std::vector<std::string> columns;
  std::vector<std::vector<std::optional<std::string>>> rows;  // nullopt: NULL
  // Per column: "integer", "real", "text", "blob" or "null" (JSON typing).
  std::vector<std::string> types;
};

enum class TableFormat { kText, kCsv, kJson };

void printTable(const TextTable& table, TableFormat format, std::ostream& out);

}  // namespace labrun::cli
