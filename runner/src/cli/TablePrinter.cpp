#include "cli/TablePrinter.h"

#include <algorithm>

#include "cli/RowWriter.h"

namespace labrun::cli {
namespace {

constexpr const char* kNullText = "NULL";

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
    case TableFormat::kCsv:
    case TableFormat::kJson: {
      // A column's type stands for each of its cells.
      std::vector<std::string> types = table.types;
      types.resize(table.columns.size(), "text");
      RowWriter writer(format, out, table.columns);
      for (const auto& row : table.rows) writer.row(row, types);
      writer.finish();
      return;
    }
  }
}

}  // namespace labrun::cli
