// labrun: runs the commands linked into it (those that only read the run
// store: runs, show, sql, compare, report; and prepare's labels) without
// loading LibTorch, so they start in milliseconds; any other command,
// `prepare fashion-mosaic`, the top-level help and usage errors go to
// labrun-torch beside this executable, which has every command. exec keeps
// the process, its arguments, environment and signals.
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <string>

#include "cli/App.h"
#include "cli/Command.h"
#include "cli/PrepareCommand.h"
#include "util/HostMemory.h"

namespace {

char** command_line = nullptr;  // main's argv, handed on as it came

// Replaces this process with labrun-torch, same arguments; returns only
// when that fails.
int handToTorch() {
  const std::string full =
      (std::filesystem::read_symlink("/proc/self/exe").parent_path() /
       "labrun-torch")
          .string();
  ::execv(full.c_str(), command_line);
  std::cerr << "labrun: error: cannot start " << full << ": "
            << std::strerror(errno) << "\n";
  return labrun::cli::kRunFailed;
}

// The set's builder needs OpenCV, whose loading (~0.2 s) every command here
// would pay: labrun-torch builds it. Its options and help are the same here.
class PrepareHandingOn final : public labrun::cli::PrepareCommand {
 protected:
  int buildFashionMosaic(const labrun::data::FashionMosaicOptions&) override {
    return handToTorch();
  }
};

}  // namespace

LABRUN_COMMAND(PrepareHandingOn, "prepare", 20)

int main(int argc, char** argv) {
  command_line = argv;
  if (labrun::cli::CommandRegistry::has(labrun::cli::commandName(argc, argv))) {
    // prepare's parse grows vectors of images and annotations: reusing
    // freed memory spares page faults (0.25 s instead of 0.28 s on COCO's
    // train file).
    labrun::util::keepFreedHostMemory();
    return labrun::cli::runApp(argc, argv);
  }
  return handToTorch();
}
