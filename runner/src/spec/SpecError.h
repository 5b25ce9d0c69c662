// A problem in an experiment spec or an override: exit code 2, no run.
#pragma once

#include <stdexcept>
#include <string>

namespace labrun::spec {

class SpecError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

}  // namespace labrun::spec
