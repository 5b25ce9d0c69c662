// The data.* keys of the label source, bound from a validated tree: the
// part of the spec binding (train/ExperimentOptions.h) that needs no
// LibTorch, so that `labrun prepare` runs in the front end.
#pragma once

#include <stdexcept>

#include "data/LabelSource.h"
#include "spec/Node.h"
#include "spec/SpecError.h"

namespace labrun::train {

// The label source of a tree validated against coreSchema().
data::LabelSourceOptions bindLabelSource(const spec::Node& tree);

// What `load` returns; its failure (unreadable or malformed annotations)
// rethrown as a spec error: found before anything is recorded, the spec
// points at bad data (exit code 2, for `labrun run` and `prepare` alike).
template <typename Load>
auto labelsOrSpecError(const Load& load) {
  try {
    return load();
  } catch (const spec::SpecError&) {
    throw;
  } catch (const std::runtime_error& bad_data) {
    throw spec::SpecError(bad_data.what());
  }
}

}  // namespace labrun::train
