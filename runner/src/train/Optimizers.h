// Builds the optimizer a spec describes: freezing by parameter-name prefix
// and learning-rate multipliers per prefix (parameter groups).
#pragma once

#include <memory>

#include <torch/optim/optimizer.h>

#include "spec/Node.h"
#include "train/Model.h"

namespace labrun::train {

// Reads optim.{name, lr, weight_decay, momentum, nesterov, freeze, lr_mult}.
// Frozen parameters (optim.freeze prefixes, or requires_grad already false,
// e.g. a plugin's own `freeze`) are left out. Throws spec::SpecError for a
// malformed lr_mult entry or a prefix that matches no parameter.
std::unique_ptr<torch::optim::Optimizer> makeOptimizer(const spec::Node& tree,
                                                       Model& model);

}  // namespace labrun::train
