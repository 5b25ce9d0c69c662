// Declared keys of the spec. The core declares its own keys; plugin slots
// (model.backbone, model.head, loss, metrics) are validated against the
// schema that the named plugin declares.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "labrun/ParamSpec.h"
#include "labrun/PluginKind.h"
#include "spec/Node.h"

namespace labrun::spec {

struct Field {
  std::string path;  // dotted, e.g. "optim.lr"
  ParamType type;
  std::string default_yaml;  // empty with `required` = true: must be given
  std::string doc;
  std::string choices;  // strings, integers: "a|b|c"; empty = any
  std::string range;    // numbers: ">= 1", "[0, 1)" (spec/Range.h)
  bool required = false;
};

// The key that names one instance of a list slot (metrics: [{name: map,
// label: voc}]): next to `name`, never a plugin parameter.
inline constexpr const char* kInstanceLabel = "label";

struct PluginSlot {
  std::string path;  // "model.head" (a map) or "metrics" (a list of maps)
  PluginKind kind;
  bool is_list = false;
  std::string default_name;  // used when the slot is absent; "" = required
  std::string doc;
};

struct Schema {
  std::vector<Field> fields;
  std::vector<PluginSlot> slots;
};

// Answers the declared parameters of plugin `name` of `kind`; throws any
// std::exception whose message explains what is wrong (e.g. "unknown head
// plugin 'fcc'; known: fc"). The validator prefixes origin and key.
using PluginSchemaLookup = std::function<std::vector<ParamSpec>(
    PluginKind kind, const std::string& name)>;

// Validates `root` in place against `schema`:
// - every key must be declared (core field, a section leading to one, a
//   plugin slot, or a parameter of the slot's plugin); an unknown key is an
//   error that suggests the nearest declared key at that level (edit
//   distance), e.g. "smoke.yaml:12:5: optim.lrr: unknown key; did you mean
//   'optim.lr'?";
// - every value must parse as its declared type; errors read
//   "file:line:column: key: expected <type>, found <what>";
// - choices (strings, integers) are enforced, listing the allowed values,
//   and so are numeric ranges: "expected an integer >= 1, found 0";
// - missing keys get their declared defaults (origin note "default"),
//   missing required keys are errors naming the enclosing map's origin;
// - plugin slot maps need `name` (or get the slot's default_name); items of
//   a list slot may also carry a string `label`;
// - an empty `plugin_schema` checks no plugin: the slots' names and
//   parameters stay as written, neither looked up nor filled (what needs no
//   plugin, like `labrun prepare`, runs without loading them).
// Throws SpecError with one line on the first problem.
void validate(Node& root, const Schema& schema,
              const PluginSchemaLookup& plugin_schema);

// Converts a validated node to a typed value (kIntOrAuto: "auto" -> -1).
ParamValue toParamValue(const Node& node, ParamType type,
                        const std::string& key);
// Typed parameters of one plugin slot map (keys other than `name`).
Params pluginParams(const Node& slot_map, const std::vector<ParamSpec>& specs);

// One flattened leaf for the run store's `params` table.
struct FlatParam {
  std::string key;    // dotted, list items by index: "metrics.0.name"
  std::string type;   // "int", "float", "bool", "string", "null"
  std::string value;  // text as written (for lists of scalars: a YAML flow
                      // list such as "[1, 2]", type "list")
};
// Flattens every leaf of a (validated) tree. Lists of scalars become one
// "list" entry; lists of maps are indexed.
std::vector<FlatParam> flatten(const Node& root);

// Nearest candidate by edit distance, or "" when none is close enough
// (distance > max(2, len/3)).
std::string nearest(const std::string& word,
                    const std::vector<std::string>& candidates);

}  // namespace labrun::spec
