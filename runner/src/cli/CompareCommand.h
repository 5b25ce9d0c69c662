// `labrun compare`: recorded runs side by side (parameters that differ,
// validation metrics, per-class AP with deltas against the first run). The
// command registers itself; the printer is shared with `labrun sweep`.
#pragma once

#include <ostream>

#include "cli/RunComparison.h"

namespace labrun::cli {

// Text: one aligned table per section. CSV: one table with columns
// section,key,stat, one value column per run (named by uuid) and one
// delta_<uuid> column per run after the first.
void printComparison(const Comparison& comparison, bool csv, std::ostream& out);

}  // namespace labrun::cli
