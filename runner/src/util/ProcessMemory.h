// This process's memory as the kernel accounts it (/proc/self/status).
// Header-only, so that the benchmarks of the model-only build read it the
// same way without one more library.
#pragma once

#include <fstream>
#include <optional>
#include <string>

namespace labrun::util {

// A field of /proc/self/status given in kB ("VmRSS": resident now,
// "VmHWM": its peak), in MiB; nullopt when the field is absent.
inline std::optional<double> procStatusMiB(const std::string& field) {
  std::ifstream status("/proc/self/status");
  for (std::string line; std::getline(status, line);) {
    if (line.rfind(field + ":", 0) == 0) {
      return std::stod(line.substr(field.size() + 1)) / 1024.0;
    }
  }
  return std::nullopt;
}

// This process image's peak resident set size so far, in MiB (VmHWM). Not
// getrusage's ru_maxrss: it survives execve, so a run started by a larger
// process (a sweep's forked child) would report at least that process's
// size. 0 when unknown.
inline double peakRssMiB() { return procStatusMiB("VmHWM").value_or(0); }

}  // namespace labrun::util
