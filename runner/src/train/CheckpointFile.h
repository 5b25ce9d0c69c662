// A training checkpoint: one LibTorch archive per checkpointed step,
// "step-NNNNNNNN.pt" in the run's folder. This file owns its name, the keys
// of the trainer's parts and when a recorded one may be used: the trainer
// writes and restores whole ones; resume, eval/predict/export and init_from
// read parts. Stages and the loss scaler keep their own keys (save/load).
#pragma once

#include <torch/nn/module.h>
#include <torch/optim/optimizer.h>
#include <torch/serialize/archive.h>

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>

#include "labrun/ModelContext.h"
#include "store/RunStore.h"
#include "train/TrainLoop.h"

namespace labrun::train {

// A file that is not a labrun checkpoint, or not one of the model at hand;
// the message names the file.
class CheckpointError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// "step-00000020.pt" for step 20.
std::string checkpointFileName(std::int64_t step);

// Removes from `dir` the temporaries of checkpoint files that a killed
// writer left (util::AtomicFile); only for a run that no process is
// writing. Returns how many.
std::size_t removeUnfinishedCheckpoints(const std::string& dir);

// Why the recorded checkpoint `row` may not be used, to follow its path:
// "is missing", "is damaged (its sha256 is not the one recorded)" or
// "cannot be read (...)"; nullopt when its file is the one recorded.
std::optional<std::string> checkpointProblem(const store::CheckpointRow& row);

class CheckpointWriter {
 public:
  // The trainer's parts: the model, the optimizer, where training stands and
  // the random generators of the CPU and of `device`.
  CheckpointWriter(const torch::nn::Module& model,
                   const torch::optim::Optimizer& optimizer,
                   const TrainState& state, torch::Device device);

  // Where stages and the loss scaler add their own keys.
  torch::serialize::OutputArchive& archive() { return archive_; }

  // Writes checkpointFileName(step) in `dir` (created when missing), all or
  // nothing (util::AtomicFile); returns its path.
  std::string save(const std::string& dir, std::int64_t step);

 private:
  torch::serialize::OutputArchive archive_;
};

class CheckpointReader {
 public:
  // Throws CheckpointError when `path` is not a LibTorch archive.
  explicit CheckpointReader(const std::string& path);

  const std::string& path() const { return path_; }

  // The model's parameters and buffers by dotted name (e.g.
  // "backbone.layer4.0.bn1.running_mean"). Throws CheckpointError when the
  // file has none.
  StateDict modelState();
  // modelState() into `model`, all or nothing: throws CheckpointError
  // listing the missing, unexpected and mis-shaped keys unless every entry
  // fits.
  void loadModel(torch::nn::Module& model);

  void loadOptimizer(torch::optim::Optimizer& optimizer);
  TrainState state();
  // The CPU's and `device`'s random generators as they were.
  void restoreRandomState(torch::Device device);

  // Where stages and the loss scaler find their own keys.
  torch::serialize::InputArchive& archive() { return archive_; }

 private:
  std::string path_;
  torch::serialize::InputArchive archive_;
};

}  // namespace labrun::train
