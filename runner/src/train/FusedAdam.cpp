#include "train/FusedAdam.h"

#include <ATen/Parallel.h>
#include <torch/torch.h>

#include <cmath>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <tuple>
#include <type_traits>
#include <vector>

#include "train/AdamUpdate.h"

namespace labrun::train {
namespace {

// The update of one parameter, its ranges in parallel.
void update(float* p, const float* g, float* m, float* v, std::int64_t n,
            const AdamUpdate& u) {
  at::parallel_for(0, n, /*grain_size=*/1 << 15,
                   [&](std::int64_t begin, std::int64_t end) {
                     u.apply(p, g, m, v, begin, end);
                   });
}

// CUDA: torch's multi-tensor Adam kernel, a few launches for all the
// parameters of a group (LibTorch's step launches about ten per parameter,
// which bounds a GPU step by the host). The kernel reads the step count
// from a float32 tensor; decoupled decay (AdamW) is applied first, as
// LibTorch's AdamW does, since torch 1.13 has no fused AdamW kernel.
struct TensorLists {
  std::vector<torch::Tensor> params, grads, exp_avgs, exp_avg_sqs;
};

void multiTensorUpdate(const TensorLists& lists, std::int64_t step, double lr,
                       std::tuple<double, double> betas, double eps,
                       double decay, bool decoupled) {
  if (decoupled && decay != 0) {
    torch::_foreach_mul_(lists.params, 1 - lr * decay);
  }
  const torch::Tensor count =
      torch::full({}, static_cast<double>(step),
                  lists.params.front().options().dtype(torch::kFloat));
  const std::vector<torch::Tensor> counts(lists.params.size(), count);
  at::_fused_adam_(lists.params, lists.grads, lists.exp_avgs, lists.exp_avg_sqs,
                   /*max_exp_avg_sqs=*/{}, counts, lr, std::get<0>(betas),
                   std::get<1>(betas), decoupled ? 0.0 : decay, eps,
                   /*amsgrad=*/false,
                   /*maximize=*/false);
}

// Which update a step takes; every parameter with a gradient must suit it.
enum class Kernel { kCpuLoop, kCudaMultiTensor, kLibTorch };

// The update walks each tensor's memory in order, so the parameter, its
// gradient and moments must fill their memory alike: dense, with the same
// strides (contiguous or, for model.memory_format: channels_last, NHWC)
// except along dimensions of size 1, whose strides autograd leaves as they
// come (a 1x1 convolution's gradient).
bool denseFloatLike(const torch::Tensor& t, const torch::Tensor& param) {
  if (t.scalar_type() != torch::kFloat || t.layout() != torch::kStrided ||
      !t.is_non_overlapping_and_dense() || t.sizes() != param.sizes() ||
      t.device() != param.device()) {
    return false;
  }
  for (std::int64_t d = 0; d < t.dim(); ++d) {
    if (t.size(d) != 1 && t.stride(d) != param.stride(d)) return false;
  }
  return true;
}

// LibTorch keys optimizer state by a string of the TensorImpl address (1.x)
// or by the address itself (2.x).
template <typename StateMap>
typename StateMap::key_type stateKey(const torch::Tensor& param) {
  if constexpr (std::is_same_v<typename StateMap::key_type, std::string>) {
    std::ostringstream key;  // as c10::guts::to_string formats it
    key << param.unsafeGetTensorImpl();
    return key.str();
  } else {
    return param.unsafeGetTensorImpl();
  }
}

template <typename Options, typename State, typename StateMap>
Kernel chooseKernel(
    const std::vector<torch::optim::OptimizerParamGroup>& groups,
    const StateMap& states) {
  std::optional<torch::Device> device;
  for (const auto& group : groups) {
    if (static_cast<const Options&>(group.options()).amsgrad()) {
      return Kernel::kLibTorch;
    }
    for (const auto& param : group.params()) {
      const auto& grad = param.grad();
      if (!grad.defined()) continue;
      if (!device) device = param.device();
      if (param.device() != *device || !denseFloatLike(param, param) ||
          !denseFloatLike(grad, param)) {
        return Kernel::kLibTorch;
      }
      // State loaded from a checkpoint must be laid out like the parameter.
      const auto found = states.find(stateKey<StateMap>(param));
      if (found == states.end()) continue;
      const auto& state = static_cast<const State&>(*found->second);
      for (const auto& moment : {state.exp_avg(), state.exp_avg_sq()}) {
        if (!denseFloatLike(moment, param)) {
          return Kernel::kLibTorch;
        }
      }
    }
  }
  if (!device || device->is_cpu()) return Kernel::kCpuLoop;
  return device->is_cuda() ? Kernel::kCudaMultiTensor : Kernel::kLibTorch;
}

// The fused step over every group, or false (and nothing changed) when a
// parameter or option needs LibTorch's own step.
template <typename Options, typename State, typename StateMap>
bool fusedStep(std::vector<torch::optim::OptimizerParamGroup>& groups,
               StateMap& states, bool decoupled) {
  const Kernel kernel = chooseKernel<Options, State>(groups, states);
  if (kernel == Kernel::kLibTorch) return false;
  torch::NoGradGuard no_grad;
  for (auto& group : groups) {
    const auto& options = static_cast<Options&>(group.options());
    const auto [beta1, beta2] = options.betas();
    const double decay = options.weight_decay();
    // Parameters by step count (one count, unless state was loaded for
    // some parameters only).
    std::map<std::int64_t, TensorLists> by_step;
    for (auto& param : group.params()) {
      if (!param.grad().defined()) continue;
      auto& slot = states[stateKey<StateMap>(param)];
      if (!slot) {
        auto fresh = std::make_unique<State>();
        fresh->exp_avg(torch::zeros_like(param, torch::MemoryFormat::Preserve));
        fresh->exp_avg_sq(
            torch::zeros_like(param, torch::MemoryFormat::Preserve));
        slot = std::move(fresh);
      }
      auto& state = static_cast<State&>(*slot);
      state.step(state.step() + 1);
      if (kernel == Kernel::kCudaMultiTensor) {
        TensorLists& lists = by_step[state.step()];
        lists.params.push_back(param);
        lists.grads.push_back(param.grad());
        lists.exp_avgs.push_back(state.exp_avg());
        lists.exp_avg_sqs.push_back(state.exp_avg_sq());
        continue;
      }
      const double bias_correction1 = 1 - std::pow(beta1, state.step());
      const double bias_correction2 = 1 - std::pow(beta2, state.step());
      const AdamUpdate coefficients{
          static_cast<float>(beta1),
          static_cast<float>(1 - beta1),
          static_cast<float>(beta2),
          static_cast<float>(1 - beta2),
          static_cast<float>(std::sqrt(bias_correction2)),
          static_cast<float>(options.eps()),
          static_cast<float>(-(options.lr() / bias_correction1)),
          static_cast<float>(decoupled ? 0.0 : decay),
          static_cast<float>(decoupled ? 1 - options.lr() * decay : 1.0),
          decoupled && decay != 0};
      torch::Tensor exp_avg = state.exp_avg(), exp_avg_sq = state.exp_avg_sq();
      update(param.data_ptr<float>(), param.grad().data_ptr<float>(),
             exp_avg.data_ptr<float>(), exp_avg_sq.data_ptr<float>(),
             param.numel(), coefficients);
    }
    for (const auto& [step, lists] : by_step) {
      multiTensorUpdate(lists, step, options.lr(), options.betas(),
                        options.eps(), decay, decoupled);
    }
  }
  return true;
}

// Evaluates the closure (with grad), then takes the fused step or, where it
// cannot, `fallback` (LibTorch's step without the closure); `fused` says
// which.
template <typename Options, typename State, typename StateMap,
          typename Fallback>
torch::Tensor stepOrFallBack(
    const torch::optim::Optimizer::LossClosure& closure,
    std::vector<torch::optim::OptimizerParamGroup>& groups, StateMap& states,
    bool decoupled, bool& fused, Fallback fallback) {
  torch::Tensor loss;
  if (closure != nullptr) {
    at::AutoGradMode enable_grad(true);
    loss = closure();
  }
  fused = fusedStep<Options, State>(groups, states, decoupled);
  if (!fused) fallback();
  return loss;
}

}  // namespace

torch::Tensor FusedAdam::step(LossClosure closure) {
  return stepOrFallBack<torch::optim::AdamOptions,
                        torch::optim::AdamParamState>(
      closure, param_groups_, state_, /*decoupled=*/false, last_step_fused_,
      [this] { torch::optim::Adam::step(nullptr); });
}

torch::Tensor FusedAdamW::step(LossClosure closure) {
  return stepOrFallBack<torch::optim::AdamWOptions,
                        torch::optim::AdamWParamState>(
      closure, param_groups_, state_, /*decoupled=*/true, last_step_fused_,
      [this] { torch::optim::AdamW::step(nullptr); });
}

}  // namespace labrun::train
