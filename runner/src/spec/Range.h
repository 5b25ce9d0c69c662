// A numeric range declared in a schema (core Field::range, plugin
// ParamSpec::range): ">= a", "> a", "<= b", "< b", or an interval "[a, b]",
// "[a, b)", "(a, b]", "(a, b)". The validator checks integers, numbers,
// integer-or-auto values and every item of numeric lists against it, so
// that no plugin or core reader writes its own bounds check.
#pragma once

#include <optional>
#include <string>

#include "labrun/ParamSpec.h"

namespace labrun::spec {

class Range {
 public:
  // Throws std::invalid_argument on a malformed declaration (a schema bug,
  // not a user error): "range '[0, 1': expected ...".
  static Range parse(const std::string& text);

  bool contains(double value) const;
  // "an integer >= 1", "a number in [0, 1)", "an integer >= 1 or auto":
  // what a value of `type` must be, for error messages.
  std::string expected(ParamType type) const;
  // The declaration as written, e.g. ">= 1" or "[0, 1)".
  const std::string& text() const { return text_; }

 private:
  std::string text_;
  std::optional<double> low_, high_;
  bool low_open_ = false, high_open_ = false;
};

}  // namespace labrun::spec
