// The one symbol a plugin library exports. The host reads api_version first
// and refuses a library built against another plugin API.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>

#include "labrun/Backbone.h"
#include "labrun/Export.h"
#include "labrun/Head.h"
#include "labrun/Loss.h"
#include "labrun/Metric.h"
#include "labrun/ModelContext.h"
#include "labrun/ParamSpec.h"
#include "labrun/PluginKind.h"

namespace labrun {

// Bump on any change to the descriptor, the interfaces or ModelContext.
constexpr std::uint32_t kPluginApiVersion = 5;

struct PluginDescriptor {
  // Must stay the first member so that any version can read it.
  std::uint32_t api_version;
  PluginKind kind;
  const char* name;
  const char* version;
  const char* summary;
  const ParamSpec* params;
  std::size_t num_params;
  // Exactly the factory matching `kind` is set; the others are nullptr.
  // Factories may throw; the host reports the message with the plugin name.
  std::shared_ptr<Backbone> (*make_backbone)(const Params&,
                                             const ModelContext&);
  std::shared_ptr<Head> (*make_head)(const Params&, const ModelContext&);
  std::shared_ptr<Loss> (*make_loss)(const Params&, const ModelContext&);
  std::shared_ptr<Metric> (*make_metric)(const Params&, const ModelContext&);
};

}  // namespace labrun

// Name of the exported entry point, looked up with boost::dll::import.
#define LABRUN_PLUGIN_ENTRY_SYMBOL "labrun_plugin_descriptor"

// Defines the plugin's exported entry point returning `descriptor`.
#define LABRUN_PLUGIN(descriptor)                                      \
  extern "C" LABRUN_PLUGIN_EXPORT const ::labrun::PluginDescriptor*    \
  labrun_plugin_descriptor() {                                         \
    return &(descriptor);                                              \
  }
