#include "cli/SweepGrid.h"

#include "spec/SpecError.h"

namespace labrun::cli {

std::vector<std::string> splitTopLevel(const std::string& text) {
  std::vector<std::string> parts(1);
  int depth = 0;
  char quote = 0;
  for (const char c : text) {
    if (quote) {
      quote = c == quote ? 0 : quote;
    } else if (c == '\'' || c == '"') {
      quote = c;
    } else if (c == '[' || c == '{') {
      ++depth;
    } else if ((c == ']' || c == '}') && depth > 0) {
      --depth;
    } else if (c == ',' && depth == 0) {
      parts.emplace_back();
      continue;
    }
    parts.back() += c;
  }
  return parts;
}

std::vector<SweepPoint> expandSweep(const std::vector<std::string>& overrides) {
  std::vector<SweepPoint> points(1);
  for (const std::string& text : overrides) {
    const auto equals = text.find('=');
    const std::vector<std::string> values =
        text.rfind('~', 0) == 0 || equals == std::string::npos
            ? std::vector<std::string>{}
            : splitTopLevel(text.substr(equals + 1));
    if (values.size() < 2) {
      for (SweepPoint& point : points) point.overrides.push_back(text);
      continue;
    }
    const std::string key = text.substr(0, equals + 1);
    std::vector<SweepPoint> next;
    for (const SweepPoint& point : points) {
      for (const std::string& value : values) {
        if (value.find_first_not_of(" \t") == std::string::npos) {
          throw spec::SpecError("override '" + text +
                                "': empty value in the sweep list");
        }
        SweepPoint extended = point;
        extended.overrides.push_back(key + value);
        extended.swept.push_back(key + value);
        next.push_back(std::move(extended));
      }
    }
    points = std::move(next);
  }
  return points;
}

}  // namespace labrun::cli
