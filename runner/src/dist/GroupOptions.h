// How a data-parallel run's process group works (distributed.*): its own
// header, so that the options' readers need none of c10d.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace labrun::dist {

struct GroupOptions {
  std::string backend = "gloo";  // gloo | nccl (see chooseBackend)
  std::chrono::milliseconds timeout = std::chrono::seconds(300);
  std::int64_t bucket_bytes = 25 << 20;  // gradient all-reduce bucket cap
  // Start each bucket's all-reduce during backward (prepareBackward).
  bool overlap_backward = true;
};

}  // namespace labrun::dist
