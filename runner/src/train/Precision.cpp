#include "train/Precision.h"

#include <ATen/Context.h>
#include <fmt/format.h>

#include "spec/SpecError.h"

namespace labrun::train {
namespace {

constexpr const char* kNames[] = {"fp32", "tf32", "bf16", "fp16"};

bool lowPrecision(Precision precision) {
  return precision == Precision::kBf16 || precision == Precision::kFp16;
}

}  // namespace

Precision parsePrecision(const spec::Located<std::string>& name,
                         torch::Device device) {
  for (int i = 0; i < 4; ++i) {
    if (name.value != kNames[i]) continue;
    const auto precision = static_cast<Precision>(i);
    if (precision == Precision::kFp16 && !device.is_cuda()) {
      throw spec::SpecError(fmt::format(
          "{}: train.precision: fp16 needs a CUDA device (LibTorch's CPU "
          "autocast has bfloat16 only; use bf16), found device '{}'",
          name.origin, device.str()));
    }
    return precision;
  }
  throw spec::SpecError(fmt::format(
      "{}: train.precision: expected fp32, tf32, bf16 or fp16, found '{}'",
      name.origin, name.value));
}

const char* precisionName(Precision precision) {
  return kNames[static_cast<int>(precision)];
}

void applyMathMode(Precision precision, torch::Device device) {
  if (!device.is_cuda()) return;
  const bool tf32 = precision == Precision::kTf32;
  at::globalContext().setAllowTF32CuBLAS(tf32);
  at::globalContext().setAllowTF32CuDNN(tf32);
}

AutocastScope::AutocastScope(Precision precision, torch::Device device)
    : active_(lowPrecision(precision)), type_(device.type()) {
  if (!active_) return;
  previous_ = AutocastState::of(type_);
  AutocastState{/*enabled=*/true,
                precision == Precision::kBf16 ? at::kBFloat16 : at::kHalf}
      .applyTo(type_);
  at::autocast::increment_nesting();
}

AutocastScope::~AutocastScope() {
  if (!active_) return;
  // The cache holds the half copies of the weights for this forward pass.
  if (at::autocast::decrement_nesting() == 0) at::autocast::clear_cache();
  previous_.applyTo(type_);
}

torch::Tensor trainingLogits(Model& model, const torch::Tensor& images,
                             Precision precision, torch::Device device) {
  torch::Tensor logits;
  {
    const AutocastScope autocast(precision, device);
    logits = model->forward(images);
  }
  // The loss in float32, as autocast would compute it anyway.
  return logits.to(torch::kFloat);
}

}  // namespace labrun::train
