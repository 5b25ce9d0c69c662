// The training stages of a run, in their fixed order (train/TrainStage.h).
// A new stage is one line here (and its option in TrainerOptions); the loop
// does not change.
#pragma once

#include <memory>
#include <vector>

#include "train/TrainStage.h"

namespace labrun::train {

// The stages `loop.options()` asks for.
std::vector<std::unique_ptr<TrainStage>> makeStages(TrainLoop& loop);

}  // namespace labrun::train
