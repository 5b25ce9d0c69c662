// init_from: a new run starting from another run's weights, wholly or only
// under some module prefixes (pre-train, then fine-tune another head).
#pragma once

#include <torch/nn/module.h>

#include <string>
#include <vector>

#include "labrun/ModelContext.h"

namespace labrun::train {

// The checkpoint `ref` names: `ref` itself when it is a file, otherwise the
// best checkpoint (the newest when none is marked best) of the run `ref`
// names (name, uuid or uuid prefix) in the store at `db_path`. Throws
// std::runtime_error when it is neither.
std::string initCheckpointPath(const std::string& ref,
                               const std::string& db_path);

// Copies the entries of `state` under the module prefixes `modules` ("",
// or an empty list: every entry) into `model`; the rest of `model` keeps
// its values. Nothing is copied unless they all fit: throws
// std::runtime_error listing the missing, unexpected and mis-shaped keys
// (with both shapes), or naming a prefix that neither holds.
void loadModules(torch::nn::Module& model, const StateDict& state,
                 const std::vector<std::string>& modules,
                 const std::string& source);

}  // namespace labrun::train
