// Test-only LD_PRELOAD library for the kill tests (docs/RELIABILITY.md). It
// counts the write-side I/O calls of the process it is loaded into (write
// and pwrite to files, fsync, fdatasync, ftruncate, rename: SQLite's
// commits, its WAL and heartbeat writes and the checkpoint writes alike)
// and, at the call numbered LABRUN_KILL_AT_IO, names the call on stderr
// and SIGKILLs the process before the call runs. LABRUN_IO_TRACE_FILE lists
// the calls of a whole run, for the test to choose from.
// LABRUN_SIGNAL_AFTER_RENAME="SIGNALS:NAME" sends SIGNALS (INT, TERM, KILL
// or STOP, several joined by '+', e.g. "INT+INT") to the process once it
// has renamed a file to a path ending in NAME (e.g. "step-00000004.pt": the
// checkpoint of step 4 is in place), so that a test stops a run at an exact
// point, however fast or loaded the machine. STOP freezes the process there
// until the test sends SIGCONT: a data-parallel group then waits for it in
// its next collective, and the test acts on the other ranks meanwhile.
// LABRUN_FAIL_RENAME_TO="NAME" fails (EIO) every rename to a path ending in
// NAME: a file that cannot be put in place after all the work before it.
// Nothing of this is in the shipped binary.
#include <dlfcn.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <string>

namespace {

std::atomic<long long> g_calls{0};

long long killAt() {
  static const long long at = [] {
    const char* text = std::getenv("LABRUN_KILL_AT_IO");
    return text != nullptr ? std::atoll(text) : 0LL;
  }();
  return at;
}

// Says which call is hit (stderr is not counted), then dies.
void killNow(const char* call, const std::string& what) {
  const std::string line = std::string("kill-at-io: ") + call + " " + what +
                           " (call " + std::to_string(killAt()) + ")\n";
  ::syscall(SYS_write, 2, line.data(), line.size());
  ::kill(::getpid(), SIGKILL);
}

std::string fdPath(int fd) {
  char path[PATH_MAX] = {};
  const std::string link = "/proc/self/fd/" + std::to_string(fd);
  const ssize_t n = ::readlink(link.c_str(), path, sizeof(path) - 1);
  return n > 0 ? std::string(path, static_cast<std::size_t>(n)) : link;
}

// LABRUN_IO_TRACE_FILE, when set: one line "<call> <path>" per call.
FILE* trace() {
  static FILE* const file = [] {
    const char* path = std::getenv("LABRUN_IO_TRACE_FILE");
    return path != nullptr ? std::fopen(path, "w") : nullptr;
  }();
  return file;
}

// Counts one call on `path`; the process dies at the chosen one.
void count(const char* call, const std::string& path) {
  if (FILE* file = trace()) {
    // stdio writes through glibc's internal write: not counted.
    std::fprintf(file, "%s %s\n", call, path.c_str());
    std::fflush(file);
  }
  if (++g_calls == killAt()) killNow(call, path);
}

bool endsWith(const std::string& text, const std::string& end) {
  return text.size() >= end.size() &&
         text.compare(text.size() - end.size(), end.size(), end) == 0;
}

// LABRUN_SIGNAL_AFTER_RENAME's signal, once `to` ends in its name.
void signalAfterRename(const std::string& to) {
  static const char* const request = std::getenv("LABRUN_SIGNAL_AFTER_RENAME");
  if (request == nullptr) return;
  const std::string text = request;
  const std::size_t colon = text.find(':');
  if (colon == std::string::npos || !endsWith(to, text.substr(colon + 1))) {
    return;
  }
  for (std::size_t at = 0; at < colon;) {
    const std::size_t end = std::min(text.find('+', at), colon);
    const std::string signal = text.substr(at, end - at);
    ::kill(::getpid(), signal == "KILL"   ? SIGKILL
                       : signal == "TERM" ? SIGTERM
                       : signal == "STOP" ? SIGSTOP
                                          : SIGINT);
    at = end + 1;
  }
}

template <class F>
F next(const char* name) {
  return reinterpret_cast<F>(::dlsym(RTLD_NEXT, name));
}

}  // namespace

extern "C" {

// Terminal and pipe output (fds 0-2) is not I/O that can corrupt anything.
ssize_t write(int fd, const void* data, size_t size) {
  static const auto real = next<ssize_t (*)(int, const void*, size_t)>("write");
  if (fd > 2) count("write", fdPath(fd));
  return real(fd, data, size);
}

ssize_t pwrite64(int fd, const void* data, size_t size, off64_t offset) {
  static const auto real =
      next<ssize_t (*)(int, const void*, size_t, off64_t)>("pwrite64");
  count("pwrite", fdPath(fd));
  return real(fd, data, size, offset);
}

ssize_t pwrite(int fd, const void* data, size_t size, off_t offset) {
  return pwrite64(fd, data, size, offset);
}

int fsync(int fd) {
  static const auto real = next<int (*)(int)>("fsync");
  count("fsync", fdPath(fd));
  return real(fd);
}

int fdatasync(int fd) {
  static const auto real = next<int (*)(int)>("fdatasync");
  count("fdatasync", fdPath(fd));
  return real(fd);
}

int ftruncate64(int fd, off64_t size) {
  static const auto real = next<int (*)(int, off64_t)>("ftruncate64");
  count("ftruncate", fdPath(fd));
  return real(fd, size);
}

int ftruncate(int fd, off_t size) { return ftruncate64(fd, size); }

int rename(const char* from, const char* to) {
  static const auto real = next<int (*)(const char*, const char*)>("rename");
  count("rename", from);
  static const char* const refused = std::getenv("LABRUN_FAIL_RENAME_TO");
  if (refused != nullptr && endsWith(to, refused)) {
    errno = EIO;
    return -1;
  }
  const int result = real(from, to);
  signalAfterRename(to);
  return result;
}

}  // extern "C"
