// Options that several commands share, declared once.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "cli/TablePrinter.h"

namespace CLI {
class App;
class Validator;
}
namespace labrun::dist {
struct LaunchOptions;
}

namespace labrun::cli {

// The footer of every command's --help.
inline constexpr const char* kExitCodes =
    "Exit codes: 0 ok, 1 run failed or stopped, 2 usage or spec error.";

struct ProgressArgs {
  bool quiet = false;
  std::int64_t log_every = -1;  // -1: the spec's train.log_every
};

// --quiet and --log-every.
void addProgressFlags(CLI::App* command, ProgressArgs& progress);

// The runs a command works on: listed, or every run of one sweep.
void addRunsOrSweep(CLI::App* command, std::vector<std::string>& runs,
                    std::string& sweep);

// An integer option's lower bound, said as "expected an integer >= LOW,
// found TEXT" (CLI11's PositiveNumber prints its upper bound, 1.8e308, in
// 300 digits).
CLI::Validator atLeast(std::int64_t low);

// Data-parallel runs (docs/DISTRIBUTED.md); resume derives nproc from the
// run's recorded world size.
void addLaunchFlags(CLI::App* command, dist::LaunchOptions& launch,
                    bool with_nproc);

// --csv or --json (default: an aligned text table).
struct FormatFlags {
  bool csv = false;
  bool json = false;
  void add(CLI::App* command);
  TableFormat format() const;
};

}  // namespace labrun::cli
