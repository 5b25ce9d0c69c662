#include "spec/Schema.h"

#include <algorithm>
#include <initializer_list>
#include <numeric>

#include "spec/Range.h"
#include "spec/SpecError.h"
#include "spec/SpecLoader.h"

namespace labrun::spec {

namespace {

using ScalarType = Node::ScalarType;

[[noreturn]] void fail(const Node& node, const std::string& key,
                       const std::string& what) {
  throw SpecError(node.origin().describe() + ": " + key + ": " + what);
}

// " (override '~model.backbone' removed it)" when an override removed `key`
// from `map`; "" otherwise.
std::string removal(const Node& map, const std::string& key) {
  const Origin* by = map.removedBy(key);
  return by == nullptr ? "" : " (" + by->describe() + " removed it)";
}

std::vector<std::string> splitChoices(const std::string& choices) {
  std::vector<std::string> values;
  std::size_t start = 0;
  while (true) {
    const std::size_t bar = choices.find('|', start);
    values.push_back(choices.substr(start, bar - start));
    if (bar == std::string::npos) return values;
    start = bar + 1;
  }
}

std::string joinNames(const std::vector<std::string>& names) {
  std::string joined;
  for (const std::string& name : names) {
    joined += (joined.empty() ? "" : ", ") + name;
  }
  return joined;
}

// `node` when it is a scalar of one of `accepted` types; otherwise the type
// error for `type`.
const Node& expectScalar(const Node& node, ParamType type,
                         const std::string& key,
                         std::initializer_list<ScalarType> accepted) {
  if (!node.isScalar() || std::find(accepted.begin(), accepted.end(),
                                    node.scalarType()) == accepted.end()) {
    fail(node, key, node.mismatch(type));
  }
  return node;
}

template <typename T>
std::vector<T> readList(const Node& node, ParamType list_type,
                        ParamType item_type, const std::string& key) {
  if (!node.isList()) fail(node, key, node.mismatch(list_type));
  std::vector<T> values;
  for (std::size_t i = 0; i < node.items().size(); ++i) {
    values.push_back(std::get<T>(toParamValue(
        node.items()[i], item_type, joinPath(key, std::to_string(i)))));
  }
  return values;
}

// The numbers of `node` as `type` reads them (none for other types).
std::vector<std::pair<const Node*, double>> numbersOf(const Node& node,
                                                      ParamType type) {
  switch (type) {
    case ParamType::kInt:
    case ParamType::kFloat:
      return {{&node, node.asDouble()}};
    case ParamType::kIntOrAuto:
      if (node.text() == "auto") return {};
      return {{&node, node.asDouble()}};
    case ParamType::kIntList:
    case ParamType::kFloatList: {
      std::vector<std::pair<const Node*, double>> numbers;
      for (const Node& item : node.items()) {
        numbers.emplace_back(&item, item.asDouble());
      }
      return numbers;
    }
    default:
      return {};
  }
}

// Checks `node` (at `key`) as a value of `type` with its declared choices
// ("a|b|c", strings and integers) and numeric range (spec/Range.h).
void checkValue(const Node& node, ParamType type, const std::string& choices,
                const std::string& range, const std::string& key) {
  toParamValue(node, type, key);
  // Without a declared range a number must still be finite (.inf, .nan).
  const Range declared = Range::parse(range.empty() ? "(-inf, inf)" : range);
  const auto numbers = numbersOf(node, type);
  for (std::size_t i = 0; i < numbers.size(); ++i) {
    const auto& [item, value] = numbers[i];
    if (declared.contains(value)) continue;
    const bool listed =
        type == ParamType::kIntList || type == ParamType::kFloatList;
    fail(*item, listed ? joinPath(key, std::to_string(i)) : key,
         "expected " +
             (range.empty() ? "a finite number" : declared.expected(type)) +
             ", found " + item->text());
  }
  if ((type != ParamType::kString && type != ParamType::kInt) ||
      choices.empty()) {
    return;
  }
  const std::vector<std::string> allowed = splitChoices(choices);
  if (std::find(allowed.begin(), allowed.end(), node.text()) != allowed.end()) {
    return;
  }
  std::string what =
      "expected one of " + choices + ", found " + node.describeValue();
  // Numbers close in spelling are not close in meaning: no suggestion.
  const std::string suggestion =
      type == ParamType::kString ? nearest(node.text(), allowed) : "";
  if (!suggestion.empty()) what += "; did you mean '" + suggestion + "'?";
  fail(node, key, what);
}

// A filled-in default is located at the map it goes into, where it would
// have been written: "spec.yaml:5:1 (default)".
Origin defaultOrigin(const Node& map) {
  Origin origin = map.origin();
  origin.note = "default";
  return origin;
}

// The declared default, checked like a written value.
Node defaultValue(const std::string& yaml, ParamType type,
                  const std::string& choices, const std::string& range,
                  const std::string& key, const Node& map) {
  Node value = parseYamlText(yaml, defaultOrigin(map));
  checkValue(value, type, choices, range, key);
  return value;
}

[[noreturn]] void unknownKey(const Node& value, const std::string& parent,
                             const std::string& key,
                             const std::vector<std::string>& known,
                             const std::string& what) {
  std::string message = what;
  const std::string suggestion = nearest(key, known);
  if (!suggestion.empty()) {
    message += "; did you mean '" + joinPath(parent, suggestion) + "'?";
  } else if (!known.empty()) {
    message += "; known: " + joinNames(known);
  }
  throw SpecError(value.keyOrigin().describe() + ": " + joinPath(parent, key) +
                  ": " + message);
}

std::string typeOf(const Node& node) {
  switch (node.scalarType()) {
    case ScalarType::kNull:
      return "null";
    case ScalarType::kBool:
      return "bool";
    case ScalarType::kInt:
      return "int";
    case ScalarType::kFloat:
      return "float";
    case ScalarType::kString:
      break;
  }
  return "string";
}

void flattenInto(const Node& node, const std::string& key,
                 std::vector<FlatParam>& out) {
  if (node.isMap()) {
    for (const auto& [name, value] : node.entries()) {
      flattenInto(value, joinPath(key, name), out);
    }
  } else if (node.isList()) {
    const auto& items = node.items();
    const bool scalars = std::all_of(
        items.begin(), items.end(),
        [](auto& item) { return item.isScalar() || item.isNull(); });
    if (scalars) {
      out.push_back({key, "list", toFlowYaml(node)});
      return;
    }
    for (std::size_t i = 0; i < items.size(); ++i) {
      flattenInto(items[i], joinPath(key, std::to_string(i)), out);
    }
  } else {
    out.push_back({key, typeOf(node), node.isNull() ? "null" : node.text()});
  }
}

class Validator {
 public:
  Validator(const Schema& schema, const PluginSchemaLookup& plugin_schema)
      : schema_(schema), plugin_schema_(plugin_schema) {}

  // Validates the map of section `path` ("" for the root) and fills its
  // defaults.
  void section(Node& map, const std::string& path) {
    const std::vector<std::string> known = childrenOf(path);
    for (auto& [key, value] : map.entries()) {
      const std::string full = joinPath(path, key);
      if (const Field* field = findField(full)) {
        checkValue(value, field->type, field->choices, field->range, full);
      } else if (const PluginSlot* slot = findSlot(full)) {
        pluginSlot(value, *slot, full);
      } else if (isSection(full)) {
        if (value.isNull()) value = Node::map(value.origin());
        if (!value.isMap()) {
          fail(value, full, "expected a map, found " + value.describeValue());
        }
        section(value, full);
      } else {
        unknownKey(value, path, key, known, "unknown key");
      }
    }
    for (const std::string& key : known) {
      if (map.find(key) == nullptr) fillMissing(map, path, key);
    }
  }

 private:
  void fillMissing(Node& map, const std::string& path, const std::string& key) {
    const std::string full = joinPath(path, key);
    if (const Field* field = findField(full)) {
      if (field->required) {
        fail(map, full,
             std::string("missing required key; expected ") +
                 paramTypeName(field->type) + removal(map, key));
      }
      // Optional without a default: may stay absent.
      if (!field->default_yaml.empty()) {
        map.set(key, defaultValue(field->default_yaml, field->type,
                                  field->choices, field->range, full, map));
      }
    } else if (const PluginSlot* slot = findSlot(full)) {
      if (slot->default_name.empty()) {
        fail(map, full,
             std::string("missing required key; expected a ") +
                 pluginKindName(slot->kind) + " plugin" + removal(map, key));
      }
      Node name = Node::scalar(slot->default_name, true, defaultOrigin(map));
      Node value = name;
      if (slot->is_list) {
        value = Node::list(defaultOrigin(map));
        value.push(name);
      }
      pluginSlot(value, *slot, full);
      map.set(key, std::move(value));
    } else {
      // A missing section is created so its defaults get filled; missing
      // required keys in it are reported at the enclosing map.
      Node created = Node::map(map.origin());
      section(created, full);
      map.set(key, std::move(created));
    }
  }

  void pluginSlot(Node& value, const PluginSlot& slot,
                  const std::string& path) {
    if (!slot.is_list) {
      plugin(value, slot, path);
      return;
    }
    if (!value.isList()) {
      fail(value, path,
           std::string("expected a list of ") + pluginKindName(slot.kind) +
               " plugins, found " + value.describeValue());
    }
    for (std::size_t i = 0; i < value.items().size(); ++i) {
      plugin(value.items()[i], slot, joinPath(path, std::to_string(i)));
    }
  }

  // One plugin instance: a map with `name` and the plugin's parameters, or
  // just the name as shorthand for {name: ...}.
  void plugin(Node& value, const PluginSlot& slot, const std::string& path) {
    const std::string kind = pluginKindName(slot.kind);
    const std::string name_key = joinPath(path, "name");
    if (value.isScalar()) {
      Node map = Node::map(value.origin());
      map.set("name", std::move(value));
      value = std::move(map);
    }
    if (!value.isMap()) {
      fail(value, path,
           "expected a " + kind + " plugin (a name, or a map with 'name'), " +
               "found " + value.describeValue());
    }
    if (value.find("name") == nullptr) {
      if (slot.default_name.empty()) {
        fail(value, name_key,
             "missing required key; expected the " + kind + " plugin name" +
                 removal(value, "name"));
      }
      value.set("name",
                Node::scalar(slot.default_name, true, defaultOrigin(value)));
    }
    // Copied: filling defaults below may move the map's entries.
    const Node name = *value.find("name");
    checkValue(name, ParamType::kString, "", "", name_key);
    if (!plugin_schema_) return;  // no plugins: parameters stay as written
    std::vector<ParamSpec> specs;
    try {
      specs = plugin_schema_(slot.kind, name.text());
    } catch (const std::exception& error) {
      fail(name, name_key, error.what());
    }

    std::vector<std::string> known;
    for (const ParamSpec& spec : specs) known.push_back(spec.name);
    for (auto& [key, param] : value.entries()) {
      if (key == "name") continue;
      if (slot.is_list && key == kInstanceLabel) {
        checkValue(param, ParamType::kString, "", "", joinPath(path, key));
        continue;
      }
      auto spec = std::find(known.begin(), known.end(), key);
      if (spec == known.end()) {
        unknownKey(
            param, path, key, known,
            "unknown parameter of " + kind + " plugin '" + name.text() + "'");
      }
      const ParamSpec& declared = specs[spec - known.begin()];
      checkValue(param, declared.type, textOf(declared.choices),
                 textOf(declared.range), joinPath(path, key));
    }
    for (const ParamSpec& spec : specs) {
      if (value.find(spec.name) != nullptr) continue;
      const std::string full = joinPath(path, spec.name);
      if (spec.default_yaml == nullptr) {
        fail(value, full,
             "missing required parameter of " + kind + " plugin '" +
                 name.text() + "'; expected " + paramTypeName(spec.type) +
                 removal(value, spec.name));
      }
      value.set(spec.name,
                defaultValue(spec.default_yaml, spec.type, textOf(spec.choices),
                             textOf(spec.range), full, value));
    }
  }

  static std::string textOf(const char* declared) {
    return declared == nullptr ? "" : declared;
  }

  const Field* findField(const std::string& path) const {
    auto it = std::find_if(schema_.fields.begin(), schema_.fields.end(),
                           [&](const Field& f) { return f.path == path; });
    return it == schema_.fields.end() ? nullptr : &*it;
  }

  const PluginSlot* findSlot(const std::string& path) const {
    auto it = std::find_if(schema_.slots.begin(), schema_.slots.end(),
                           [&](const PluginSlot& s) { return s.path == path; });
    return it == schema_.slots.end() ? nullptr : &*it;
  }

  // Every declared path: fields and slots.
  std::vector<std::string> declaredPaths() const {
    std::vector<std::string> paths;
    for (const Field& field : schema_.fields) paths.push_back(field.path);
    for (const PluginSlot& slot : schema_.slots) paths.push_back(slot.path);
    return paths;
  }

  bool isSection(const std::string& path) const {
    const std::string prefix = path + ".";
    for (const std::string& declared : declaredPaths()) {
      if (declared.rfind(prefix, 0) == 0) return true;
    }
    return false;
  }

  // Keys declared directly under section `path`, in declaration order.
  std::vector<std::string> childrenOf(const std::string& path) const {
    const std::string prefix = path.empty() ? "" : path + ".";
    std::vector<std::string> children;
    for (const std::string& declared : declaredPaths()) {
      if (declared.rfind(prefix, 0) != 0) continue;
      const std::string rest = declared.substr(prefix.size());
      const std::string child = rest.substr(0, rest.find('.'));
      if (std::find(children.begin(), children.end(), child) ==
          children.end()) {
        children.push_back(child);
      }
    }
    return children;
  }

  const Schema& schema_;
  const PluginSchemaLookup& plugin_schema_;
};

}  // namespace

void validate(Node& root, const Schema& schema,
              const PluginSchemaLookup& plugin_schema) {
  if (!root.isMap()) {
    throw SpecError(root.origin().describe() +
                    ": expected a map at the top level, found " +
                    root.describeValue());
  }
  Validator(schema, plugin_schema).section(root, "");
}

ParamValue toParamValue(const Node& node, ParamType type,
                        const std::string& key) {
  switch (type) {
    case ParamType::kInt:
      return expectScalar(node, type, key, {ScalarType::kInt}).asInt();
    case ParamType::kFloat:
      return expectScalar(node, type, key,
                          {ScalarType::kInt, ScalarType::kFloat})
          .asDouble();
    case ParamType::kBool:
      return expectScalar(node, type, key, {ScalarType::kBool}).asBool();
    case ParamType::kString:
      // Like OmegaConf, any written scalar is accepted as a string.
      return expectScalar(node, type, key,
                          {ScalarType::kString, ScalarType::kInt,
                           ScalarType::kFloat, ScalarType::kBool})
          .text();
    case ParamType::kIntList:
      return readList<std::int64_t>(node, type, ParamType::kInt, key);
    case ParamType::kFloatList:
      return readList<double>(node, type, ParamType::kFloat, key);
    case ParamType::kStringList:
      return readList<std::string>(node, type, ParamType::kString, key);
    case ParamType::kIntOrAuto:
      if (node.isScalar() && node.text() == "auto") return std::int64_t{-1};
      if (node.isScalar() && node.scalarType() == ScalarType::kInt &&
          node.asInt() >= 0) {
        return node.asInt();
      }
      fail(node, key, node.mismatch(type));
    case ParamType::kBoolOrStringList:
      if (node.isScalar() && node.scalarType() == ScalarType::kBool) {
        return node.asBool();
      }
      if (node.isList()) {
        return readList<std::string>(node, type, ParamType::kString, key);
      }
      fail(node, key, node.mismatch(type));
  }
  fail(node, key, "undeclared parameter type");
}

Params pluginParams(const Node& slot_map, const std::vector<ParamSpec>& specs) {
  std::map<std::string, ParamValue> values;
  for (const ParamSpec& spec : specs) {
    const Node* value = slot_map.find(spec.name);
    if (value == nullptr) {
      throw SpecError(slot_map.origin().describe() + ": " + spec.name +
                      ": missing");
    }
    values.emplace(spec.name, toParamValue(*value, spec.type, spec.name));
  }
  return Params(std::move(values));
}

std::vector<FlatParam> flatten(const Node& root) {
  std::vector<FlatParam> out;
  flattenInto(root, "", out);
  return out;
}

std::string nearest(const std::string& word,
                    const std::vector<std::string>& candidates) {
  // Levenshtein distance with one rolling row.
  auto distance = [&](const std::string& other) {
    std::vector<std::size_t> row(other.size() + 1);
    std::iota(row.begin(), row.end(), 0);
    for (std::size_t i = 1; i <= word.size(); ++i) {
      std::size_t diagonal = row[0];
      row[0] = i;
      for (std::size_t j = 1; j <= other.size(); ++j) {
        const std::size_t above = row[j];
        row[j] = std::min({row[j] + 1, row[j - 1] + 1,
                           diagonal + (word[i - 1] == other[j - 1] ? 0 : 1)});
        diagonal = above;
      }
    }
    return row.back();
  };
  const std::size_t limit = std::max<std::size_t>(2, word.size() / 3);
  std::string best;
  std::size_t best_distance = limit + 1;
  for (const std::string& candidate : candidates) {
    const std::size_t d = distance(candidate);
    if (d < best_distance) {
      best = candidate;
      best_distance = d;
    }
  }
  return best;
}

}  // namespace labrun::spec
