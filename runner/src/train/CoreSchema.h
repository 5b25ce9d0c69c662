// The keys of an experiment spec that the core itself reads.
#pragma once

#include "spec/Schema.h"

namespace labrun::train {

// Declared core fields (with defaults and docs) and the four plugin slots.
const spec::Schema& coreSchema();

}  // namespace labrun::train
