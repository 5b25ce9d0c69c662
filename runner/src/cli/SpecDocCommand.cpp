// `labrun spec-doc`: the spec reference (docs/SPEC.md) from the core schema
// and the declared parameters of the plugins found.
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <CLI/CLI.hpp>
#include <fstream>
#include <iostream>
#include <sstream>

#include "cli/OutputFiles.h"
#include "cli/SpecDoc.h"
#include "cli/Training.h"
#include "plugins/PluginHost.h"
#include "train/CoreSchema.h"

namespace labrun::cli {
namespace {

// Writes the Markdown to `output` ("-": standard output). Plugins come from
// the usual search path, so a plugin that fails to load is an error here:
// the reference would silently lack it.
int writeSpecDoc(const GlobalOptions& global, const std::string& output) {
  if (output != "-") {
    checkOutputFiles(global, "spec-doc -o", {output}, /*inputs=*/{});
  }
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

class SpecDocCommand : public Command {
 public:
  CLI::App* add(CLI::App& app) override {
    auto* spec_doc = app.add_subcommand(
        "spec-doc",
        "Write the spec reference (every core and plugin key with type, "
        "default and doc) as Markdown, as in docs/SPEC.md");
    spec_doc
        ->add_option("--output,-o", output_,
                     "File to write ('-': standard output)")
        ->capture_default_str()
        ->check(outputFile(/*standard_output=*/true));
    return spec_doc;
  }

  int run(const GlobalOptions& global) override {
    return writeSpecDoc(global, output_);
  }

 private:
  std::string output_ = "-";
};

}  // namespace

LABRUN_COMMAND(SpecDocCommand, "spec-doc", 120)

}  // namespace labrun::cli
