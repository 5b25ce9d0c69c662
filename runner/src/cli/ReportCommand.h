// `labrun report`: one self-contained HTML page on recorded runs (curves,
// per-class AP, differing hyperparameters, provenance).
#pragma once

#include <string>
#include <vector>

#include "cli/Commands.h"

namespace labrun::cli {

struct ReportArgs {
  std::vector<std::string> runs;  // run references
  std::string sweep;              // or a sweep id
  std::string output = "report.html";
};

int reportCommand(const GlobalOptions& global, const ReportArgs& args);

}  // namespace labrun::cli
