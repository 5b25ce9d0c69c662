// The `labrun` command line: global options, the registered commands
// (cli/Command.h), parsing, and errors mapped to exit codes.
#pragma once

namespace labrun::cli {

// Parses argv, runs the chosen command and returns the exit code: 0 ok,
// 1 run failed or an unexpected error, 2 usage, spec, plugin or store error.
int runApp(int argc, char** argv);

}  // namespace labrun::cli
