// The spec reference (docs/SPEC.md) as Markdown, generated from the declared
// schemas so that it cannot drift from what the validator accepts.
#pragma once

#include <ostream>
#include <string>
#include <vector>

#include "labrun/ParamSpec.h"
#include "spec/Schema.h"

namespace labrun::cli {

// What the reference shows of one plugin (no LibTorch types, so that this
// code builds and is tested without LibTorch).
struct PluginDoc {
  std::string kind;  // "backbone", "head", "loss", "metric"
  std::string name;
  std::string version;
  std::string summary;
  std::vector<ParamSpec> params;
};

// Writes the core keys (grouped by their first path component, in declared
// order), the plugin slots, then every plugin in `plugins` (sorted by kind,
// then name) with its parameters: key, type, default and doc per table row.
// `refresh_command` is quoted in the header as the way to regenerate it.
void writeSpecMarkdown(const spec::Schema& core, std::vector<PluginDoc> plugins,
                       const std::string& refresh_command, std::ostream& out);

}  // namespace labrun::cli
