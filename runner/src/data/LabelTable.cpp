#include "data/LabelTable.h"

#include <cstring>

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

}  // namespace labrun::data
