// Facts about the machine and the source tree recorded with every run.
#pragma once

#include <string>

namespace labrun::util {

std::string hostName();

struct GitState {
  std::string commit;  // "" when `dir` is not inside a git work tree
  bool dirty = false;
};
// Commit and dirty flag of the repository containing `dir` (uses `git`).
GitState gitState(const std::string& dir);

// The process's peak resident set size so far, in MiB (getrusage's
// ru_maxrss). On Linux a process started by exec inherits the peak of the
// image it replaced (a sweep's forked child: the sweep's own size).
double peakRssMiB();

std::string torchVersion();
std::string opencvVersion();

}  // namespace labrun::util
