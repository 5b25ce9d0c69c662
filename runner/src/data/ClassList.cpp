#include "data/ClassList.h"

#include <fmt/format.h>

#include <algorithm>
#include <fstream>
#include <stdexcept>

#include "util/Strings.h"

namespace labrun::data {
namespace {

using util::trim;

std::vector<std::string> splitTabs(const std::string& line) {
  std::vector<std::string> cells;
  std::size_t start = 0;
  while (true) {
    const std::size_t tab = line.find('\t', start);
    cells.emplace_back(trim(line.substr(start, tab - start)));
    if (tab == std::string::npos) return cells;
    start = tab + 1;
  }
}

bool endsWith(const std::string& text, const std::string& suffix) {
  return text.size() >= suffix.size() &&
         text.compare(text.size() - suffix.size(), suffix.size(), suffix) == 0;
}

}  // namespace

ClassList::ClassList(std::vector<std::string> names, std::string source)
    : names_(std::move(names)), source_(std::move(source)) {
  for (std::size_t k = 0; k < names_.size(); ++k) index_.emplace(names_[k], k);
}

ClassList ClassList::read(const std::string& path) {
  std::ifstream in(path);
  if (!in) {
    throw std::runtime_error(
        fmt::format("{}: cannot read the class list", path));
  }
  const bool tsv = endsWith(path, ".tsv");
  std::vector<std::string> names;
  std::unordered_map<std::string, int> seen;  // name -> line
  std::size_t name_column = 0;
  std::string line;
  int blank = 0;  // the blank line since the last name, if any
  for (int number = 1; std::getline(in, line); ++number) {
    if (trim(line).empty()) {
      blank = number;
      continue;
    }
    // A name's index is its place in the list: a blank line among the
    // names may stand for a class (an unused id), and skipping it would
    // shift every later index. Blank lines at the end are fine.
    if (blank > 0 && !names.empty()) {
      throw std::runtime_error(fmt::format(
          "{}:{}: blank line among the class names; expected one name per "
          "line (a class's index is its place in the list)",
          path, blank));
    }
    blank = 0;
    std::string name;
    if (!tsv) {
      name = trim(line);
    } else if (number == 1) {
      const std::vector<std::string> header = splitTabs(line);
      auto it = std::find(header.begin(), header.end(), "name");
      if (it == header.end()) {
        throw std::runtime_error(fmt::format(
            "{}:1: expected a tab-separated header with a 'name' column, "
            "found '{}'",
            path, trim(line)));
      }
      name_column = static_cast<std::size_t>(it - header.begin());
      continue;
    } else {
      const std::vector<std::string> cells = splitTabs(line);
      if (cells.size() <= name_column || cells[name_column].empty()) {
        throw std::runtime_error(fmt::format(
            "{}:{}: expected a name in column {} ('name'), found '{}'", path,
            number, name_column + 1, trim(line)));
      }
      name = cells[name_column];
    }
    const auto [previous, fresh] = seen.emplace(name, number);
    if (!fresh) {
      throw std::runtime_error(
          fmt::format("{}:{}: class '{}' is already listed on line {}", path,
                      number, name, previous->second));
    }
    names.push_back(std::move(name));
  }
  if (names.empty()) {
    throw std::runtime_error(
        fmt::format("{}: expected at least one class name, found none", path));
  }
  return ClassList(std::move(names), path);
}

std::optional<std::size_t> ClassList::find(const std::string& name) const {
  const auto it = index_.find(name);
  if (it == index_.end()) return std::nullopt;
  return it->second;
}

}  // namespace labrun::data
