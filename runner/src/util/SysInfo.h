// Facts about the machine and the source tree recorded with every run.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace labrun::util {

std::string hostName();

// The file name of the executable that process `pid` of this host runs
// ("labrun-torch"), or nullopt when it cannot be read (no such process, a
// zombie, or another user's).
std::optional<std::string> processProgram(std::int64_t pid);
// When process `pid` of this host started (unix seconds, to the clock tick),
// or nullopt when it cannot be read.
std::optional<double> processStartTime(std::int64_t pid);

struct GitState {
  std::string commit;  // "" when `dir` is not inside a git work tree
  bool dirty = false;
};
// Commit and dirty flag of the repository containing `dir` (uses `git`).
GitState gitState(const std::string& dir);

std::string torchVersion();
std::string opencvVersion();

}  // namespace labrun::util
