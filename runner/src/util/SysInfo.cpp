#include "util/SysInfo.h"

#include <torch/version.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <opencv2/core/version.hpp>
#include <sstream>
#include <system_error>

namespace labrun::util {
namespace {

// Runs a shell command and returns its stdout, or nullopt-like "" plus false.
bool capture(const std::string& command, std::string& out) {
  std::unique_ptr<FILE, decltype(&pclose)> pipe(popen(command.c_str(), "r"),
                                                pclose);
  if (!pipe) return false;
  std::array<char, 256> buffer{};
  out.clear();
  while (fgets(buffer.data(), buffer.size(), pipe.get())) out += buffer.data();
  return pclose(pipe.release()) == 0;
}

std::string shellQuote(const std::string& text) {
  std::string quoted = "'";
  for (char c : text)
    quoted += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return quoted + "'";
}

}  // namespace

std::string hostName() {
  std::array<char, 256> name{};
  if (gethostname(name.data(), name.size() - 1) != 0) return "unknown";
  return name.data();
}

std::optional<std::string> processProgram(std::int64_t pid) {
  // The executable itself: argv[0] may be any name (a symlink, a wrapper).
  std::error_code error;
  const std::filesystem::path exe = std::filesystem::read_symlink(
      "/proc/" + std::to_string(pid) + "/exe", error);
  if (error) return std::nullopt;
  return exe.filename().string();
}

std::optional<double> processStartTime(std::int64_t pid) {
  // Field 22 of /proc/PID/stat, in clock ticks since boot; the name in
  // field 2 may hold spaces and parentheses, so fields count from its last
  // ')'.
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string text((std::istreambuf_iterator<char>(stat)),
                   std::istreambuf_iterator<char>());
  const std::size_t name_end = text.rfind(')');
  if (name_end == std::string::npos) return std::nullopt;
  std::istringstream fields(text.substr(name_end + 1));
  std::string field;
  for (int i = 3; i < 22 && fields >> field; ++i) {
  }
  unsigned long long ticks = 0;
  if (!(fields >> ticks)) return std::nullopt;
  // Boot time, from /proc/stat's "btime" line.
  std::ifstream all("/proc/stat");
  for (std::string key; all >> key;) {
    if (key != "btime") continue;
    double boot = 0;
    if (!(all >> boot)) return std::nullopt;
    return boot + static_cast<double>(ticks) /
                      static_cast<double>(::sysconf(_SC_CLK_TCK));
  }
  return std::nullopt;
}

GitState gitState(const std::string& dir) {
  GitState state;
  const std::string git = "git -C " + shellQuote(dir) + " ";
  std::string out;
  if (!capture(git + "rev-parse HEAD 2>/dev/null", out)) return state;
  state.commit = out.substr(0, out.find_first_of("\r\n"));
  if (capture(git + "status --porcelain --untracked-files=no 2>/dev/null",
              out)) {
    state.dirty = !out.empty();
  }
  return state;
}

std::string torchVersion() { return TORCH_VERSION; }

std::string opencvVersion() { return CV_VERSION; }

}  // namespace labrun::util
