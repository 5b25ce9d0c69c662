// Importing a plugin's weights from a PyTorch state dict: the `weights` and
// `weights_prefix` options that the resnet backbone and the ssgrl head share,
// so that one checkpoint holding a whole model (e.g. the released SSGRL
// files: "resnet_101.conv1.weight", "word_semantic.fc_1.weight", ...) feeds
// each part its own entries.
#pragma once

#include <torch/nn/module.h>

#include <functional>
#include <optional>
#include <string>

#include "labrun/ModelContext.h"
#include "labrun/ParamSpec.h"

namespace labrun::weights {

// The state dict of `file` (relative paths resolve against the spec's
// folder; the resolved path is stored in `*path`), read by the host
// (torch.save files, zip or legacy; `state_dict`/`model` nesting and
// `module.` prefixes removed), restricted to the keys under `prefix` with
// the prefix removed; every key when `prefix` is empty. Throws
// std::runtime_error naming the file when it cannot be read, and, when no
// key starts with `prefix`, listing the key prefixes the file has.
StateDict readWeights(const std::string& file, const std::string& prefix,
                      const ModelContext& context, std::string* path);

// A state dict and the path it was read from.
struct Weights {
  StateDict state;
  std::string path;
};

// readWeights for the plugin options `weights` (a path; '' = none: returns
// nullopt) and `weights_prefix`; nullopt too when the host says a
// checkpoint replaces the initial weights (context.initial_weights).
std::optional<Weights> readWeightsOption(const Params& params,
                                         const ModelContext& context);

// Loads what the `weights` and `weights_prefix` options name into `module`
// through its own loadStateDict(state, path); nothing when `weights` is ''.
template <typename Module>
void loadWeightsOption(Module& module, const Params& params,
                       const ModelContext& context) {
  if (const auto weights = readWeightsOption(params, context)) {
    module.loadStateDict(weights->state, weights->path);
  }
}

// "conv1. (1 key), layer1. (30 keys), ...": the first name component of the
// keys with their counts (at most 10 listed), for error messages.
std::string describeKeyPrefixes(const StateDict& state);

// Which file entries a module takes.
struct FitRules {
  // Entries the module does not own and leaves alone (e.g. torchvision's
  // fc.*, or the other parts of a whole-model checkpoint).
  std::function<bool(const std::string& key)> ignored;
  // The module's own entries a file may lack (they keep their values).
  std::function<bool(const std::string& key)> optional;
};

// Copies `state` into `module`'s parameters and buffers, key by key.
// Nothing is copied unless the whole dict fits: otherwise throws
// std::runtime_error "weights '<source>' do not fit <model>: missing keys
// (n): ...; unexpected keys (n): ...; mis-shaped keys (n): <key> <file
// shape> in the file, <model shape> in the model" (10 keys per list at
// most), adding the file's key prefixes when none of its keys is the
// module's (a whole-model file read without `weights_prefix`).
void loadModuleWeights(torch::nn::Module& module, const StateDict& state,
                       const std::string& source, const std::string& model,
                       const FitRules& rules);

}  // namespace labrun::weights
