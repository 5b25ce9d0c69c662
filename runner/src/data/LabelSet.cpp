#include "data/LabelSet.h"

#include <torch/torch.h>

#include <utility>

namespace labrun::data {

LabelSet toLabelSet(LabelTable table) {
  const auto n = static_cast<std::int64_t>(table.numImages());
  const auto k = static_cast<std::int64_t>(table.numClasses());
  LabelSet set;
  set.class_names = std::move(table.class_names);
  set.image_paths = std::move(table.image_paths);
  // One pass over the codes; LibTorch's eq/to would take several.
  set.targets = torch::empty({n, k});
  set.mask = torch::empty({n, k});
  float* targets = set.targets.data_ptr<float>();
  float* mask = set.mask.data_ptr<float>();
  const std::vector<std::uint8_t>& states = table.states;
  for (std::size_t i = 0; i < states.size(); ++i) {
    targets[i] = states[i] == LabelTable::kPositive ? 1.f : 0.f;
    mask[i] = states[i] == LabelTable::kIgnored ? 0.f : 1.f;
  }
  return set;
}

LabelSet loadLabels(const LabelSourceOptions& options, const std::string& split,
                    const std::string& spec_dir, LabelLoadReport* report) {
  return toLabelSet(loadLabelTable(options, split, spec_dir, report));
}

}  // namespace labrun::data
