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

// This process image's peak resident set size so far, in MiB (VmHWM of
// /proc/self/status). Not getrusage's ru_maxrss: it survives execve, so a
// run started by a larger process (a sweep's forked child) would report at
// least that process's size. 0 when unknown.
double peakRssMiB();

std::string torchVersion();
std::string opencvVersion();

}  // namespace labrun::util
