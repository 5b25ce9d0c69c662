// A plugin that cannot be found, loaded or built. Raised before a run starts
// it is a usage error (exit code 2). Apart from PluginHost.h so that code
// without LibTorch (the command-line app) can catch it.
#pragma once

#include <stdexcept>

namespace labrun::plugins {

class PluginError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

}  // namespace labrun::plugins
