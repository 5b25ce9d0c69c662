#include "util/IoFault.h"

#include <atomic>

namespace labrun::util::io_fault {
namespace {

std::atomic<bool> g_armed{false};
std::atomic<std::int64_t> g_calls{0}, g_target{0};
std::atomic<int> g_error{0};
std::atomic<bool> g_persistent{false};

}  // namespace

int next() {
  if (!g_armed.load(std::memory_order_relaxed)) return 0;
  const std::int64_t call = ++g_calls;
  const std::int64_t target = g_target;
  if (target == 0 || call < target || (call > target && !g_persistent)) {
    return 0;
  }
  return g_error;
}

void arm(std::int64_t n, int error, bool persistent) {
  g_target = n;
  g_error = error;
  g_persistent = persistent;
  g_calls = 0;
  // Counting also when n = 0, so that a test can count the calls first.
  g_armed = true;
}

std::int64_t calls() { return g_calls; }

}  // namespace labrun::util::io_fault
