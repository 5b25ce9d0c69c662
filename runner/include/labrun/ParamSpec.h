// Declared parameters of a plugin (and of the core spec): name, type,
// default and documentation. The host validates a spec section against these
// declarations and hands the plugin a fully typed Params object.
#pragma once

#include <cstdint>
#include <map>
#include <stdexcept>
#include <string>
#include <variant>
#include <vector>

namespace labrun {

enum class ParamType : std::uint32_t {
  kInt,
  kFloat,
  kBool,
  kString,
  kIntList,
  kFloatList,
  kStringList,
  kIntOrAuto,  // a non-negative integer or the string "auto" (stored as -1)
  // true, false or a list of strings (stored as bool or
  // std::vector<std::string>), e.g. "all of them", "none" or these prefixes.
  kBoolOrStringList,
};

// One declared parameter. Plain pointers so that plugins can declare their
// schema as a constant array.
struct ParamSpec {
  const char* name;
  ParamType type;
  // YAML text of the default value; nullptr marks a required parameter.
  const char* default_yaml;
  const char* doc;
  // For kString and kInt: allowed values separated by '|' (nullptr: any).
  const char* choices = nullptr;
  // For numbers, integers, integer-or-auto and numeric lists (each item):
  // ">= 1", "> 0", "[0, 1)", ... (nullptr: any value). The host checks it
  // and names the spec's file:line, so the plugin need not.
  const char* range = nullptr;
};

const char* paramTypeName(ParamType type);

using ParamValue = std::variant<std::int64_t, double, bool, std::string,
                                std::vector<std::int64_t>, std::vector<double>,
                                std::vector<std::string>>;

// The validated parameters of one plugin instance: every declared key is
// present with a value of its declared type.
class Params {
 public:
  Params() = default;
  explicit Params(std::map<std::string, ParamValue> values)
      : values_(std::move(values)) {}

  template <typename T>
  const T& get(const std::string& name) const {
    auto it = values_.find(name);
    if (it == values_.end()) {
      throw std::invalid_argument("parameter '" + name + "' is not declared");
    }
    if (const T* value = std::get_if<T>(&it->second)) return *value;
    throw std::invalid_argument("parameter '" + name +
                                "' requested with the wrong type");
  }
  std::int64_t getInt(const std::string& name) const {
    return get<std::int64_t>(name);
  }
  double getFloat(const std::string& name) const { return get<double>(name); }
  bool getBool(const std::string& name) const { return get<bool>(name); }
  const std::string& getString(const std::string& name) const {
    return get<std::string>(name);
  }
  bool has(const std::string& name) const { return values_.count(name) > 0; }
  const std::map<std::string, ParamValue>& values() const { return values_; }

 private:
  std::map<std::string, ParamValue> values_;
};

inline const char* paramTypeName(ParamType type) {
  switch (type) {
    case ParamType::kInt:
      return "integer";
    case ParamType::kFloat:
      return "number";
    case ParamType::kBool:
      return "boolean";
    case ParamType::kString:
      return "string";
    case ParamType::kIntList:
      return "list of integers";
    case ParamType::kFloatList:
      return "list of numbers";
    case ParamType::kStringList:
      return "list of strings";
    case ParamType::kIntOrAuto:
      return "integer or 'auto'";
    case ParamType::kBoolOrStringList:
      return "boolean or list of strings";
  }
  return "unknown";
}

}  // namespace labrun
