#include "train/Model.h"

#include <map>
#include <stdexcept>

namespace labrun::train {

ModelImpl::ModelImpl(std::shared_ptr<Backbone> backbone,
                     std::shared_ptr<Head> head)
    : backbone_(register_module("backbone", std::move(backbone))),
      head_(register_module("head", std::move(head))) {}

torch::Tensor ModelImpl::forward(torch::Tensor images) {
  return head_->forward(backbone_->forward(images.contiguous(memory_format_)));
}

void ModelImpl::setMemoryFormat(c10::MemoryFormat format) {
  if (format != c10::MemoryFormat::Contiguous &&
      format != c10::MemoryFormat::ChannelsLast) {
    throw std::invalid_argument(
        "Model::setMemoryFormat: Contiguous or ChannelsLast only");
  }
  torch::NoGradGuard no_grad;
  const auto relayout = [format](torch::Tensor tensor) {
    if (tensor.dim() == 4) tensor.set_data(tensor.contiguous(format));
  };
  for (auto& parameter : parameters()) relayout(parameter);
  for (auto& buffer : buffers()) relayout(buffer);
  memory_format_ = format;
}

namespace {

std::vector<std::pair<std::string, torch::Tensor>> ownTensors(
    const torch::nn::Module& module) {
  std::vector<std::pair<std::string, torch::Tensor>> out;
  for (const auto& item : module.named_parameters()) {
    out.emplace_back(item.key(), item.value());
  }
  for (const auto& item : module.named_buffers()) {
    out.emplace_back(item.key(), item.value());
  }
  return out;
}

std::string headKey(const ExportLayout& layout, const std::string& key) {
  for (const auto& [from, to] : layout.head_renames) {
    if (key.rfind(from, 0) == 0) return to + key.substr(from.size());
  }
  return layout.head_prefix + key;
}

}  // namespace

std::vector<std::pair<std::string, torch::Tensor>> ModelImpl::exportedState()
    const {
  const ExportLayout layout = exportLayout();
  std::vector<std::pair<std::string, torch::Tensor>> out;
  std::map<std::string, std::string> source;  // exported name -> model name
  const auto add = [&](const std::string& name, const std::string& own,
                       const torch::Tensor& tensor) {
    const auto [at, fresh] = source.emplace(name, own);
    if (!fresh) {
      throw std::runtime_error("export layout '" + layout.name + "' names " +
                               at->second + " and " + own + " both '" + name +
                               "'");
    }
    // A copy of its own (a view would save its whole storage), laid out
    // as PyTorch's modules are by default whatever the model's format is.
    out.emplace_back(
        name,
        tensor.detach().to(torch::kCPU).clone(torch::MemoryFormat::Contiguous));
  };
  for (const auto& [key, tensor] : ownTensors(*backbone_)) {
    add(layout.backbone_prefix + key, "backbone." + key, tensor);
  }
  for (const auto& [key, tensor] : ownTensors(*head_)) {
    add(headKey(layout, key), "head." + key, tensor);
  }
  return out;
}

}  // namespace labrun::train
