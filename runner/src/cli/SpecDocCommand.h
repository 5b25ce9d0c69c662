// `labrun spec-doc`: the spec reference (docs/SPEC.md) from the core schema
// and the declared parameters of the plugins found.
#pragma once

#include <string>

#include "cli/Commands.h"

namespace labrun::cli {

// Writes the Markdown to `output` ("-": standard output). Plugins come from
// the usual search path, so a plugin that fails to load is an error here:
// the reference would silently lack it.
int specDocCommand(const GlobalOptions& global, const std::string& output);

}  // namespace labrun::cli
