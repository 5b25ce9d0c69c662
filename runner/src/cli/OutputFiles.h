// The files a command writes for the user (-o, --scores): checked with the
// command line, and again before any work once the store and the inputs
// are known, so that a mistyped output never replaces the store, an input
// or a device, and never fails after the work is done.
#pragma once

#include <string>
#include <vector>

#include "cli/Command.h"

namespace CLI {
class Validator;
}

namespace labrun::cli {

// Why `path` cannot be written as a command's output, or "" when it can:
// empty, a folder, in a folder that does not exist, or an existing file
// that is not a regular file (a FIFO, a device, a symbolic link), which
// the atomic replace would turn into a plain file.
std::string outputFileProblem(const std::string& path);

// CLI11 check of outputFileProblem; '-' (standard output) passes when
// `standard_output` is true and is refused, saying so, otherwise.
CLI::Validator outputFile(bool standard_output);

// Throws spec::SpecError "OPTION PATH: ..." unless each of `outputs` (the
// file the user named and those written beside it) passes
// outputFileProblem and is none of: the store (global.db, its -wal and
// -shm, there or not yet), a checkpoint recorded in it, one of `inputs`
// that exists; compared as files, whatever the spelling ("./a", a symbolic
// link, a hard link). A store it cannot read is not checked for
// checkpoints (the command says what is wrong with it).
void checkOutputFiles(const GlobalOptions& global, const std::string& option,
                      const std::vector<std::string>& outputs,
                      const std::vector<std::string>& inputs);

}  // namespace labrun::cli
