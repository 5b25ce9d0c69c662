// `labrun sweep`: one run per combination of the comma lists in the
// overrides, each a `labrun run` child process tagged with the sweep id.
#pragma once

#include <string>
#include <vector>

#include "cli/Commands.h"

namespace labrun::cli {

struct SweepArgs {
  std::string spec;
  std::vector<std::string> overrides;  // a.b=1,2 sweeps; a.b=1 is fixed
  int parallel = 1;                    // runs at a time
  ProgressArgs progress;               // passed on to every run
};

// Validates every combination first (a spec error: exit 2, nothing run),
// then runs them, prints a line per finished run and the comparison of the
// sweep. 0 when every run finished, else 1.
int sweepCommand(const GlobalOptions& global, const SweepArgs& args);

// "240611-093412-3fa2": start time (UTC) and 16 random bits.
std::string newSweepId();

}  // namespace labrun::cli
