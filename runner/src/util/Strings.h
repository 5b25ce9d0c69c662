// Small string helpers that several parsers share.
#pragma once

#include <string_view>

namespace labrun::util {

// `text` without leading and trailing characters of `spaces`; a view into
// `text`, so it lives as long as `text` does.
inline std::string_view trim(std::string_view text,
                             std::string_view spaces = " \t\r\n") {
  const auto first = text.find_first_not_of(spaces);
  if (first == std::string_view::npos) return {};
  return text.substr(first, text.find_last_not_of(spaces) - first + 1);
}

// Whether the dotted name `name` (a parameter, buffer or module) lies under
// the module `prefix`: "layer1" holds "layer1" and "layer1.0.conv1", not
// "layer10".
inline bool underModule(std::string_view name, std::string_view prefix) {
  return name.substr(0, prefix.size()) == prefix &&
         (name.size() == prefix.size() || name[prefix.size()] == '.');
}

}  // namespace labrun::util
