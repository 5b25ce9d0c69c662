// One run, end to end: spec (load, merge, override, validate) -> plugins ->
// model + data -> training loop -> run store.
#pragma once

#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include "plugins/PluginHost.h"
#include "spec/Node.h"
#include "store/RunStore.h"

namespace labrun::train {

struct ResolvedSpec {
  spec::Node tree;   // validated, defaults filled
  std::string path;  // the spec file as given
  std::string yaml;  // the resolved spec as stored and printed by --dry-run
};

// Loads `path` with its bases, applies `overrides`, resolves interpolations
// and validates against the core schema and the named plugins' schemas.
// Throws spec::SpecError (a usage error) on the first problem.
ResolvedSpec resolveSpec(const std::string& path,
                         const std::vector<std::string>& overrides,
                         const plugins::PluginHost& host);

struct RunOutcome {
  std::string uuid;
  std::string status;  // FINISHED or FAILED
  std::string error;
};

class Experiment {
 public:
  // Builds data, plugins, model and optimizer. Throws spec::SpecError or
  // plugins::PluginError before anything is recorded.
  Experiment(ResolvedSpec spec, const plugins::PluginHost& host);
  ~Experiment();

  // Records a new run in `store` and trains it; a failure during training
  // marks the run FAILED (with the error) rather than throwing.
  RunOutcome run(store::RunStore& store, const std::string& command_line,
                 std::ostream& log);

 private:
  struct Parts;
  ResolvedSpec spec_;
  std::unique_ptr<Parts> parts_;
};

}  // namespace labrun::train
