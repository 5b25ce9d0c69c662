// The data.* keys of the label source, bound from a validated tree: the
// part of the spec binding (train/ExperimentOptions.h) that needs no
// LibTorch, so that `labrun prepare` runs in the front end.
#pragma once

#include "data/LabelSource.h"
#include "spec/Node.h"

namespace labrun::train {

// The label source of a tree validated against coreSchema().
data::LabelSourceOptions bindLabelSource(const spec::Node& tree);

}  // namespace labrun::train
