// Backbone + head as one module; parameter names start with "backbone." and
// "head." so that freezing and learning-rate groups can select them.
#pragma once

#include <c10/core/MemoryFormat.h>
#include <torch/nn/module.h>
#include <torch/nn/pimpl.h>

#include <string>
#include <utility>
#include <vector>

#include "labrun/Backbone.h"
#include "labrun/Head.h"

namespace labrun::train {

class ModelImpl : public torch::nn::Module {
 public:
  ModelImpl(std::shared_ptr<Backbone> backbone, std::shared_ptr<Head> head);
  // images [B, 3, H, W] -> logits [B, K]; the images are laid out in the
  // setMemoryFormat() format first.
  torch::Tensor forward(torch::Tensor images);

  // Lays out every 4-d parameter and buffer (convolution weights) in
  // `format`, and the images given to forward: ChannelsLast (NHWC) lets
  // oneDNN and cuDNN skip their reorders. Values do not change, only
  // strides; call it before the optimizer makes its state. Contiguous or
  // ChannelsLast.
  void setMemoryFormat(c10::MemoryFormat format);

  // The head's names for Python code (`labrun export`, labrun/Head.h).
  ExportLayout exportLayout() const { return head_->exportLayout(); }
  // Every parameter and buffer, parameters first, as CPU copies named by
  // exportLayout(). Throws std::runtime_error naming the two tensors when
  // the layout gives them one name.
  std::vector<std::pair<std::string, torch::Tensor>> exportedState() const;

 private:
  std::shared_ptr<Backbone> backbone_;
  std::shared_ptr<Head> head_;
  c10::MemoryFormat memory_format_ = c10::MemoryFormat::Contiguous;
};
TORCH_MODULE(Model);

}  // namespace labrun::train
