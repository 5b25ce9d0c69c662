#include "cli/TablePrinter.h"

#include <algorithm>
#include <nlohmann/json.hpp>

#include "cli/JsonText.h"

namespace labrun::cli {
namespace {

constexpr const char* kNullText = "NULL";

std::string csvField(const std::optional<std::string>& cell) {
  if (!cell) return "";
  if (cell->find_first_of(",\"\r\n") == std::string::npos) return *cell;
  std::string quoted = "\"";
  for (char c : *cell)
    quoted += c == '"' ? std::string("\"\"") : std::string(1, c);
  return quoted + "\"";
}

nlohmann::json jsonCell(const std::optional<std::string>& cell,
                        const std::string& type) {
  if (!cell) return nullptr;
  // Values keep their SQLite type so consumers get numbers, not strings.
  if (type == "integer") return std::stoll(*cell);
  if (type == "real") return std::stod(*cell);
  return *cell;
}

void printText(const TextTable& table, std::ostream& out) {
  std::vector<std::size_t> width(table.columns.size());
  for (std::size_t c = 0; c < table.columns.size(); ++c) {
    width[c] = table.columns[c].size();
    for (const auto& row : table.rows) {
      width[c] = std::max(width[c], row[c] ? row[c]->size() : 4);
    }
  }
  auto line = [&](auto cell_of) {
    std::string text;
    for (std::size_t c = 0; c < width.size(); ++c) {
      std::string cell = cell_of(c);
      if (c + 1 < width.size()) cell.resize(width[c], ' ');
      text += (c ? "  " : "") + cell;
    }
    out << text << "\n";
  };
  line([&](std::size_t c) { return table.columns[c]; });
  line([&](std::size_t c) { return std::string(width[c], '-'); });
  for (const auto& row : table.rows) {
    line([&](std::size_t c) { return row[c] ? *row[c] : kNullText; });
  }
}

}  // namespace

void printTable(const TextTable& table, TableFormat format, std::ostream& out) {
  switch (format) {
    case TableFormat::kText:
      printText(table, out);
      return;
    case TableFormat::kCsv: {
      auto write_row =
          [&out](const std::vector<std::optional<std::string>>& row) {
            for (std::size_t c = 0; c < row.size(); ++c)
              out << (c ? "," : "") << csvField(row[c]);
            out << "\r\n";
          };
      write_row({table.columns.begin(), table.columns.end()});
      for (const auto& row : table.rows) write_row(row);
      return;
    }
    case TableFormat::kJson: {
      nlohmann::json rows = nlohmann::json::array();
      for (const auto& row : table.rows) {
        nlohmann::json object = nlohmann::json::object();
        for (std::size_t c = 0; c < row.size(); ++c) {
          object[table.columns[c]] = jsonCell(
              row[c], c < table.types.size() ? table.types[c] : "text");
        }
        rows.push_back(std::move(object));
      }
      out << jsonText(rows, /*indent=*/2) << "\n";
      return;
    }
  }
}

}  // namespace labrun::cli
