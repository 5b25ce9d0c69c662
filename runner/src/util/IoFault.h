// Fault injection seam for the file I/O labrun does itself: checkpoint
// writes (AtomicFile) and checkpoint reads (sha256File). Each such I/O call
// asks next() first; a test arms the N-th call to fail with an errno, as a
// full disk or a failing device would (docs/RELIABILITY.md). The store's
// SQLite I/O has its own seam, a test VFS. Unarmed, next() is one relaxed
// atomic load.
#pragma once

#include <cstdint>

namespace labrun::util::io_fault {

// 0, or the errno that the calling I/O call must fail with.
int next();

// For tests: counting from now, the n-th (1-based) call fails with errno
// `error`, and so does every later one when `persistent`; n = 0 disarms.
void arm(std::int64_t n, int error, bool persistent);
// Calls since arm().
std::int64_t calls();

}  // namespace labrun::util::io_fault
