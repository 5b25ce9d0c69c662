#include "spec/Range.h"

#include <cmath>
#include <cstdlib>
#include <stdexcept>

namespace labrun::spec {
namespace {

[[noreturn]] void malformed(const std::string& text) {
  throw std::invalid_argument(
      "range '" + text +
      "': expected '>= a', '> a', '<= b', '< b' or an interval such as "
      "'[a, b)' (inf allowed)");
}

double bound(const std::string& text, std::string word) {
  const auto first = word.find_first_not_of(' ');
  const auto last = word.find_last_not_of(' ');
  if (first == std::string::npos) malformed(text);
  word = word.substr(first, last - first + 1);
  if (word == "inf") return INFINITY;
  if (word == "-inf") return -INFINITY;
  char* end = nullptr;
  const double value = std::strtod(word.c_str(), &end);
  if (end != word.c_str() + word.size()) malformed(text);
  return value;
}

}  // namespace

Range Range::parse(const std::string& text) {
  Range range;
  range.text_ = text;
  const std::string ops[] = {">=", "<=", ">", "<"};
  for (const std::string& op : ops) {
    if (text.rfind(op, 0) != 0) continue;
    const double value = bound(text, text.substr(op.size()));
    if (op[0] == '>') {
      range.low_ = value;
      range.low_open_ = op == ">";
    } else {
      range.high_ = value;
      range.high_open_ = op == "<";
    }
    return range;
  }
  const auto comma = text.find(',');
  if (text.size() < 5 || comma == std::string::npos ||
      (text.front() != '[' && text.front() != '(') ||
      (text.back() != ']' && text.back() != ')')) {
    malformed(text);
  }
  range.low_ = bound(text, text.substr(1, comma - 1));
  range.high_ = bound(text, text.substr(comma + 1, text.size() - comma - 2));
  range.low_open_ = text.front() == '(';
  range.high_open_ = text.back() == ')';
  if (*range.low_ > *range.high_) malformed(text);
  return range;
}

bool Range::contains(double value) const {
  if (std::isnan(value)) return false;
  if (std::isinf(value)) {
    // A side without a bound stops short of infinity (">= 0" is [0, inf));
    // only a closed bound written as inf admits it.
    const auto& side = value > 0 ? high_ : low_;
    return side && std::isinf(*side) && !(value > 0 ? high_open_ : low_open_);
  }
  if (low_ && (low_open_ ? value <= *low_ : value < *low_)) return false;
  if (high_ && (high_open_ ? value >= *high_ : value > *high_)) return false;
  return true;
}

std::string Range::expected(ParamType type) const {
  const bool integer = type == ParamType::kInt || type == ParamType::kIntList ||
                       type == ParamType::kIntOrAuto;
  const std::string noun = integer ? "an integer" : "a number";
  const bool interval = text_[0] == '[' || text_[0] == '(';
  return noun + (interval ? " in " : " ") + text_ +
         (type == ParamType::kIntOrAuto ? " or auto" : "");
}

}  // namespace labrun::spec
