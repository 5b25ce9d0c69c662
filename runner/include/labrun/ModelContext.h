// What the host knows when it builds a plugin: the task and the shapes that
// flow between plugins, so no plugin needs hand-typed sizes.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace labrun {

struct ModelContext {
  // Number of labels K and their names (size K), in label-vector order.
  std::int64_t num_classes = 0;
  std::vector<std::string> class_names;
  // Channels of the backbone's feature map; set when building a head.
  std::int64_t in_channels = 0;
  // Directory of the experiment spec, for resolving relative file options.
  std::string spec_dir;
};

}  // namespace labrun
