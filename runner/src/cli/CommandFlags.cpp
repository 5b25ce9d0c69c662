#include "cli/CommandFlags.h"

#include <CLI/CLI.hpp>

#include "dist/Launcher.h"

namespace labrun::cli {

void addProgressFlags(CLI::App* command, ProgressArgs& progress) {
  command->add_flag("--quiet,-q", progress.quiet,
                    "No progress output (results and errors still print)");
  command
      ->add_option("--log-every", progress.log_every,
                   "Off a terminal, one progress line every N steps "
                   "(default: the spec's train.log_every)")
      ->check(atLeast(0));
}

void addRunsOrSweep(CLI::App* command, std::vector<std::string>& runs,
                    std::string& sweep) {
  auto* listed = command->add_option("runs", runs,
                                     "Runs (uuid, unique uuid prefix or name)");
  command->add_option("--sweep", sweep, "The runs of this sweep")
      ->excludes(listed);
}

void addLaunchFlags(CLI::App* command, dist::LaunchOptions& launch,
                    bool with_nproc) {
  if (with_nproc) {
    command
        ->add_option("--nproc", launch.nproc,
                     "Worker processes on this machine (data-parallel)")
        ->check(atLeast(1));
  }
  command->add_option("--nnodes", launch.nnodes, "Machines taking part")
      ->check(atLeast(1));
  command->add_option("--node-rank", launch.node_rank,
                      "This machine's index, 0..nnodes-1 (0 hosts the "
                      "rendezvous)");
  command->add_option("--master", launch.master,
                      "HOST:PORT of node 0's rendezvous (default: "
                      "127.0.0.1 and a free port)");
}

CLI::Validator atLeast(std::int64_t low) {
  const std::string bound = ">= " + std::to_string(low);
  return CLI::Validator(
      [low, bound](std::string& text) -> std::string {
        std::int64_t value = 0;
        if (CLI::detail::lexical_cast(text, value) && value >= low) return "";
        return "expected an integer " + bound + ", found " + text;
      },
      "INT " + bound);
}

void FormatFlags::add(CLI::App* command) {
  auto* csv_flag = command->add_flag("--csv", csv, "Print CSV");
  command->add_flag("--json", json, "Print a JSON array of objects")
      ->excludes(csv_flag);
}

TableFormat FormatFlags::format() const {
  return csv    ? TableFormat::kCsv
         : json ? TableFormat::kJson
                : TableFormat::kText;
}

}  // namespace labrun::cli
