// Shared by the libFuzzer targets: the parsers under test read files, so an
// input is written to a file first; and the one outcome allowed besides
// success is a clean error, an exception of the project's error types.
#pragma once

#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>

namespace labrun::fuzz {

// A folder of this process's own under the system temp folder (fuzzers run
// in parallel jobs), removed at exit.
inline const std::filesystem::path& scratchDir() {
  struct Dir {
    std::filesystem::path path = std::filesystem::temp_directory_path() /
                                 ("labrun-fuzz-" + std::to_string(::getpid()));
    Dir() { std::filesystem::create_directories(path); }
    ~Dir() {
      std::error_code ignored;
      std::filesystem::remove_all(path, ignored);
    }
  };
  static const Dir dir;
  return dir.path;
}

// Writes `size` bytes to `name` in the scratch folder; returns its path.
inline std::string writeInput(const std::string& name, const std::uint8_t* data,
                              std::size_t size) {
  const std::filesystem::path path = scratchDir() / name;
  std::filesystem::create_directories(path.parent_path());
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(data),
            static_cast<std::streamsize>(size));
  if (!out) throw std::logic_error("cannot write " + path.string());
  return path.string();
}

// Runs `parse`; a clean error (std::runtime_error, which SpecError derives
// from, or std::invalid_argument) is a pass. Anything else escapes: the
// fuzzer reports it as a crash.
template <class F>
int expectCleanErrors(F&& parse) {
  try {
    parse();
  } catch (const std::runtime_error&) {
  } catch (const std::invalid_argument&) {
  }
  return 0;
}

}  // namespace labrun::fuzz
