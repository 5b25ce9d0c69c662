#include "cli/SpecDocCommand.h"

#include <fmt/format.h>

#include <fstream>
#include <iostream>
#include <sstream>

#include "cli/SpecDoc.h"
#include "plugins/PluginHost.h"
#include "train/CoreSchema.h"

namespace labrun::cli {

int specDocCommand(const GlobalOptions& global, const std::string& output) {
  const plugins::PluginHost host = loadPlugins(global);
  if (!host.problems().empty()) {
    throw plugins::PluginError(
        fmt::format("spec-doc: some plugin files could not be loaded: {}",
                    fmt::join(host.problems(), "; ")));
  }
  std::vector<PluginDoc> docs;
  for (const plugins::LoadedPlugin* plugin : host.all()) {
    const PluginDescriptor& d = *plugin->descriptor;
    docs.push_back({pluginKindName(d.kind), d.name, d.version, d.summary,
                    plugin->params()});
  }
  std::ostringstream text;
  writeSpecMarkdown(train::coreSchema(), std::move(docs),
                    "build/bin/labrun spec-doc -o docs/SPEC.md", text);
  if (output == "-") {
    std::cout << text.str();
    return kOk;
  }
  std::ofstream file(output, std::ios::binary);
  file << text.str();
  file.close();
  if (!file) {
    throw std::runtime_error("spec-doc: cannot write '" + output + "'");
  }
  return kOk;
}

}  // namespace labrun::cli
