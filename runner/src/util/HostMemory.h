// How the process's allocator treats large freed blocks. Header-only, so
// that every executable (labrun, labrun-torch, the benchmarks of the
// model-only build) calls the same thing without one more library.
#pragma once

#include <cstdlib>
#if defined(__GLIBC__)
#include <malloc.h>
#endif

namespace labrun::util {

// A training step frees and allocates the same large blocks every time
// (activations, gradients, temporaries of up to 32 MiB each). glibc maps
// every block above its mmap threshold (at most 32 MiB) afresh and unmaps
// it when freed, so each step pays a page fault per 4 KiB it touches
// again; on the 2-core benchmark VM that made a ResNet-101 step 1.5x
// slower (docs/BENCHMARKS.md, "Training step"). This serves all blocks
// from the heap and keeps freed heap memory for reuse (up to 2 GiB of
// free memory at its top): the peak RSS is the same, memory is returned
// at exit. What jemalloc or tcmalloc with long decay times do, without
// preloading either. Left alone when GLIBC_TUNABLES is set: the user
// tunes malloc.
inline void keepFreedHostMemory() {
#if defined(__GLIBC__)
  if (std::getenv("GLIBC_TUNABLES") != nullptr) return;
  mallopt(M_MMAP_MAX, 0);
  mallopt(M_TRIM_THRESHOLD, 2147483647);
#endif
}

}  // namespace labrun::util
