// The `labrun` command line: global options, the registered commands
// (cli/Command.h), parsing, and errors mapped to exit codes.
#pragma once

#include <string>

namespace labrun::cli {

// The command argv names, after the global options and their values; ""
// when there is none.
std::string commandName(int argc, char** argv);

// Parses argv, runs the chosen command and returns the exit code: 0 ok,
// 1 run failed or an unexpected error, 2 usage, spec, plugin or store error.
int runApp(int argc, char** argv);

}  // namespace labrun::cli
