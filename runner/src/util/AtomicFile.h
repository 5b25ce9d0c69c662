// A file replaced atomically: bytes go to a temporary of this writer's own,
// "<path>.tmp.<pid>.<n>", which commit() fsyncs and renames over `path`,
// then fsyncs the folder, so that `path` holds either the old or the whole
// new content after a crash or power cut. Every I/O call is checked (and
// passes the io_fault seam); a file destroyed uncommitted (an error, an
// exception) removes its temporary.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

namespace labrun::util {

// The start of the name of every temporary of `path`: "<path>.tmp.".
std::string temporaryPrefix(const std::string& path);
// Whether file name `name` is that of a temporary of a file named `file`:
// "<file>.tmp.<pid>.<n>".
bool isTemporaryName(const std::string& name, const std::string& file);

class AtomicFile {
 public:
  // Creates (truncates) the temporary; throws std::runtime_error naming
  // `path` and the temporary.
  explicit AtomicFile(std::string path);
  ~AtomicFile();
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;

  const std::string& tmpPath() const { return tmp_; }
  // Appends `size` bytes (buffered: written in calls of 16 KiB or more).
  // Never throws: after a failed write the rest is dropped and commit()
  // reports the error, so that this can serve as the sink of writers that
  // must not see a failure (LibTorch's zip writer throws from its
  // destructor after a short write, which terminates the program).
  void write(const void* data, std::size_t size);
  // Throws std::runtime_error "<path>: <call> failed: <reason> (writing
  // through <tmp>)" for the first failed write, sync or rename; `path` is
  // then unchanged.
  void commit();

 private:
  [[noreturn]] void fail(const std::string& call, int error) const;
  void flushBuffer();

  std::string path_, tmp_;
  int fd_ = -1;
  std::vector<char> buffer_;
  int write_error_ = 0;
  bool committed_ = false;
};

}  // namespace labrun::util
