#include "store/Heartbeat.h"

#include <cstdio>

#include "store/RunStore.h"

namespace labrun::store {

Heartbeat::Heartbeat(std::string db_path, std::string run,
                     std::optional<std::int64_t> claim,
                     std::chrono::seconds period)
    : db_path_(std::move(db_path)),
      run_(std::move(run)),
      claim_(claim),
      period_(period),
      thread_([this] { loop(); }) {}

Heartbeat::~Heartbeat() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_ = true;
  }
  wake_.notify_all();
  thread_.join();
}

void Heartbeat::loop() {
  std::unique_ptr<RunStore> store;
  std::unique_lock<std::mutex> lock(mutex_);
  while (!wake_.wait_for(lock, period_, [this] { return stop_; })) {
    try {
      if (!store) store = RunStore::open(db_path_);
      store->heartbeat(run_, claim_);
    } catch (const StoreError& error) {
      // A missed beat only risks a false "crashed"; training goes on.
      std::fprintf(stderr, "labrun: warning: heartbeat: %s\n", error.what());
    }
  }
}

}  // namespace labrun::store
