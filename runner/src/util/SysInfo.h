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

std::string torchVersion();
std::string opencvVersion();

}  // namespace labrun::util
