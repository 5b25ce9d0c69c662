// A head turns a backbone feature map into one logit per class.
#pragma once

#include <torch/nn/module.h>
#include <torch/types.h>

#include <string>
#include <utility>
#include <vector>

namespace labrun {

// How `labrun export` names the whole model's state dict (backbone and head
// parameters and buffers, tensors as they are) for the Python code that the
// head follows. The default, "labrun", is labrun's own checkpoint names.
struct ExportLayout {
  // Recorded in the export's JSON, e.g. "torchvision", "ssgrl-released".
  std::string name = "labrun";
  // Put before every backbone key, e.g. "resnet_101." (released SSGRL); ""
  // keeps the backbone's own names (the resnet backbone's are
  // torchvision's).
  std::string backbone_prefix = "backbone.";
  // A head key starting with a pair's first string gets it replaced by the
  // second (the first pair that matches), e.g. {"classifier.", "fc."}; the
  // other head keys get `head_prefix` put before them.
  std::vector<std::pair<std::string, std::string>> head_renames;
  std::string head_prefix = "head.";
};

class Head : public torch::nn::Module {
 public:
  // features: [B, C, h, w] float32 with C = ModelContext::in_channels.
  // returns: logits [B, K] float32, K = ModelContext::num_classes.
  virtual torch::Tensor forward(torch::Tensor features) = 0;
  // The names `labrun export` gives the model's tensors (see ExportLayout);
  // exported keys must not collide.
  virtual ExportLayout exportLayout() const { return {}; }
};

}  // namespace labrun
