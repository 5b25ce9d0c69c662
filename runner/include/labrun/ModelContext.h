// What the host knows when it builds a plugin: the task, the shapes that
// flow between plugins (so no plugin needs hand-typed sizes), statistics of
// the training labels, and file readers the host provides so that plugins
// link against nothing but LibTorch.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include <torch/types.h>

namespace labrun {

// Parameter/buffer name -> tensor, as in a PyTorch state_dict().
using StateDict = std::map<std::string, torch::Tensor>;

struct ModelContext {
  // Number of labels K and their names (size K), in label-vector order.
  std::int64_t num_classes = 0;
  std::vector<std::string> class_names;
  // Channels of the backbone's feature map; set when building a head.
  std::int64_t in_channels = 0;
  // Directory of the experiment spec: relative file options resolve from it.
  std::string spec_dir;
  // Labels of the training split, [N, K] float32 in {0, 1} (masked labels
  // are 0); e.g. for label co-occurrence graphs. Undefined when unknown.
  torch::Tensor train_targets;
  // Reads a PyTorch checkpoint (torch.save: zip or legacy format), unwrapping
  // `state_dict`/`model` nesting and `module.` prefixes. Throws
  // std::runtime_error naming the file on failure.
  std::function<StateDict(const std::string& path)> load_state_dict;
  // Reads a NumPy .npy array (float/int types) as a tensor; throws
  // std::runtime_error naming the file on failure.
  std::function<torch::Tensor(const std::string& path)> load_npy;
  // False when every parameter and buffer is overwritten from a labrun
  // checkpoint right after the model is built (eval, predict and export of
  // a run): initial weights files (`weights` options) are then not read, so
  // that a run stays usable when the pretrained file it started from is not
  // on this machine.
  bool initial_weights = true;
};

}  // namespace labrun
