#include "data/LabelTable.h"

#include <torch/torch.h>

#include <cstring>

#include "data/LabelSet.h"

namespace labrun::data {

void LabelTable::keepImages(const std::vector<bool>& keep) {
  const std::size_t k = numClasses();
  std::size_t kept = 0;
  for (std::size_t i = 0; i < numImages(); ++i) {
    if (!keep[i]) continue;
    if (kept != i) {
      image_paths[kept] = std::move(image_paths[i]);
      std::memmove(&states[kept * k], &states[i * k], k);
    }
    ++kept;
  }
  image_paths.resize(kept);
  states.resize(kept * k);
}

LabelSet LabelTable::toLabelSet() const& {
  return LabelTable(*this).toLabelSet();
}

LabelSet LabelTable::toLabelSet() && {
  const auto n = static_cast<std::int64_t>(numImages());
  const auto k = static_cast<std::int64_t>(numClasses());
  LabelSet set;
  set.class_names = std::move(class_names);
  set.image_paths = std::move(image_paths);
  // One pass over the codes; LibTorch's eq/to would take several.
  set.targets = torch::empty({n, k});
  set.mask = torch::empty({n, k});
  float* targets = set.targets.data_ptr<float>();
  float* mask = set.mask.data_ptr<float>();
  for (std::size_t i = 0; i < states.size(); ++i) {
    targets[i] = states[i] == kPositive ? 1.f : 0.f;
    mask[i] = states[i] == kIgnored ? 0.f : 1.f;
  }
  return set;
}

}  // namespace labrun::data
