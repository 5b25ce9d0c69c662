#include "train/ResolvedSpec.h"

#include <exception>

#include "spec/SpecLoader.h"
#include "train/CoreSchema.h"

namespace labrun::train {
namespace {

// Whether `key` is declared by the core schema or by the plugin a slot of
// `root` names: such keys have defaults, so `key=value` may set them.
// Without `plugin_params` a slot's keys are not known, so all may be set.
bool isDeclared(const spec::Node& root, const std::string& key,
                const spec::PluginSchemaLookup& plugin_params) {
  const spec::Schema& schema = coreSchema();
  for (const auto& field : schema.fields) {
    if (field.path == key) return true;
  }
  for (const auto& slot : schema.slots) {
    if (slot.is_list || key.rfind(slot.path + ".", 0) != 0) continue;
    if (!plugin_params) return true;
    const std::string param = key.substr(slot.path.size() + 1);
    const spec::Node* name = root.findPath(slot.path + ".name");
    const std::string plugin = name != nullptr && name->isScalar()
                                   ? name->asString()
                                   : slot.default_name;
    try {
      for (const auto& declared : plugin_params(slot.kind, plugin)) {
        if (param == declared.name) return true;
      }
    } catch (const std::exception&) {
      return false;  // validation reports the unknown plugin
    }
  }
  return false;
}

// Interpolates and validates `resolved.tree`, then makes its recorded form.
void finishResolving(ResolvedSpec& resolved,
                     const spec::PluginSchemaLookup& plugin_params) {
  const auto env_derived = spec::resolveInterpolations(resolved.tree);
  spec::validate(resolved.tree, coreSchema(), plugin_params);
  resolved.recorded = spec::recordedForm(resolved.tree, env_derived);
  resolved.yaml = spec::toYaml(resolved.recorded);
}

}  // namespace

ResolvedSpec resolveSpec(const std::string& path,
                         const std::vector<std::string>& overrides,
                         const spec::PluginSchemaLookup& plugin_params) {
  ResolvedSpec resolved;
  resolved.path = path;
  resolved.tree = spec::loadSpecFile(path);
  spec::applyOverrides(
      resolved.tree, overrides,
      [&plugin_params](const spec::Node& root, const std::string& key) {
        return isDeclared(root, key, plugin_params);
      });
  finishResolving(resolved, plugin_params);
  return resolved;
}

ResolvedSpec resolveStoredSpec(const std::string& yaml,
                               const std::string& label,
                               const std::string& path,
                               const spec::PluginSchemaLookup& plugin_params) {
  ResolvedSpec resolved;
  resolved.path = path;
  spec::Origin origin;
  origin.file = label;
  resolved.tree = spec::parseYamlText(yaml, origin);
  finishResolving(resolved, plugin_params);
  return resolved;
}

}  // namespace labrun::train
