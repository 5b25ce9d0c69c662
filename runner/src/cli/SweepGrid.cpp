#include "cli/SweepGrid.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <optional>

#include "spec/SpecError.h"
#include "spec/SpecLoader.h"

namespace labrun::cli {
namespace {

// A value as YAML, when it parses (a sweep value need not be valid YAML on
// its own: the spec's validation reports that).
std::optional<spec::Node> parsed(const std::string& value) {
  try {
    return spec::parseYamlText(value, spec::Origin{});
  } catch (const spec::SpecError&) {
    return std::nullopt;
  }
}

std::string nameOf(const std::optional<spec::Node>& value) {
  if (!value || !value->isMap()) return "";
  const spec::Node* name = value->findPath("name");
  return name != nullptr && name->isScalar() ? name->asString() : "";
}

// The short forms of one override's values (see SweepPoint::label).
std::vector<std::string> shortValues(const std::vector<std::string>& values) {
  std::vector<std::optional<spec::Node>> nodes;
  for (const std::string& value : values) nodes.push_back(parsed(value));
  std::vector<std::string> labels;
  for (std::size_t i = 0; i < values.size(); ++i) {
    const std::string name = nameOf(nodes[i]);
    if (name.empty()) {
      labels.push_back(nodes[i] && nodes[i]->isScalar() ? nodes[i]->asString()
                                                        : values[i]);
      continue;
    }
    std::vector<std::string> fields;
    for (const auto& [key, field] : nodes[i]->entries()) {
      if (key == "name") continue;
      const std::string text = spec::toFlowYaml(field);
      for (std::size_t j = 0; j < values.size(); ++j) {
        if (j == i || nameOf(nodes[j]) != name) continue;
        const spec::Node* other = nodes[j]->findPath(key);
        if (other == nullptr || spec::toFlowYaml(*other) != text) {
          fields.push_back(key + "=" + text);
          break;
        }
      }
    }
    labels.push_back(fields.empty()
                         ? name
                         : fmt::format("{}({})", name, fmt::join(fields, ",")));
  }
  return labels;
}

}  // namespace

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
    for (std::size_t v = 0; v < values.size(); ++v) {
      if (values[v].find_first_not_of(" \t") == std::string::npos) {
        throw spec::SpecError("override '" + text +
                              "': empty value in the sweep list");
      }
      // Runs are deterministic: the same value twice is the same run twice.
      if (std::find(values.begin(), values.begin() + v, values[v]) !=
          values.begin() + v) {
        throw spec::SpecError("override '" + text + "': '" + values[v] +
                              "' is listed twice in the sweep list");
      }
    }
    const std::string path = text.substr(0, equals);  // e.g. ++model.head
    const std::string short_key = path.substr(path.find_last_of(".+") + 1);
    const std::vector<std::string> labels = shortValues(values);
    std::vector<SweepPoint> next;
    for (const SweepPoint& point : points) {
      for (std::size_t v = 0; v < values.size(); ++v) {
        SweepPoint extended = point;
        extended.overrides.push_back(key + values[v]);
        extended.swept.push_back(key + values[v]);
        extended.label +=
            (point.label.empty() ? "" : ",") + short_key + "=" + labels[v];
        next.push_back(std::move(extended));
      }
    }
    points = std::move(next);
  }
  return points;
}

}  // namespace labrun::cli
