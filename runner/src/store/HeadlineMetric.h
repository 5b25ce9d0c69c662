// The validation key that runs are ranked, watched and summarised by
// unless a spec says otherwise: the `map` metric's mean AP. The store's
// run_summary view reads the same key; its SQL, fixed by its migration,
// spells it out (StoreTest ties the two).
#pragma once

namespace labrun::store {

inline constexpr char kHeadlineMetric[] = "val/mAP";

}  // namespace labrun::store
