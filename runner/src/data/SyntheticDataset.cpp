#include "data/SyntheticDataset.h"

#include <fmt/format.h>
#include <torch/torch.h>

#include <array>
#include <cmath>
#include <random>
#include <stdexcept>

namespace labrun::data {
namespace {

constexpr std::int64_t kMaxClasses = 16;
// The images are normalised as (x - kMean) / kStd, x in [0, 1] around a
// grey background of kMean.
constexpr float kMean = 0.5f;
constexpr float kStd = 0.25f;

// Colour of class k: distinct hues spread around the wheel.
std::array<float, 3> classColour(std::int64_t k, std::int64_t classes) {
  const float hue = static_cast<float>(k) / static_cast<float>(classes) * 6.0f;
  const float x = 1.0f - std::abs(std::fmod(hue, 2.0f) - 1.0f);
  const int sector = static_cast<int>(hue) % 6;
  static const int kOrder[6][3] = {{0, 1, 2}, {1, 0, 2}, {2, 0, 1},
                                   {2, 1, 0}, {1, 2, 0}, {0, 2, 1}};
  std::array<float, 3> rgb{};
  rgb[kOrder[sector][0]] = 1.0f;
  rgb[kOrder[sector][1]] = x;
  rgb[kOrder[sector][2]] = 0.0f;
  return rgb;
}

// Pattern value in [0, 1] of class k at (y, x) inside its square: solid,
// stripes or a checkerboard, so colour alone does not identify a class.
float classPattern(std::int64_t k, std::int64_t y, std::int64_t x) {
  switch (k % 3) {
    case 0:
      return 1.0f;
    case 1:
      return (y / 2) % 2 == 0 ? 1.0f : 0.3f;
    default:
      return ((y / 2) + (x / 2)) % 2 == 0 ? 1.0f : 0.3f;
  }
}

}  // namespace

TensorDataset makeSyntheticDataset(const SyntheticOptions& options) {
  const std::int64_t classes = options.num_classes;
  const std::int64_t side = options.image_size;
  if (classes < 2 || classes > kMaxClasses) {
    throw std::invalid_argument("data.synthetic.num_classes: expected 2..16");
  }
  if (side < 16) {
    throw std::invalid_argument("data.synthetic.image_size: expected >= 16");
  }
  if (options.size < 1) {
    throw std::invalid_argument("data.synthetic: set size must be positive");
  }
  std::mt19937_64 rng(options.seed);
  std::uniform_real_distribution<float> unit(0.0f, 1.0f);
  std::normal_distribution<float> noise(0.0f, 0.08f);
  const std::int64_t object = side / 4;
  std::uniform_int_distribution<std::int64_t> place(0, side - object);
  const std::int64_t scenes = (classes + 1) / 2;
  std::uniform_int_distribution<std::int64_t> pick_scene(0, scenes - 1);

  torch::Tensor images = torch::empty({options.size, 3, side, side});
  torch::Tensor targets = torch::zeros({options.size, classes});
  auto pixels = images.accessor<float, 4>();
  auto labels = targets.accessor<float, 2>();
  for (std::int64_t n = 0; n < options.size; ++n) {
    for (std::int64_t c = 0; c < 3; ++c)
      for (std::int64_t y = 0; y < side; ++y)
        for (std::int64_t x = 0; x < side; ++x)
          pixels[n][c][y][x] = kMean + noise(rng);
    // A scene usually brings its two classes; others appear rarely.
    const std::int64_t scene = pick_scene(rng);
    for (std::int64_t k = 0; k < classes; ++k) {
      const bool in_scene = k / 2 == scene;
      const float p = in_scene ? (k % 2 == 0 ? 0.9f : 0.7f) : 0.08f;
      if (unit(rng) < p) labels[n][k] = 1.0f;
    }
    for (std::int64_t k = 0; k < classes; ++k) {
      if (labels[n][k] == 0.0f) continue;
      const auto colour = classColour(k, classes);
      const std::int64_t top = place(rng), left = place(rng);
      for (std::int64_t y = 0; y < object; ++y)
        for (std::int64_t x = 0; x < object; ++x)
          for (std::int64_t c = 0; c < 3; ++c)
            pixels[n][c][top + y][left + x] =
                colour[c] * classPattern(k, y, x) + noise(rng);
    }
  }
  TensorDataset dataset;
  dataset.images = (images - kMean) / kStd;
  dataset.targets = targets;
  dataset.mask = torch::ones_like(targets);
  dataset.class_names = syntheticClassNames(options);
  return dataset;
}

std::vector<std::string> syntheticImageSteps(const SyntheticOptions& options) {
  return {fmt::format("resize {0}x{0}", options.image_size),
          fmt::format("normalize {0} {0} {0} {1} {1} {1}", kMean, kStd)};
}

std::vector<std::string> syntheticClassNames(const SyntheticOptions& options) {
  std::vector<std::string> names;
  for (std::int64_t k = 0; k < options.num_classes; ++k) {
    names.push_back("shape" + std::to_string(k));
  }
  return names;
}

}  // namespace labrun::data
