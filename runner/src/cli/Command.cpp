#include "cli/Command.h"

#include <algorithm>

namespace labrun::cli {
namespace {

// A function-local static: registrations run during static initialisation,
// in an order across files that C++ does not fix.
std::vector<CommandRegistry::Entry>& registry() {
  static std::vector<CommandRegistry::Entry> entries;
  return entries;
}

}  // namespace

bool CommandRegistry::add(std::string name, int order, Factory make) {
  registry().push_back({std::move(name), order, std::move(make)});
  return true;
}

std::vector<CommandRegistry::Entry> CommandRegistry::entries() {
  std::vector<Entry> sorted = registry();
  std::sort(sorted.begin(), sorted.end(),
            [](const Entry& a, const Entry& b) { return a.order < b.order; });
  return sorted;
}

bool CommandRegistry::has(const std::string& name) {
  const auto& entries = registry();
  return std::any_of(
      entries.begin(), entries.end(),
      [&name](const Entry& entry) { return entry.name == name; });
}

}  // namespace labrun::cli
