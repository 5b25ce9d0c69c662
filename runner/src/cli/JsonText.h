// JSON text of values that may hold names a user chose (run names, file
// names): bytes that are not UTF-8 become U+FFFD instead of failing the
// command after its work is done.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

namespace labrun::cli {

// -1: one line; otherwise spaces per level.
inline std::string jsonText(const nlohmann::json& value, int indent = -1) {
  return value.dump(indent, /*indent_char=*/' ', /*ensure_ascii=*/false,
                    nlohmann::json::error_handler_t::replace);
}

}  // namespace labrun::cli
