// `labrun plugins`: the plugins found and their parameters.
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <CLI/CLI.hpp>
#include <iostream>

#include "cli/Training.h"

namespace labrun::cli {
namespace {

int listPlugins(const GlobalOptions& global, const std::string& name) {
  const plugins::PluginHost host = loadPlugins(global);
  bool found = false;
  std::vector<std::string> known;
  for (const plugins::LoadedPlugin* plugin : host.all()) {
    const PluginDescriptor& d = *plugin->descriptor;
    known.push_back(d.name);
    if (!name.empty() && name != d.name) continue;
    found = true;
    std::cout << fmt::format("{} {} {}  {}\n  file: {}\n",
                             pluginKindName(d.kind), d.name, d.version,
                             d.summary, plugin->file);
    for (const ParamSpec& param : plugin->params()) {
      std::cout << fmt::format(
          "  {:<12} {:<18} default {:<16} {}{}{}\n", param.name,
          paramTypeName(param.type),
          param.default_yaml ? param.default_yaml : "(required)", param.doc,
          param.choices ? fmt::format(" (one of {})", param.choices) : "",
          param.range ? fmt::format(" (range {})", param.range) : "");
    }
  }
  if (!name.empty() && !found) {
    throw plugins::PluginError(fmt::format("unknown plugin '{}'; known: {}",
                                           name, fmt::join(known, ", ")));
  }
  return kOk;
}

class PluginsCommand : public Command {
 public:
  CLI::App* add(CLI::App& app) override {
    auto* plugins = app.add_subcommand(
        "plugins", "List the plugins found and their parameters");
    plugins->add_option("name", name_, "Show only this plugin");
    return plugins;
  }

  int run(const GlobalOptions& global) override {
    return listPlugins(global, name_);
  }

 private:
  std::string name_;
};

}  // namespace

LABRUN_COMMAND(PluginsCommand, "plugins", 110)

}  // namespace labrun::cli
