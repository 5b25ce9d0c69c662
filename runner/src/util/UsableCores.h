// How many cores "auto" means (threads, data.workers). Header-only, as
// util/HostMemory.h, for the trainer and the loader alike.
#pragma once

#include <sched.h>

#include <algorithm>
#include <thread>

namespace labrun::util {

// The cores this process may run on: its CPU affinity (taskset, a cgroup
// cpuset, `docker --cpuset-cpus`, a batch scheduler's binding), which
// std::thread::hardware_concurrency ignores: 64 threads on the 2 cores a
// job was given would only contend.
inline int usableCores() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (::sched_getaffinity(0, sizeof(set), &set) == 0) {
    return std::max(1, CPU_COUNT(&set));
  }
  return std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
}

}  // namespace labrun::util
