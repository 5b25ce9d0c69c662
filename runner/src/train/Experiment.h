// One run, end to end: spec (load, merge, override, validate) -> plugins ->
// model + data -> training loop -> run store.
#pragma once

#include <filesystem>
#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include "plugins/PluginHost.h"
#include "spec/Node.h"
#include "store/RunStore.h"
#include "train/ExperimentOptions.h"
#include "train/Prediction.h"
#include "train/ResolvedSpec.h"

namespace labrun::dist {
class Collective;
}  // namespace labrun::dist

namespace labrun::train {

class CheckpointReader;

// How a run reports: where, how often, and where the store lives.
struct RunControls {
  std::string db_path;       // for the heartbeat's own connection
  std::string command_line;  // recorded with a new run
  std::string sweep;         // sweep id recorded with a new run, or ""
  // What varies in the sweep's runs ("head=ssgrl"): the run is recorded as
  // "<name>[<label>]", so that the runs of a sweep are told apart.
  std::string sweep_label;
  bool quiet = false;
  bool terminal = false;        // stdout is a terminal: draw a progress bar
  std::int64_t log_every = -1;  // -1: the spec's train.log_every
  // resume: start over when none of the run's recorded checkpoints is
  // intact (otherwise refused: it would drop what the run recorded).
  bool restart = false;
};

struct RunOutcome {
  std::string uuid;
  std::string status;  // FINISHED, FAILED or KILLED
  std::string error;
  // Seconds the training thread spent recording into the run store
  // (metric, per-class and checkpoint rows, flushes); the heartbeat has a
  // thread of its own.
  double recording_seconds = 0;
};

struct EvalRequest {
  std::string checkpoint;      // a checkpoint file of the run
  std::string scores_path;     // "" or a .npy / .csv file to write
  bool scores_truth = false;   // add the ground truth to that file
  bool scores_logits = false;  // and the logits
  // Per-class thresholds (train/ClassThresholds.h), recorded with the
  // evaluation with CP..OF1 at them ("CF1@thresholds"): "" none, "f1"
  // chosen on this evaluation's scores, "stored" those of the run's newest
  // evaluation that has them.
  std::string thresholds;
};

// An evaluation-only run (evaluateInitial) and its evaluation's id (0 when
// the run failed before recording one).
struct EvalOutcome {
  RunOutcome run;
  std::int64_t evaluation = 0;
};

// For a new run's spec, before anything is recorded: throws
// spec::SpecError, naming where the spec wrote it and the keys there are,
// when a watched key (ExperimentOptions::watched) is none of the metrics'
// validation keys (validationKeys in train/Trainer.h). No check when a
// metric names its values only at run time. Not for a resumed run: its spec
// was accepted when the run was recorded. Makes the metrics with the
// labels' class names, but neither data nor model, so that `labrun sweep`
// checks every combination and a launcher its spec before any process
// starts.
void checkWatchedKeys(const ResolvedSpec& spec,
                      const plugins::PluginHost& host);
// For `labrun run --dry-run`: the same check, with `options` as bound from
// `spec`, where the class names are known without reading annotations (the
// generated set, a data.classes file, VOC's own list). Returns false, having
// checked nothing, where only the annotations give them.
bool checkWatchedKeysWithoutData(const ResolvedSpec& spec,
                                 const ExperimentOptions& options,
                                 const plugins::PluginHost& host);

// Where the model's weights come from once it is built.
enum class ModelWeights {
  // The spec's: the plugins' `weights` files, init_from, random values.
  kInitial,
  // A checkpoint of this model, which loadCheckpoint (or evaluate) loads
  // next, replacing every parameter and buffer: the spec's initial weights
  // are neither read nor needed (eval, predict and export of a run work
  // where the pretrained file or the init_from run is not at hand).
  kCheckpoint,
};

class Experiment {
 public:
  // Builds data, plugins, model and optimizer. Throws spec::SpecError or
  // plugins::PluginError before anything is recorded. A run that init_from
  // names is looked up in the store at `db_path`.
  Experiment(ResolvedSpec spec, const plugins::PluginHost& host,
             const std::string& db_path = "",
             ModelWeights weights = ModelWeights::kInitial);
  ~Experiment();

  // The spec's options as bound once (train/ExperimentOptions.h).
  const ExperimentOptions& options() const;
  // For a new run, before it is recorded: checkWatchedKeys (below) with
  // this experiment's metrics.
  void checkWatchedKeys() const;

  // Makes this process one rank of a data-parallel run (a collective call):
  // each split reads its shard, the cores are shared among the machine's
  // ranks (threads: auto), and the weights become rank 0's. Rank 0 then
  // calls run or resume, which record the run; the other ranks call follow.
  void joinGroup(dist::Collective& collective);
  // A rank other than 0: trains alongside rank 0 (the run or resume that
  // rank 0 announces) and records nothing.
  RunOutcome follow(const RunControls& controls, std::ostream& log);

  // Records a new run in `store` and trains it. A failure during training
  // marks the run FAILED (with the error) rather than throwing.
  RunOutcome run(store::RunStore& store, const RunControls& controls,
                 std::ostream& log);
  // Continues run `uuid` (built from its stored spec) from its newest intact
  // checkpoint, or from the start when it has none.
  RunOutcome resume(store::RunStore& store, const std::string& uuid,
                    const RunControls& controls, std::ostream& log);
  // Loads the model's weights from a checkpoint file (the commands look up
  // a run's best or last in the store first); a file that is not one of
  // this model is a spec::SpecError naming it. Built with
  // ModelWeights::kCheckpoint, the model is not used before this.
  void loadCheckpoint(const std::string& path);
  // The classes of the model's outputs, in order.
  const std::vector<std::string>& classNames() const;
  // The model (backbone + head) as it is, e.g. for `labrun export`.
  const ModelImpl& model() const;
  // Scores image files with the model as it is (train/Prediction.h).
  Predictions predict(const std::vector<std::string>& images,
                      const PredictProgress& progress);
  // Evaluates a checkpoint of run `uuid` on the validation split and stores
  // an evaluation record; returns its id.
  std::int64_t evaluate(store::RunStore& store, const std::string& uuid,
                        const EvalRequest& request, std::ostream& log);
  // Records a new run marked evaluation-only (kind 'eval') and evaluates the
  // model as the spec builds it (its `weights:` imports, init_from, or a
  // random initialisation) on the validation split, without training
  // (request.checkpoint is not used). A failure marks the run FAILED.
  EvalOutcome evaluateInitial(store::RunStore& store,
                              const RunControls& controls,
                              const EvalRequest& request, std::ostream& log);

 private:
  struct Parts;
  // `folder` (output_dir, or a resumed run's checkpoint folder) exists
  // (created if need be) and can take checkpoint files; a spec::SpecError
  // naming output_dir's place in the spec otherwise, before anything is
  // recorded.
  void requireWritableFolder(const std::filesystem::path& folder) const;
  // Records a new run (spec, parameters, plugins, provenance) of `kind`.
  std::string recordRun(store::RunStore& store, const RunControls& controls,
                        const std::string& kind, std::ostream& log);
  // Ends run `outcome.uuid` in `store` with its status and bad-image count.
  void finishRun(store::RunStore& store, const RunOutcome& outcome) const;
  // Evaluates the model as it is and records the evaluation of run `uuid`,
  // naming `checkpoint` (a file, or "init") and its `sha256` ("" for none).
  std::int64_t recordEvaluation(store::RunStore& store, const std::string& uuid,
                                const std::string& checkpoint,
                                const std::string& sha256,
                                const EvalRequest& request, std::ostream& log);
  // `store` is nullptr on ranks other than 0; `resume_from` is nullptr for
  // a new run.
  RunOutcome train(store::RunStore* store, const std::string& uuid,
                   std::unique_ptr<CheckpointReader> resume_from,
                   const RunControls& controls, std::ostream& log);
  // Throws std::logic_error when the model is used for `use` while built
  // without initial weights and no checkpoint is loaded yet.
  void requireWeights(const char* use) const;

  ResolvedSpec spec_;
  const plugins::PluginHost* host_;  // for the prf plugin of thresholds
  std::unique_ptr<Parts> parts_;
  bool awaiting_checkpoint_ = false;        // ModelWeights::kCheckpoint
  dist::Collective* collective_ = nullptr;  // set by joinGroup
};

}  // namespace labrun::train
