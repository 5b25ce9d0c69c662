// Range checks on plugin parameters that several plugins share.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>

#include "labrun/ParamSpec.h"

namespace labrun::params {

// The integer parameter `key`; throws std::invalid_argument "KEY: expected
// an integer >= MINIMUM, found VALUE" below `minimum`.
inline std::int64_t intAtLeast(const Params& params, const std::string& key,
                               std::int64_t minimum) {
  const std::int64_t value = params.getInt(key);
  if (value < minimum) {
    throw std::invalid_argument(
        key + ": expected an integer >= " + std::to_string(minimum) +
        ", found " + std::to_string(value));
  }
  return value;
}

}  // namespace labrun::params
