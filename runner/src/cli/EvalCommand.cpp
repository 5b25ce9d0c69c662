// `labrun eval`: evaluates a checkpoint on the validation split and records
// the evaluation with its run.
#include <algorithm>
#include <filesystem>
#include <iostream>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "cli/Training.h"
#include "spec/SpecError.h"

namespace labrun::cli {
namespace {

namespace fs = std::filesystem;

struct EvalArgs {
  std::string target;  // a run reference, or a spec file
  std::vector<std::string> overrides;  // with a spec file
  std::string checkpoint = "best";
  std::string scores;
  std::vector<std::string> scores_with;  // "truth", "logits"
};

int evaluate(const GlobalOptions& global, const EvalArgs& args) {
  const plugins::PluginHost host = loadPlugins(global);
  auto store = store::RunStore::open(global.db);
  std::string uuid;
  std::optional<train::ResolvedSpec> spec;
  if (fs::is_regular_file(args.target)) {
    // A spec (e.g. other validation data) applied to a recorded checkpoint.
    spec = train::resolveSpec(args.target, args.overrides, host);
    const auto owner = store->query(
        "SELECT run FROM checkpoints WHERE path = ?1",
        {fs::absolute(args.checkpoint).string()});
    if (owner.rows.empty()) {
      throw spec::SpecError(fmt::format(
          "eval {}: --checkpoint must be a checkpoint file recorded in {} "
          "(evaluations are linked to the run that made it)",
          args.target, global.db));
    }
    uuid = *owner.rows[0][0];
  } else {
    uuid = store->resolveRun(args.target);
    spec = storedSpec(*store, uuid, host);
  }
  train::Experiment experiment(std::move(*spec), host, global.db);
  train::EvalRequest request;
  request.checkpoint = args.checkpoint;
  request.scores_path = args.scores;
  const auto with = [&args](const char* what) {
    return std::find(args.scores_with.begin(), args.scores_with.end(), what) !=
           args.scores_with.end();
  };
  request.scores_truth = with("truth");
  request.scores_logits = with("logits");
  const std::int64_t id =
      experiment.evaluate(*store, uuid, request, std::cout);
  std::cout << fmt::format("evaluation {} of run {} recorded in {}\n", id,
                           uuid, global.db);
  return kOk;
}

class EvalCommand : public Command {
 public:
  CLI::App* add(CLI::App& app) override {
    auto* eval = app.add_subcommand(
        "eval", "Evaluate a checkpoint on the validation split and record it");
    eval->add_option("target", args_.target,
                     "A run (uuid, prefix or name), or a spec file applied to "
                     "a recorded checkpoint")
        ->required();
    eval->add_option("overrides", args_.overrides,
                     "Overrides of a spec target (as for run)");
    eval->add_option("--checkpoint", args_.checkpoint,
                     "best, last, or a checkpoint file")
        ->capture_default_str();
    auto* scores = eval->add_option(
        "--scores", args_.scores,
        "Write per-image scores to FILE (CSV, or X.npy with X.rows.csv "
        "naming each row's image)");
    eval->add_option("--scores-with", args_.scores_with,
                     "Also write truth (ground truth) and/or logits to the "
                     "scores file (comma-separated)")
        ->delimiter(',')
        ->check(CLI::IsMember({"truth", "logits"}))
        ->needs(scores);
    eval->footer(kExitCodes);
    return eval;
  }

  int run(const GlobalOptions& global) override {
    return evaluate(global, args_);
  }

 private:
  EvalArgs args_;
};

}  // namespace

LABRUN_COMMAND(EvalCommand, "eval", 40)

}  // namespace labrun::cli
