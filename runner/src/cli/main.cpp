// labrun: run multi-label image recognition experiments from YAML specs and
// keep every run in SQLite.
#include <cstdlib>
#include <iostream>

#include <CLI/CLI.hpp>

#include "cli/Commands.h"
#include "cli/CompareCommand.h"
#include "cli/ReportCommand.h"
#include "cli/SpecDocCommand.h"
#include "cli/SweepCommand.h"
#include "plugins/PluginHost.h"
#include "spec/SpecError.h"
#include "store/RunStore.h"

namespace {

using labrun::cli::ExitCode;
using labrun::cli::TableFormat;

constexpr const char* kExitCodes =
    "Exit codes: 0 ok, 1 run failed or stopped, 2 usage or spec error.";

std::string joinArgs(int argc, char** argv) {
  std::string line;
  for (int i = 0; i < argc; ++i) line += (i ? " " : "") + std::string(argv[i]);
  return line;
}

void addProgressFlags(CLI::App* command, labrun::cli::ProgressArgs& progress) {
  command->add_flag("--quiet,-q", progress.quiet,
                    "No progress output (results and errors still print)");
  command->add_option("--log-every", progress.log_every,
                      "Off a terminal, one progress line every N steps "
                      "(default: the spec's train.log_every)");
}

// The runs a command works on: listed, or every run of one sweep.
void addRunsOrSweep(CLI::App* command, std::vector<std::string>& runs,
                    std::string& sweep) {
  auto* listed = command->add_option(
      "runs", runs, "Runs (uuid, unique uuid prefix or name)");
  command->add_option("--sweep", sweep, "The runs of this sweep")
      ->excludes(listed);
}

// Data-parallel runs (docs/DISTRIBUTED.md); resume derives nproc from the
// run's recorded world size.
void addLaunchFlags(CLI::App* command, labrun::dist::LaunchOptions& launch,
                    bool with_nproc) {
  if (with_nproc) {
    command
        ->add_option("--nproc", launch.nproc,
                     "Worker processes on this machine (data-parallel)")
        ->check(CLI::PositiveNumber);
  }
  command->add_option("--nnodes", launch.nnodes, "Machines taking part")
      ->check(CLI::PositiveNumber);
  command->add_option("--node-rank", launch.node_rank,
                      "This machine's index, 0..nnodes-1 (0 hosts the "
                      "rendezvous)");
  command->add_option("--master", launch.master,
                      "HOST:PORT of node 0's rendezvous (default: "
                      "127.0.0.1 and a free port)");
}

struct FormatFlags {
  bool csv = false;
  bool json = false;
  void add(CLI::App* command) {
    auto* csv_flag = command->add_flag("--csv", csv, "Print CSV");
    command->add_flag("--json", json, "Print a JSON array of objects")
        ->excludes(csv_flag);
  }
  TableFormat format() const {
    return csv ? TableFormat::kCsv
               : json ? TableFormat::kJson : TableFormat::kText;
  }
};

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"labrun: multi-label image recognition experiments", "labrun"};
  app.footer(kExitCodes);
  app.require_subcommand(1);
  app.fallthrough();

  labrun::cli::GlobalOptions global;
  global.command_line = joinArgs(argc, argv);
  app.add_option("--db", global.db,
                 "Run store file (default: $LABRUN_DB or runs/labrun.db)");
  app.add_option("--plugin-path", global.plugin_path,
                 "Folder searched for plugins first (repeatable; then "
                 "$LABRUN_PLUGIN_PATH, then next to the executable)");

  labrun::cli::RunArgs run_args;
  auto* run = app.add_subcommand("run", "Train the experiment described by SPEC");
  run->add_option("spec", run_args.spec, "Experiment spec (YAML)")
      ->required()
      ->check(CLI::ExistingFile);
  run->add_option("overrides", run_args.overrides,
                  "Overrides: a.b=v (set), +a.b=v (add), ++a.b=v (set or "
                  "add), ~a.b (delete); values are YAML");
  run->add_flag("--dry-run", run_args.dry_run,
                "Print the fully resolved spec and exit");
  addProgressFlags(run, run_args.progress);
  addLaunchFlags(run, run_args.launch, /*with_nproc=*/true);
  run->footer(kExitCodes);

  labrun::cli::PrepareArgs prepare_args;
  auto* prepare = app.add_subcommand(
      "prepare",
      "Parse the annotations of SPEC's train and val splits into the label "
      "cache (a run does it on first use)");
  prepare->add_option("spec", prepare_args.spec,
                      "Experiment spec (YAML); or the fashion-mosaic command")
      ->check(CLI::ExistingFile);
  prepare->add_option("overrides", prepare_args.overrides,
                      "Overrides, as for run");
  prepare->add_option("--split", prepare_args.split, "Only this split")
      ->check(CLI::IsMember({"train", "val"}));
  prepare->footer(kExitCodes);

  labrun::data::FashionMosaicOptions mosaic;
  auto* mosaic_cmd = prepare->add_subcommand(
      "fashion-mosaic",
      "Build the fashion-mosaic image set from Debian's Fashion-MNIST "
      "(docs/DATASETS.md)");
  mosaic_cmd->add_option("--out", mosaic.out_dir, "Output folder")
      ->capture_default_str();
  mosaic_cmd->add_option("--source", mosaic.source_dir,
                         "Folder of the *-idx?-ubyte.gz files")
      ->capture_default_str();
  mosaic_cmd->add_option("--train", mosaic.train_images,
                         "Train images (0: 2000)");
  mosaic_cmd->add_option("--val", mosaic.val_images, "Val images (0: 500)");
  mosaic_cmd->add_option("--size", mosaic.canvas_size,
                         "Canvas side in pixels, 64..1024 (0: 96)");
  mosaic_cmd->add_option("--seed", mosaic.seed)->capture_default_str();
  mosaic_cmd->footer(kExitCodes);

  std::string resume_ref;
  labrun::cli::ProgressArgs resume_progress;
  auto* resume = app.add_subcommand(
      "resume",
      "Continue a stopped, failed or crashed run from its last checkpoint");
  resume->add_option("run", resume_ref, "Run uuid, unique uuid prefix or name")
      ->required();
  addProgressFlags(resume, resume_progress);
  labrun::dist::LaunchOptions resume_launch;
  addLaunchFlags(resume, resume_launch, /*with_nproc=*/false);
  resume->footer(kExitCodes);

  labrun::cli::EvalArgs eval_args;
  auto* eval = app.add_subcommand(
      "eval", "Evaluate a checkpoint on the validation split and record it");
  eval->add_option("target", eval_args.target,
                   "A run (uuid, prefix or name), or a spec file: scored with "
                   "the weights it builds (a new evaluation-only run), or "
                   "applied to a recorded checkpoint")
      ->required();
  eval->add_option("overrides", eval_args.overrides,
                   "Overrides of a spec target (as for run)");
  eval->add_option("--checkpoint", eval_args.checkpoint,
                   "A run's: best (default), last or a checkpoint file; a "
                   "spec's: init (default: its initial weights, e.g. "
                   "imported with weights:) or a checkpoint file recorded in "
                   "the store");
  eval->add_option("--scores", eval_args.scores,
                   "Write per-image scores to FILE (.npy or CSV)");
  eval->footer(kExitCodes);

  labrun::cli::RunsArgs runs_args;
  FormatFlags runs_format;
  auto* runs = app.add_subcommand("runs", "Table of past runs, newest first");
  runs->add_option("--limit,-n", runs_args.limit, "Rows to show")
      ->capture_default_str();
  runs->add_option("--where", runs_args.where,
                   "SQL condition on the columns of the run_summary view, "
                   "e.g. \"lr < 1e-3 AND best_map > 50\"");
  runs->add_option("--status", runs_args.status, "Only runs with this status")
      ->transform(
          CLI::IsMember({"RUNNING", "FINISHED", "FAILED", "KILLED", "CRASHED"},
                        CLI::ignore_case));
  runs->add_option("--name", runs_args.name,
                   "Only runs whose name matches this GLOB (e.g. 'smoke*')");
  runs->add_option("--sort", runs_args.sort,
                   "Sort by this run_summary column; a leading '-' sorts "
                   "descending")
      ->capture_default_str();
  runs_format.add(runs);
  runs->footer(kExitCodes);

  labrun::cli::CompareArgs compare_args;
  auto* compare = app.add_subcommand(
      "compare",
      "Runs side by side: parameters that differ, validation metrics, "
      "per-class AP with deltas against the first run");
  addRunsOrSweep(compare, compare_args.runs, compare_args.sweep);
  compare->add_flag("--csv", compare_args.csv, "Print one CSV table");
  compare->footer(kExitCodes);

  labrun::cli::SweepArgs sweep_args;
  auto* sweep = app.add_subcommand(
      "sweep",
      "One run per combination of the comma lists in the overrides "
      "(a.b=1,2 c=x,y: four runs), then their comparison");
  sweep->add_option("spec", sweep_args.spec, "Experiment spec (YAML)")
      ->required()
      ->check(CLI::ExistingFile);
  sweep->add_option("overrides", sweep_args.overrides,
                    "Overrides as for run; a top-level comma list sweeps "
                    "(x=[1,2] is one list value)");
  sweep
      ->add_option("--parallel,-j", sweep_args.parallel,
                   "Runs at a time (they share the run store)")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  addProgressFlags(sweep, sweep_args.progress);
  sweep->footer(kExitCodes);

  labrun::cli::ReportArgs report_args;
  auto* report = app.add_subcommand(
      "report",
      "Write one self-contained HTML page on runs: curves, per-class AP, "
      "differing hyperparameters, provenance");
  addRunsOrSweep(report, report_args.runs, report_args.sweep);
  report->add_option("--output,-o", report_args.output, "HTML file to write")
      ->capture_default_str();
  report->footer(kExitCodes);

  std::string run_ref;
  auto* show = app.add_subcommand(
      "show", "Spec, parameters, metrics, checkpoints and plugins of a run");
  show->add_option("run", run_ref, "Run uuid, unique uuid prefix or run name")
      ->required();
  show->footer(kExitCodes);

  std::string sql_text;
  FormatFlags sql_format;
  auto* sql = app.add_subcommand(
      "sql", "Run a read-only SQL query on the run store (see docs/STORE.md)");
  sql->add_option("query", sql_text, "One SQL statement")->required();
  sql_format.add(sql);
  sql->footer(kExitCodes);

  std::string plugin_name;
  auto* plugins = app.add_subcommand(
      "plugins", "List the plugins found and their parameters");
  plugins->add_option("name", plugin_name, "Show only this plugin");
  plugins->footer(kExitCodes);

  std::string spec_doc_output = "-";
  auto* spec_doc = app.add_subcommand(
      "spec-doc",
      "Write the spec reference (every core and plugin key with type, "
      "default and doc) as Markdown, as in docs/SPEC.md");
  spec_doc->add_option("--output,-o", spec_doc_output,
                       "File to write ('-': standard output)")
      ->capture_default_str();
  spec_doc->footer(kExitCodes);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& error) {
    // --help and --version exit 0; every parse error is a usage error.
    const int code = app.exit(error);
    return code == 0 ? ExitCode::kOk : ExitCode::kUsageError;
  }
  if (global.db.empty()) {
    const char* env = std::getenv("LABRUN_DB");
    global.db = env && *env ? env : "runs/labrun.db";
  }

  try {
    if (*run) return labrun::cli::runCommand(global, run_args);
    if (*mosaic_cmd) return labrun::cli::prepareFashionMosaicCommand(mosaic);
    if (*prepare) {
      if (prepare_args.spec.empty()) {
        std::cerr << "labrun: error: prepare needs a SPEC or the "
                     "fashion-mosaic command (see labrun prepare --help)\n";
        return ExitCode::kUsageError;
      }
      return labrun::cli::prepareCommand(global, prepare_args);
    }
    if (*resume) {
      return labrun::cli::resumeCommand(global, resume_ref, resume_progress,
                                        resume_launch);
    }
    if (*eval) return labrun::cli::evalCommand(global, eval_args);
    if (*runs) {
      runs_args.format = runs_format.format();
      return labrun::cli::runsCommand(global, runs_args);
    }
    if (*compare) return labrun::cli::compareCommand(global, compare_args);
    if (*sweep) return labrun::cli::sweepCommand(global, sweep_args);
    if (*report) return labrun::cli::reportCommand(global, report_args);
    if (*show) return labrun::cli::showCommand(global, run_ref);
    if (*sql) return labrun::cli::sqlCommand(global, sql_text, sql_format.format());
    if (*plugins) return labrun::cli::pluginsCommand(global, plugin_name);
    if (*spec_doc) {
      return labrun::cli::specDocCommand(global, spec_doc_output);
    }
  } catch (const labrun::spec::SpecError& error) {
    std::cerr << "labrun: error: " << error.what() << "\n";
    return ExitCode::kUsageError;
  } catch (const labrun::plugins::PluginError& error) {
    std::cerr << "labrun: error: " << error.what() << "\n";
    return ExitCode::kUsageError;
  } catch (const labrun::store::StoreError& error) {
    std::cerr << "labrun: error: " << error.what() << "\n";
    return ExitCode::kUsageError;
  } catch (const std::exception& error) {
    std::cerr << "labrun: error: " << error.what() << "\n";
    return ExitCode::kRunFailed;
  }
  return ExitCode::kUsageError;
}
