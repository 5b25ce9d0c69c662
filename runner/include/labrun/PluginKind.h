// The four kinds of plugin the runner composes into an experiment.
#pragma once

#include <cstdint>

namespace labrun {

enum class PluginKind : std::uint32_t { kBackbone, kHead, kLoss, kMetric };

inline const char* pluginKindName(PluginKind kind) {
  switch (kind) {
    case PluginKind::kBackbone:
      return "backbone";
    case PluginKind::kHead:
      return "head";
    case PluginKind::kLoss:
      return "loss";
    case PluginKind::kMetric:
      return "metric";
  }
  return "unknown";
}

}  // namespace labrun
