// Refreshes a run's heartbeat from a thread of its own, through a separate
// connection, so that long steps or evaluations never look like a crash.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

namespace labrun::store {

class Heartbeat {
 public:
  // With `claim` (RunStore::claimOf), beats only while the run is still
  // that claim's: a process whose run was resumed elsewhere stops keeping
  // it alive.
  Heartbeat(std::string db_path, std::string run,
            std::optional<std::int64_t> claim = std::nullopt,
            std::chrono::seconds period = std::chrono::seconds(10));
  ~Heartbeat();  // stops and joins the thread
  Heartbeat(const Heartbeat&) = delete;
  Heartbeat& operator=(const Heartbeat&) = delete;

 private:
  void loop();

  std::string db_path_, run_;
  std::optional<std::int64_t> claim_;
  std::chrono::seconds period_;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace labrun::store
