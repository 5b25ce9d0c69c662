// A SQLite VFS for tests: it wraps the default VFS and makes the N-th
// write-side call (xWrite, xSync or xTruncate, on any file: database, WAL,
// journal) fail with a chosen error, as a failing or full disk would. Only
// that call (transient) or that call and every later one (persistent) fail.
#pragma once

#include <sqlite3.h>

#include <cstdint>

namespace labrun::store::test {

class FaultVfs {
 public:
  // Registers itself as the default VFS (connections opened from now on go
  // through it); the previous default is restored on destruction.
  FaultVfs();
  ~FaultVfs();
  FaultVfs(const FaultVfs&) = delete;
  FaultVfs& operator=(const FaultVfs&) = delete;

  // Counts write-side calls from zero; the `n`-th (1-based) fails with
  // `error` (SQLITE_IOERR_WRITE, SQLITE_FULL...). n = 0: nothing fails.
  void arm(std::int64_t n, int error, bool persistent);
  void disarm() { arm(0, SQLITE_OK, false); }
  // Write-side calls since arm().
  std::int64_t calls() const;
  // Calls that were made to fail since arm().
  std::int64_t failures() const;
};

}  // namespace labrun::store::test
