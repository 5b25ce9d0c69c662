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

// The same file: equivalent() for files that exist (any spelling, links),
// the normalised absolute paths otherwise.
bool sameFile(const fs::path& a, const fs::path& b) {
  std::error_code error;
  if (fs::equivalent(a, b, error)) return true;
  return fs::weakly_canonical(a, error) == fs::weakly_canonical(b, error) &&
         !error;
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
  const fs::path folder = fs::absolute(path).parent_path();
  if (!fs::is_directory(folder)) {
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
  for (const auto& input : inputs) taken.emplace_back(input, "an input");
  std::unique_ptr<store::RunStore> store;
  if (fs::is_regular_file(global.db)) store = openExistingStore(global);
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
    if (!store) continue;
    std::error_code error;
    for (const fs::path& spelling :
         {fs::absolute(output).lexically_normal(),
          fs::weakly_canonical(output, error)}) {
      if (const auto owner = store->checkpointOwner(spelling.string())) {
        refuse(fmt::format(
            "that is a checkpoint of run {} recorded in {}; expected a new "
            "file's name",
            *owner, global.db));
      }
    }
  }
}

}  // namespace labrun::cli
