// Refreshes a run's heartbeat from a thread of its own, through a separate
// connection, so that long steps or evaluations never look like a crash.
#pragma once

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>

namespace labrun::store {

class Heartbeat {
 public:
  Heartbeat(std::string db_path, std::string run,
            std::chrono::seconds period = std::chrono::seconds(10));
  ~Heartbeat();  // stops and joins the thread
  Heartbeat(const Heartbeat&) = delete;
  Heartbeat& operator=(const Heartbeat&) = delete;

 private:
  void loop();

  std::string db_path_, run_;
  std::chrono::seconds period_;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace labrun::store
