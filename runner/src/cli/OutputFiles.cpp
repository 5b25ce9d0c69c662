#include "cli/OutputFiles.h"

#include <fmt/format.h>

#include <CLI/CLI.hpp>
#include <filesystem>

#include "cli/StoreAccess.h"
#include "spec/SpecError.h"

namespace labrun::cli {
namespace fs = std::filesystem;
namespace {

const char* kindOf(fs::file_type type) {
  switch (type) {
    case fs::file_type::directory:
      return "a folder";
    case fs::file_type::symlink:
      return "a symbolic link";
    case fs::file_type::fifo:
      return "a FIFO";
    case fs::file_type::socket:
      return "a socket";
    case fs::file_type::block:
    case fs::file_type::character:
      return "a device";
    default:
      return "not a regular file";
  }
}

// The path with links and '..' resolved as far as it exists: absolute
// first, since weakly_canonical leaves a path relative when its first
// component does not exist.
fs::path resolved(const fs::path& path) {
  std::error_code error;
  const fs::path absolute = fs::absolute(path, error);
  const fs::path canonical = fs::weakly_canonical(absolute, error);
  return error ? absolute.lexically_normal() : canonical;
}

// The same file: equivalent() for files that exist (any spelling, links),
// the resolved paths otherwise (a store's -wal file that is not there now).
bool sameFile(const fs::path& a, const fs::path& b) {
  std::error_code error;
  return fs::equivalent(a, b, error) || resolved(a) == resolved(b);
}

}  // namespace

std::string outputFileProblem(const std::string& path) {
  if (path.empty()) return "an empty file name; expected a file to write";
  std::error_code error;
  const fs::file_status status = fs::symlink_status(path, error);
  if (fs::exists(status) && !fs::is_regular_file(status)) {
    return fmt::format(
        "{}: {}, expected a file name{}", path, kindOf(status.type()),
        status.type() == fs::file_type::symlink
            ? " (name the file it points to)"
            : "");
  }
  const fs::path folder = fs::absolute(path, error).parent_path();
  if (!fs::is_directory(folder, error)) {
    return fmt::format("{}: no such folder {}", path, folder.string());
  }
  return "";
}

CLI::Validator outputFile(bool standard_output) {
  return CLI::Validator(
      [standard_output](std::string& path) -> std::string {
        if (path != "-") return outputFileProblem(path);
        return standard_output
                   ? ""
                   : "'-' (standard output) is not taken here; expected a "
                     "file name";
      },
      "FILE", "a file to write");
}

void checkOutputFiles(const GlobalOptions& global, const std::string& option,
                      const std::vector<std::string>& outputs,
                      const std::vector<std::string>& inputs) {
  std::vector<std::pair<fs::path, std::string>> taken;
  for (const char* suffix : {"", "-wal", "-shm", "-journal"}) {
    taken.emplace_back(global.db + suffix, "the run store");
  }
  std::error_code error;
  for (const auto& input : inputs) {
    // A run's name or a missing file is no file to lose.
    if (fs::exists(input, error)) taken.emplace_back(input, "an input");
  }
  // Only to know its checkpoints: a store this command cannot read (an
  // older schema, another program's file) is its own command's concern.
  std::unique_ptr<store::RunStore> store;
  try {
    if (fs::is_regular_file(global.db, error)) {
      store = openExistingStore(global);
    }
  } catch (const store::StoreError&) {
  }
  for (const auto& output : outputs) {
    const auto refuse = [&](const std::string& why) {
      throw spec::SpecError(fmt::format("{} {}: {}", option, output, why));
    };
    if (const std::string problem = outputFileProblem(output);
        !problem.empty()) {
      refuse(problem);
    }
    for (const auto& [file, role] : taken) {
      if (sameFile(output, file)) {
        refuse(fmt::format("that is {} ({}); expected a new file's name",
                           role, file.string()));
      }
    }
    // Only an existing file can be lost: compared with the recorded
    // checkpoints of its size, as files (links, other spellings).
    const auto bytes = fs::file_size(output, error);
    if (!store || error) continue;
    for (const auto& recorded :
         store->checkpointsOfSize(static_cast<std::int64_t>(bytes))) {
      if (sameFile(output, recorded.path)) {
        refuse(fmt::format(
            "that is a checkpoint of run {} recorded in {}; expected a new "
            "file's name",
            recorded.run, global.db));
      }
    }
  }
}

}  // namespace labrun::cli
