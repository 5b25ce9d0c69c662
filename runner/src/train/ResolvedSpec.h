// A spec resolved for use: loaded with its bases, overridden, interpolated,
// validated against the core schema and, through a lookup, the named
// plugins' parameters. No LibTorch here: `labrun prepare` resolves without
// plugins in the front end; the other commands pass the lookup of their
// plugins::PluginHost (PluginHost::schemaLookup).
#pragma once

#include <string>
#include <vector>

#include "spec/Node.h"
#include "spec/Schema.h"

namespace labrun::train {

struct ResolvedSpec {
  spec::Node tree;  // validated, defaults filled: what the run uses
  // `tree` as recorded: values from environment variables outside
  // spec::kRecordableEnv stay ${env:...} (see spec::recordedForm).
  spec::Node recorded;
  std::string path;  // the spec file it came from
  std::string yaml;  // `recorded` as stored and printed by --dry-run
};

// Loads `path` with its bases, applies `overrides`, resolves interpolations
// and validates against the core schema and, through `plugin_params`, the
// named plugins' schemas. An empty `plugin_params` leaves the plugin slots
// as written (spec::validate), and an override may then set any key of a
// slot. Throws spec::SpecError (a usage error) on the first problem.
ResolvedSpec resolveSpec(const std::string& path,
                         const std::vector<std::string>& overrides,
                         const spec::PluginSchemaLookup& plugin_params);
// Validates an already resolved spec again (a run's stored spec, to resume
// or evaluate it), resolving its ${env:...} values from the environment of
// now; `label` names it in errors, `path` is its original file.
ResolvedSpec resolveStoredSpec(const std::string& yaml,
                               const std::string& label,
                               const std::string& path,
                               const spec::PluginSchemaLookup& plugin_params);

}  // namespace labrun::train
