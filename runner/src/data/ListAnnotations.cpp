#include "data/ListAnnotations.h"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <filesystem>
#include <fstream>
#include <optional>
#include <stdexcept>

#include "util/Strings.h"

namespace labrun::data {
namespace {

namespace fs = std::filesystem;
using util::trim;

// Inferring the class count from the largest index is for hand-made lists;
// the label table is dense (images x classes bytes), so a stray large number
// must not size it. Larger label sets (Open Images) come with a class list.
constexpr std::size_t kMaxInferredClasses = 10000;

// Splits on `separator`; for ' ', runs of spaces and tabs count as one.
std::vector<std::string_view> fields(std::string_view line, char separator) {
  std::vector<std::string_view> out;
  std::size_t start = 0;
  while (start <= line.size()) {
    std::size_t end = separator == ' ' ? line.find_first_of(" \t", start)
                                       : line.find(separator, start);
    if (end == std::string_view::npos) end = line.size();
    const std::string_view field = trim(line.substr(start, end - start));
    if (separator != ' ' || !field.empty()) out.push_back(field);
    start = end + 1;
  }
  return out;
}

std::optional<std::size_t> parseIndex(std::string_view text) {
  std::size_t value = 0;
  const auto [end, error] =
      std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc() || end != text.data() + text.size()) {
    return std::nullopt;
  }
  return value;
}

}  // namespace

LabelTable readListAnnotations(const ListOptions& options) {
  std::ifstream in(options.list);
  if (!in) {
    throw std::runtime_error(
        fmt::format("{}: cannot read the label list", options.list));
  }
  const fs::path folder = options.images.empty()
                              ? fs::path(options.list).parent_path()
                              : fs::path(options.images);
  // Rows as label indices; the class count is known only at the end when no
  // class list is given.
  std::vector<std::vector<std::size_t>> rows;
  LabelTable table;
  std::optional<bool> dense;
  std::size_t width = 0;  // dense: labels per row
  std::size_t classes = options.classes.size();
  std::string line;
  for (int number = 1; std::getline(in, line); ++number) {
    const std::string_view text = trim(line);
    if (text.empty() || text.front() == '#') continue;
    const auto fail = [&](const std::string& what) {
      throw std::runtime_error(
          fmt::format("{}:{}: {}", options.list, number, what));
    };
    const bool comma = text.find(',') != std::string_view::npos;
    if (!dense) {
      dense = comma;
    } else if (*dense != comma) {
      fail(*dense ? "expected 'image,0,1,...' like the first line"
                  : "expected 'image index index ...' like the first line");
    }
    const std::vector<std::string_view> cells = fields(text, comma ? ',' : ' ');
    if (cells.front().empty()) fail("expected an image path first");
    std::vector<std::size_t> labels;
    if (*dense) {
      if (width == 0) {
        width = cells.size() - 1;
        if (width == 0) fail("expected 0/1 labels after the image path");
        if (!options.classes.empty() && width != classes) {
          fail(
              fmt::format("{} labels per row, but the class list {} has {} "
                          "classes",
                          width, options.classes.source(), classes));
        }
        classes = width;
      } else if (cells.size() - 1 != width) {
        fail(fmt::format("expected {} labels like the first line, found {}",
                         width, cells.size() - 1));
      }
      for (std::size_t k = 0; k < width; ++k) {
        const std::string_view value = cells[k + 1];
        if (value == "1") {
          labels.push_back(k);
        } else if (value != "0") {
          fail(fmt::format("label {}: expected 0 or 1, found '{}'", k + 1,
                           value));
        }
      }
    } else {
      for (std::size_t c = 1; c < cells.size(); ++c) {
        const auto index = parseIndex(cells[c]);
        if (!index) {
          fail(
              fmt::format("expected a label index (an integer >= 0), found "
                          "'{}'",
                          cells[c]));
        }
        if (!options.classes.empty() && *index >= classes) {
          fail(
              fmt::format("label index {} is outside the class list {} "
                          "({} classes)",
                          *index, options.classes.source(), classes));
        }
        // Without names, the largest index sets the class count: bound it,
        // so that a stray number does not ask for a table of billions.
        if (options.classes.empty() && *index >= kMaxInferredClasses) {
          fail(fmt::format(
              "label index {} would make {} classes; without a class list "
              "at most {} are inferred: give the class names (data.classes)",
              *index, *index + 1, kMaxInferredClasses));
        }
        labels.push_back(*index);
      }
    }
    table.image_paths.push_back((folder / std::string(cells.front())).string());
    rows.push_back(std::move(labels));
  }
  if (rows.empty()) {
    throw std::runtime_error(fmt::format(
        "{}: expected one image per line, found none", options.list));
  }

  if (options.classes.empty()) {
    for (const auto& labels : rows) {
      for (const std::size_t k : labels) classes = std::max(classes, k + 1);
    }
    if (classes == 0) {
      throw std::runtime_error(fmt::format(
          "{}: no image has a label; give the class names (data.classes)",
          options.list));
    }
    for (std::size_t k = 0; k < classes; ++k) {
      table.class_names.push_back("class" + std::to_string(k));
    }
  } else {
    table.class_names = options.classes.names();
  }
  table.states.assign(rows.size() * classes, LabelTable::kNegative);
  std::vector<bool> annotated(rows.size());
  for (std::size_t i = 0; i < rows.size(); ++i) {
    for (const std::size_t k : rows[i]) table.at(i, k) = LabelTable::kPositive;
    annotated[i] = !rows[i].empty();
  }
  if (options.drop_unannotated) table.keepImages(annotated);
  return table;
}

}  // namespace labrun::data
