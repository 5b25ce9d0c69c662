#include "FaultVfs.h"

#include <atomic>
#include <cstring>
#include <stdexcept>

namespace labrun::store::test {
namespace {

constexpr const char* kName = "labrun-fault";

sqlite3_vfs* g_real = nullptr;  // the wrapped default VFS
sqlite3_vfs g_vfs;              // a copy of it with xOpen replaced
std::atomic<std::int64_t> g_calls{0}, g_target{0}, g_failures{0};
std::atomic<int> g_error{SQLITE_OK};
std::atomic<bool> g_persistent{false};

// Our file: its methods, then the real VFS's file right behind it.
struct File {
  sqlite3_file base;
  sqlite3_file* real() { return reinterpret_cast<sqlite3_file*>(this + 1); }
};
File* cast(sqlite3_file* file) { return reinterpret_cast<File*>(file); }
const sqlite3_io_methods* realMethods(sqlite3_file* file) {
  return cast(file)->real()->pMethods;
}

// SQLITE_OK, or the error this write-side call is to fail with.
int nextWriteSide() {
  const std::int64_t call = ++g_calls;
  const std::int64_t target = g_target;
  if (target == 0 || call < target || (call > target && !g_persistent)) {
    return SQLITE_OK;
  }
  ++g_failures;
  return g_error;
}

int xClose(sqlite3_file* f) { return realMethods(f)->xClose(cast(f)->real()); }
int xRead(sqlite3_file* f, void* buf, int n, sqlite3_int64 offset) {
  return realMethods(f)->xRead(cast(f)->real(), buf, n, offset);
}
int xWrite(sqlite3_file* f, const void* buf, int n, sqlite3_int64 offset) {
  if (const int rc = nextWriteSide()) return rc;
  return realMethods(f)->xWrite(cast(f)->real(), buf, n, offset);
}
int xTruncate(sqlite3_file* f, sqlite3_int64 size) {
  if (const int rc = nextWriteSide()) return rc;
  return realMethods(f)->xTruncate(cast(f)->real(), size);
}
int xSync(sqlite3_file* f, int flags) {
  if (const int rc = nextWriteSide()) return rc;
  return realMethods(f)->xSync(cast(f)->real(), flags);
}
int xFileSize(sqlite3_file* f, sqlite3_int64* size) {
  return realMethods(f)->xFileSize(cast(f)->real(), size);
}
int xLock(sqlite3_file* f, int level) {
  return realMethods(f)->xLock(cast(f)->real(), level);
}
int xUnlock(sqlite3_file* f, int level) {
  return realMethods(f)->xUnlock(cast(f)->real(), level);
}
int xCheckReservedLock(sqlite3_file* f, int* out) {
  return realMethods(f)->xCheckReservedLock(cast(f)->real(), out);
}
int xFileControl(sqlite3_file* f, int op, void* arg) {
  return realMethods(f)->xFileControl(cast(f)->real(), op, arg);
}
int xSectorSize(sqlite3_file* f) {
  return realMethods(f)->xSectorSize(cast(f)->real());
}
int xDeviceCharacteristics(sqlite3_file* f) {
  return realMethods(f)->xDeviceCharacteristics(cast(f)->real());
}
int xShmMap(sqlite3_file* f, int page, int size, int extend,
            void volatile** out) {
  return realMethods(f)->xShmMap(cast(f)->real(), page, size, extend, out);
}
int xShmLock(sqlite3_file* f, int offset, int n, int flags) {
  return realMethods(f)->xShmLock(cast(f)->real(), offset, n, flags);
}
void xShmBarrier(sqlite3_file* f) {
  realMethods(f)->xShmBarrier(cast(f)->real());
}
int xShmUnmap(sqlite3_file* f, int remove) {
  return realMethods(f)->xShmUnmap(cast(f)->real(), remove);
}
int xFetch(sqlite3_file* f, sqlite3_int64 offset, int n, void** out) {
  return realMethods(f)->xFetch(cast(f)->real(), offset, n, out);
}
int xUnfetch(sqlite3_file* f, sqlite3_int64 offset, void* p) {
  return realMethods(f)->xUnfetch(cast(f)->real(), offset, p);
}

const sqlite3_io_methods kMethods = {3,
                                     xClose,
                                     xRead,
                                     xWrite,
                                     xTruncate,
                                     xSync,
                                     xFileSize,
                                     xLock,
                                     xUnlock,
                                     xCheckReservedLock,
                                     xFileControl,
                                     xSectorSize,
                                     xDeviceCharacteristics,
                                     xShmMap,
                                     xShmLock,
                                     xShmBarrier,
                                     xShmUnmap,
                                     xFetch,
                                     xUnfetch};

int xOpen(sqlite3_vfs*, const char* name, sqlite3_file* file, int flags,
          int* out_flags) {
  File* ours = cast(file);
  const int rc = g_real->xOpen(g_real, name, ours->real(), flags, out_flags);
  // SQLite closes a file whose pMethods is set, even when xOpen failed.
  ours->base.pMethods = ours->real()->pMethods ? &kMethods : nullptr;
  return rc;
}

}  // namespace

FaultVfs::FaultVfs() {
  sqlite3_initialize();
  g_real = sqlite3_vfs_find(nullptr);
  if (g_real == nullptr || std::strcmp(g_real->zName, kName) == 0) {
    throw std::logic_error("FaultVfs: no default VFS, or already wrapped");
  }
  g_vfs = *g_real;
  g_vfs.zName = kName;
  g_vfs.szOsFile = static_cast<int>(sizeof(File)) + g_real->szOsFile;
  g_vfs.xOpen = xOpen;
  g_vfs.pNext = nullptr;
  disarm();
  sqlite3_vfs_register(&g_vfs, /*makeDflt=*/1);
}

FaultVfs::~FaultVfs() {
  sqlite3_vfs_unregister(&g_vfs);
  sqlite3_vfs_register(g_real, /*makeDflt=*/1);
}

void FaultVfs::arm(std::int64_t n, int error, bool persistent) {
  g_target = n;
  g_error = error;
  g_persistent = persistent;
  g_calls = 0;
  g_failures = 0;
}

std::int64_t FaultVfs::calls() const { return g_calls; }
std::int64_t FaultVfs::failures() const { return g_failures; }

}  // namespace labrun::store::test
