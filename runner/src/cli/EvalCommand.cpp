// `labrun eval`: evaluates a checkpoint on the validation split and records
// the evaluation with its run.
#include <fmt/format.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <iostream>

#include "cli/OutputFiles.h"
#include "cli/Training.h"
#include "spec/SpecError.h"
#include "train/ScoresFile.h"

namespace labrun::cli {
namespace {

struct EvalArgs {
  std::string target;                  // a run reference, or a spec file
  std::vector<std::string> overrides;  // with a spec file
  // "" = the target's default: init for a spec, best for a run.
  std::string checkpoint;
  std::string scores;
  std::vector<std::string> scores_with;  // "truth", "logits"
  std::string thresholds;                // "", "f1" or "stored"
};

int evaluate(const GlobalOptions& global, const EvalArgs& args) {
  const plugins::PluginHost host = loadPlugins(global);
  // A spec is scored as it builds its model, a run by its best checkpoint;
  // everything that can be wrong with either fails before a run record
  // exists, as for `labrun run`.
  CommandTarget resolved =
      resolveTarget(global,
                    {/*command=*/"eval", args.target, /*runs_only=*/false,
                     args.overrides, args.checkpoint},
                    host);
  train::EvalRequest request;
  request.checkpoint = resolved.checkpoint_file;
  request.scores_path = args.scores;
  const auto with = [&args](const char* what) {
    return std::find(args.scores_with.begin(), args.scores_with.end(), what) !=
           args.scores_with.end();
  };
  request.scores_truth = with("truth");
  request.scores_logits = with("logits");
  if (!args.scores.empty()) {
    checkOutputFiles(global, "eval --scores",
                     train::scoresFiles(args.scores, {request.scores_truth,
                                                      request.scores_logits}),
                     {args.target, request.checkpoint});
  }
  request.thresholds = args.thresholds;
  if (resolved.checkpoint == "init") {
    if (args.thresholds == "stored") {
      throw spec::SpecError(fmt::format(
          "eval {}: --thresholds stored applies a run's thresholds to one of "
          "its checkpoints; initial weights have none (use f1)",
          args.target));
    }
    train::Experiment experiment(std::move(resolved.spec), host, global.db);
    auto store = store::RunStore::open(global.db);
    const train::EvalOutcome outcome = experiment.evaluateInitial(
        *store, runControls(global, ProgressArgs{}), request, std::cout);
    if (outcome.run.status != "FINISHED") {
      return reportOutcome(outcome.run, global.db);
    }
    std::cout << fmt::format(
        "evaluation {} of run {} (evaluation only) recorded in {}\n",
        outcome.evaluation, outcome.run.uuid, global.db);
    return kOk;
  }
  // A spec (e.g. other validation data) applies to a recorded checkpoint.
  if (!resolved.run) {
    throw spec::SpecError(fmt::format(
        "eval {}: --checkpoint must be init or a checkpoint file recorded "
        "in {} (evaluations are linked to the run that made it)",
        args.target, global.db));
  }
  const std::string uuid = *resolved.run;
  train::Experiment experiment(std::move(resolved.spec), host, global.db,
                               train::ModelWeights::kCheckpoint);
  requireTrainedClasses(global, uuid, experiment.classNames(), "eval");
  auto store = store::RunStore::open(global.db);
  const std::int64_t id = experiment.evaluate(*store, uuid, request, std::cout);
  std::cout << fmt::format("evaluation {} of run {} recorded in {}\n", id, uuid,
                           global.db);
  return kOk;
}

class EvalCommand : public Command {
 public:
  CLI::App* add(CLI::App& app) override {
    auto* eval = app.add_subcommand(
        "eval", "Evaluate a checkpoint on the validation split and record it");
    eval->add_option("target", args_.target,
                     "A run (uuid, prefix or name), or a spec file: scored "
                     "with the weights it builds (a new evaluation-only run), "
                     "or applied to a recorded checkpoint")
        ->required();
    eval->add_option("overrides", args_.overrides,
                     "Overrides of a spec target (as for run)");
    eval->add_option("--checkpoint", args_.checkpoint,
                     "A run's: best (default), last or a checkpoint file; a "
                     "spec's: init (default: its initial weights, e.g. "
                     "imported with weights:) or a checkpoint file recorded "
                     "in the store");
    auto* scores = eval->add_option(
        "--scores", args_.scores,
        "Write per-image scores to FILE (CSV, or X.npy with X.rows.csv "
        "naming each row's image)");
    scores->check(outputFile(/*standard_output=*/false));
    eval->add_option("--scores-with", args_.scores_with,
                     "Also write truth (ground truth) and/or logits to the "
                     "scores file (comma-separated)")
        ->delimiter(',')
        ->check(CLI::IsMember({"truth", "logits"}))
        ->needs(scores);
    eval->add_option(
            "--thresholds", args_.thresholds,
            "Per-class thresholds, recorded with the evaluation with "
            "CP..OF1 at them (CF1@thresholds ...) and used by predict: f1 "
            "chooses each class's F1-maximising one on this split, stored "
            "applies those of the run's newest evaluation that has them")
        ->check(CLI::IsMember({"f1", "stored"}));
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
