// train.precision: the arithmetic a training step runs in. fp32 and tf32
// differ only on CUDA (TensorFloat-32 matrix products and convolutions);
// bf16 and fp16 run the forward pass under LibTorch's autocast, which casts
// the inputs of matrix products and convolutions to the half type and
// keeps the rest (reductions, the loss) in float32; fp16 also scales the
// loss (LossScaler.h). Evaluation always runs in float32, so metrics rank
// float32 scores as the papers' evaluations do.
#pragma once

#include <torch/types.h>

#include <string>

#include "labrun/AutocastState.h"
#include "spec/Located.h"
#include "train/Model.h"

namespace labrun::train {

enum class Precision { kFp32, kTf32, kBf16, kFp16 };

// "fp32" ... "fp16" on `device`. Throws spec::SpecError naming the spec's
// position for fp16 off CUDA (LibTorch's CPU autocast has bfloat16 only)
// and for a name that is none of the four.
Precision parsePrecision(const spec::Located<std::string>& name,
                         torch::Device device);

const char* precisionName(Precision precision);

// Sets the process-wide CUDA math mode the precision asks for: TF32 on for
// tf32, off otherwise (PyTorch enables it for cuDNN by default, which
// would make fp32 runs differ between CPU and GPU builds). Nothing on CPU.
void applyMathMode(Precision precision, torch::Device device);

// Autocast for bf16 and fp16 on `device` while alive (nothing for fp32 and
// tf32); restores the previous state and drops autocast's cast cache when
// it ends, as torch.autocast's __exit__ does.
class AutocastScope {
 public:
  AutocastScope(Precision precision, torch::Device device);
  ~AutocastScope();
  AutocastScope(const AutocastScope&) = delete;
  AutocastScope& operator=(const AutocastScope&) = delete;

 private:
  bool active_ = false;
  c10::DeviceType type_;
  AutocastState previous_;
};

// model(images) with the forward pass under `precision`'s autocast, as a
// training step takes it: the logits in float32, for the loss.
torch::Tensor trainingLogits(Model& model, const torch::Tensor& images,
                             Precision precision, torch::Device device);

}  // namespace labrun::train
