#include "train/Model.h"

namespace labrun::train {

ModelImpl::ModelImpl(std::shared_ptr<Backbone> backbone,
                     std::shared_ptr<Head> head)
    : backbone_(register_module("backbone", std::move(backbone))),
      head_(register_module("head", std::move(head))) {}

torch::Tensor ModelImpl::forward(torch::Tensor images) {
  return head_->forward(backbone_->forward(images));
}

}  // namespace labrun::train
