// `labrun compare`: recorded runs side by side (parameters that differ,
// validation metrics, per-class AP with deltas against the first run).
#pragma once

#include <ostream>
#include <string>
#include <vector>

#include "cli/Commands.h"
#include "cli/RunComparison.h"

namespace labrun::cli {

struct CompareArgs {
  std::vector<std::string> runs;  // run references
  std::string sweep;              // or a sweep id
  bool csv = false;
};

int compareCommand(const GlobalOptions& global, const CompareArgs& args);

// Text: one aligned table per section. CSV: one table with columns
// section,key,stat, one value column per run (named by uuid) and one
// delta_<uuid> column per run after the first.
void printComparison(const Comparison& comparison, bool csv, std::ostream& out);

}  // namespace labrun::cli
