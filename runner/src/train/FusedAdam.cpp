#include "train/FusedAdam.h"

#include <ATen/Parallel.h>
#include <torch/torch.h>

#include <cmath>
#include <sstream>
#include <string>
#include <type_traits>

namespace labrun::train {
namespace {

// The per-step constants, as LibTorch's Adam passes them to its float
// kernels (double arithmetic, then one conversion to float).
struct Coefficients {
  float beta1, one_minus_beta1, beta2, one_minus_beta2;
  float sqrt_bias_correction2, eps, neg_step_size;
  float l2_decay;    // Adam: grad += l2_decay * p
  float keep_ratio;  // AdamW: p *= keep_ratio first (1 when no decay)
  bool decoupled;
};

// One pass of
//   grad = g + l2 * p                      (Adam with weight decay)
//   p = p * keep                           (AdamW with weight decay)
//   m = m * b1 + (1 - b1) * grad
//   v = v * b2 + (1 - b2) * grad * grad
//   p = p + (-step) * m / (sqrt(v) / sqrt(bc2) + eps)
// with each operation rounded to float, in LibTorch's order. LibTorch's
// vectorised kernels fuse some multiply-adds (FMA) that this loop rounds
// twice, so results differ from LibTorch's by a float ulp or two.
void update(float* __restrict p, const float* __restrict g, float* __restrict m,
            float* __restrict v, std::int64_t n, const Coefficients& c) {
  at::parallel_for(
      0, n, /*grain_size=*/1 << 15, [&](std::int64_t begin, std::int64_t end) {
        for (std::int64_t i = begin; i < end; ++i) {
          float grad = g[i];
          if (c.l2_decay != 0) grad = grad + c.l2_decay * p[i];
          if (c.decoupled) p[i] = p[i] * c.keep_ratio;
          m[i] = m[i] * c.beta1 + c.one_minus_beta1 * grad;
          v[i] = v[i] * c.beta2 + c.one_minus_beta2 * grad * grad;
          const float denom = std::sqrt(v[i]) / c.sqrt_bias_correction2 + c.eps;
          p[i] = p[i] + c.neg_step_size * m[i] / denom;
        }
      });
}

bool fusable(const torch::Tensor& t) {
  return t.device().is_cpu() && t.scalar_type() == torch::kFloat &&
         t.layout() == torch::kStrided && t.is_contiguous();
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

// The fused step over every group, or false (and nothing changed) when a
// parameter or option needs LibTorch's own step.
template <typename Options, typename State, typename StateMap>
bool fusedStep(std::vector<torch::optim::OptimizerParamGroup>& groups,
               StateMap& states, bool decoupled) {
  for (auto& group : groups) {
    if (static_cast<Options&>(group.options()).amsgrad()) return false;
    for (const auto& param : group.params()) {
      const auto& grad = param.grad();
      if (!grad.defined()) continue;
      if (!fusable(param) || !fusable(grad)) return false;
      // State loaded from a checkpoint must be laid out like the parameter.
      const auto found = states.find(stateKey<StateMap>(param));
      if (found == states.end()) continue;
      const auto& state = static_cast<const State&>(*found->second);
      for (const auto& moment : {state.exp_avg(), state.exp_avg_sq()}) {
        if (!fusable(moment) || moment.numel() != param.numel()) return false;
      }
    }
  }
  torch::NoGradGuard no_grad;
  for (auto& group : groups) {
    const auto& options = static_cast<Options&>(group.options());
    const auto [beta1, beta2] = options.betas();
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
      const double bias_correction1 = 1 - std::pow(beta1, state.step());
      const double bias_correction2 = 1 - std::pow(beta2, state.step());
      const double decay = options.weight_decay();
      const Coefficients coefficients{
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
  }
  return true;
}

// Evaluates the closure (with grad), then takes the fused step or, where it
// cannot, `fallback` (LibTorch's step without the closure).
template <typename Options, typename State, typename StateMap,
          typename Fallback>
torch::Tensor stepOrFallBack(
    const torch::optim::Optimizer::LossClosure& closure,
    std::vector<torch::optim::OptimizerParamGroup>& groups, StateMap& states,
    bool decoupled, Fallback fallback) {
  torch::Tensor loss;
  if (closure != nullptr) {
    at::AutoGradMode enable_grad(true);
    loss = closure();
  }
  if (!fusedStep<Options, State>(groups, states, decoupled)) fallback();
  return loss;
}

}  // namespace

torch::Tensor FusedAdam::step(LossClosure closure) {
  return stepOrFallBack<torch::optim::AdamOptions,
                        torch::optim::AdamParamState>(
      closure, param_groups_, state_, /*decoupled=*/false,
      [this] { torch::optim::Adam::step(nullptr); });
}

torch::Tensor FusedAdamW::step(LossClosure closure) {
  return stepOrFallBack<torch::optim::AdamWOptions,
                        torch::optim::AdamWParamState>(
      closure, param_groups_, state_, /*decoupled=*/true,
      [this] { torch::optim::AdamW::step(nullptr); });
}

}  // namespace labrun::train
