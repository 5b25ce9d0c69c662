// `labrun plugins`: the plugins found and their parameters.
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cstring>
#include <iostream>
#include <vector>

#include "cli/Training.h"

namespace labrun::cli {
namespace {

std::string defaultText(const ParamSpec& param) {
  return param.default_yaml ? param.default_yaml : "(required)";
}

// One line per parameter, in columns as wide as the plugin's widest entry
// (at least those of the short names), so that each column starts at the
// same place.
void printParams(const std::vector<ParamSpec>& params) {
  std::size_t name_width = 12, type_width = 18, default_width = 16;
  for (const ParamSpec& param : params) {
    name_width = std::max(name_width, std::strlen(param.name));
    type_width = std::max(type_width, std::strlen(paramTypeName(param.type)));
    default_width = std::max(default_width, defaultText(param).size());
  }
  for (const ParamSpec& param : params) {
    std::cout << fmt::format(
        "  {:<{}} {:<{}} default {:<{}} {}{}{}\n", param.name, name_width,
        paramTypeName(param.type), type_width, defaultText(param),
        default_width, param.doc,
        param.choices ? fmt::format(" (one of {})", param.choices) : "",
        param.range ? fmt::format(" (range {})", param.range) : "");
  }
}

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
    printParams(plugin->params());
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
