#include "SinePositionEmbedding.h"

#include <torch/torch.h>

#include <cmath>

namespace labrun::q2l {
namespace {

constexpr double kTwoPi = 2 * 3.14159265358979323846;
constexpr double kTemperature = 10000;

// [features, n]: one axis's features at coordinates 1..n.
torch::Tensor axisEmbedding(std::int64_t n, std::int64_t features) {
  const auto f64 = torch::kFloat64;
  const torch::Tensor coordinate =
      torch::arange(1, n + 1, f64) / (static_cast<double>(n) + 1e-6) * kTwoPi;
  const torch::Tensor index = torch::arange(features, f64);
  const torch::Tensor frequency =
      torch::pow(kTemperature,
                 2 * torch::floor(index / 2) / static_cast<double>(features));
  const torch::Tensor angle = coordinate.unsqueeze(0) / frequency.unsqueeze(1);
  const torch::Tensor even = (torch::arange(features) % 2 == 0).unsqueeze(1);
  return torch::where(even, torch::sin(angle), torch::cos(angle));
}

}  // namespace

torch::Tensor sinePositionEmbedding(std::int64_t height, std::int64_t width,
                                    std::int64_t channels,
                                    const torch::TensorOptions& options) {
  const std::int64_t features = channels / 2;
  const torch::Tensor rows = axisEmbedding(height, features);
  const torch::Tensor columns = axisEmbedding(width, features);
  return torch::cat({rows.unsqueeze(2).expand({-1, -1, width}),
                     columns.unsqueeze(1).expand({-1, height, -1})},
                    /*dim=*/0)
      .to(options);
}

}  // namespace labrun::q2l
