// Builds the optimizer the spec's optim section describes: freezing by
// parameter-name prefix and learning-rate multipliers per prefix (parameter
// groups).
#pragma once

#include <torch/optim/optimizer.h>

#include <memory>
#include <string>
#include <vector>

#include "spec/Located.h"
#include "train/Model.h"

namespace labrun::train {

struct LrMultiplier {
  std::string prefix;  // parameter-name prefix, e.g. "backbone"
  double factor = 1;   // on optim.lr
  std::string origin;  // where it was written
};

// optim.* (train/ExperimentOptions binds them).
struct OptimizerOptions {
  std::string name = "adam";  // adam | adamw | sgd
  double lr = 1e-3;
  double weight_decay = 0;
  double momentum = 0.9;                           // sgd
  bool nesterov = false;                           // sgd
  std::vector<spec::Located<std::string>> freeze;  // prefixes
  std::vector<LrMultiplier> lr_mult;
  std::string origin;  // of the optim section
};

// Parses "PREFIX=FACTOR" (optim.lr_mult) written at `origin`; throws
// spec::SpecError naming it when malformed.
LrMultiplier parseLrMultiplier(const std::string& text,
                               const std::string& origin);

// Frozen parameters (optim.freeze prefixes, or requires_grad already false,
// e.g. a plugin's own `freeze`) are left out. Throws spec::SpecError for a
// prefix that matches no parameter, or when nothing is left to train.
std::unique_ptr<torch::optim::Optimizer> makeOptimizer(
    const OptimizerOptions& options, Model& model);

}  // namespace labrun::train
