#include "cli/RowWriter.h"

#include <nlohmann/json.hpp>

#include "cli/JsonText.h"

namespace labrun::cli {
namespace {

std::string csvField(const std::optional<std::string>& cell) {
  if (!cell) return "";
  if (cell->find_first_of(",\"\r\n") == std::string::npos) return *cell;
  std::string quoted = "\"";
  for (char c : *cell) {
    quoted += c == '"' ? std::string("\"\"") : std::string(1, c);
  }
  return quoted + "\"";
}

void writeCsvLine(std::ostream& out,
                  const std::vector<std::optional<std::string>>& cells) {
  for (std::size_t c = 0; c < cells.size(); ++c) {
    out << (c ? "," : "") << csvField(cells[c]);
  }
  out << "\r\n";
}

nlohmann::json jsonCell(const std::optional<std::string>& cell,
                        const std::string& type) {
  if (!cell) return nullptr;
  if (type == "integer") return std::stoll(*cell);
  if (type == "real") return std::stod(*cell);
  return *cell;
}

}  // namespace

RowWriter::RowWriter(TableFormat format, std::ostream& out,
                     std::vector<std::string> columns)
    : format_(format), out_(out), columns_(std::move(columns)) {
  if (format_ == TableFormat::kCsv) {
    writeCsvLine(out_, {columns_.begin(), columns_.end()});
  } else {
    out_ << "[";
  }
}

void RowWriter::row(const std::vector<std::optional<std::string>>& cells,
                    const std::vector<std::string>& types) {
  if (format_ == TableFormat::kCsv) {
    writeCsvLine(out_, cells);
    return;
  }
  nlohmann::json object = nlohmann::json::object();
  for (std::size_t c = 0; c < cells.size(); ++c) {
    object[columns_[c]] = jsonCell(cells[c], types[c]);
  }
  // As the whole array would be indented (2 spaces a level): the object
  // one level in.
  const std::string text = jsonText(object, /*indent=*/2);
  out_ << (any_row_ ? ",\n  " : "\n  ");
  for (const char c : text) {
    out_ << c;
    if (c == '\n') out_ << "  ";
  }
  any_row_ = true;
}

void RowWriter::finish() {
  if (format_ == TableFormat::kJson) out_ << (any_row_ ? "\n]\n" : "]\n");
}

}  // namespace labrun::cli
