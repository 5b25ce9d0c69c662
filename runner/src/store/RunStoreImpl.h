// The state behind a RunStore, shared by its write side (RunStore.cpp) and
// its typed reads (RunReads.cpp). Internal to runner/src/store.
#pragma once

#include <sqlite3.h>

#include <map>
#include <string>
#include <utility>
#include <vector>

#include "store/RunStore.h"

namespace labrun::store {

struct RunStore::Impl {
  sqlite3* db = nullptr;
  // Metric rows not yet written, with their run uuid.
  std::vector<std::pair<std::string, MetricRow>> pending;
  // When a flush last refreshed its runs' heartbeat (unix seconds).
  double flush_heartbeat_at = 0;
  // Runs this store created or resumed, with the claim (`resumes`) it holds.
  std::map<std::string, std::int64_t> claims;

  ~Impl() { sqlite3_close_v2(db); }
};

}  // namespace labrun::store
