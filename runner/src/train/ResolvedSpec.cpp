#include "train/ResolvedSpec.h"

#include "spec/SpecLoader.h"
#include "train/CoreSchema.h"

namespace labrun::train {
namespace {

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
  spec::applyOverrides(resolved.tree, overrides, /*schema_validated=*/true);
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
