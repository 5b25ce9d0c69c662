// Finds, loads and keeps alive the plugin libraries (Boost.DLL), and builds
// plugin objects from validated parameters.
#pragma once

#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "labrun/PluginDescriptor.h"
#include "plugins/PluginError.h"
#include "spec/Schema.h"

namespace labrun::plugins {

// Two libraries declare the same kind and name: ambiguous for every run.
class DuplicatePluginError : public PluginError {
 public:
  using PluginError::PluginError;
};

struct LoadedPlugin {
  const PluginDescriptor* descriptor = nullptr;
  std::string file;  // canonical path of the library
  // Keeps the library mapped; shared with every object the plugin made.
  std::shared_ptr<const void> library;

  std::string name() const { return descriptor->name; }
  PluginKind kind() const { return descriptor->kind; }
  std::vector<ParamSpec> params() const {
    return {descriptor->params, descriptor->params + descriptor->num_params};
  }
};

class PluginHost {
 public:
  // Search order: `cli_path` entries (--plugin-path), then LABRUN_PLUGIN_PATH
  // (':'-separated), then the `plugins` folder next to the executable and one
  // level above it, `../lib/labrun/plugins` from the executable's folder (an
  // installed labrun), and the executable's own folder. Missing directories
  // are skipped.
  static std::vector<std::string> searchPath(
      const std::vector<std::string>& cli_path);

  // Loads every plugin library (lib*labrun_*.so / labrun_*.so) in `dirs`, in
  // order. A file that fails to load (bad API version, missing entry point,
  // not a library) is recorded in problems() and skipped; two plugins of the
  // same kind and name throw, naming both files.
  void loadDirectories(const std::vector<std::string>& dirs);
  // Loads one library; throws PluginError explaining why it is refused.
  const LoadedPlugin& loadFile(const std::string& path);

  // Throws PluginError "unknown <kind> plugin 'x'; known: a, b" (and the
  // problems of files that failed to load, which may be the cause).
  const LoadedPlugin& find(PluginKind kind, const std::string& name) const;
  std::vector<const LoadedPlugin*> all() const;
  const std::vector<std::string>& problems() const { return problems_; }

  // The declared parameters of this host's plugins, for spec validation
  // (train::resolveSpec); the lookup refers to this host.
  spec::PluginSchemaLookup schemaLookup() const;

  // Parameters of a plugin as the spec would give them: every declared
  // default, with `overrides` on top (for code that builds plugins without
  // a spec: tests, benchmarks, per-class thresholds). A required parameter
  // missing from
  // `overrides` is a PluginError.
  Params defaultParams(PluginKind kind, const std::string& name,
                       const std::map<std::string, ParamValue>& overrides =
                           {}) const;

  // Build objects; a throwing factory becomes a PluginError naming the plugin
  // and its file. Returned objects keep their library loaded.
  std::shared_ptr<Backbone> makeBackbone(const std::string& name,
                                         const Params& params,
                                         const ModelContext& context) const;
  std::shared_ptr<Head> makeHead(const std::string& name, const Params& params,
                                 const ModelContext& context) const;
  std::shared_ptr<Loss> makeLoss(const std::string& name, const Params& params,
                                 const ModelContext& context) const;
  std::shared_ptr<Metric> makeMetric(const std::string& name,
                                     const Params& params,
                                     const ModelContext& context) const;

 private:
  template <typename T, typename Factory>
  std::shared_ptr<T> build(PluginKind kind, const std::string& name,
                           Factory factory, const Params& params,
                           const ModelContext& context) const;

  std::vector<std::unique_ptr<LoadedPlugin>> plugins_;
  std::vector<std::string> problems_;
};

}  // namespace labrun::plugins
