#include "util/AtomicFile.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <regex>
#include <stdexcept>

#include "util/IoFault.h"

namespace labrun::util {
namespace {

constexpr std::size_t kBufferBytes = 16 * 1024;

// errno of a failed call (or of an injected fault), 0 on success.
int checked(bool failed) {
  if (const int injected = io_fault::next()) return injected;
  return failed ? errno : 0;
}

}  // namespace

std::string temporaryPrefix(const std::string& path) { return path + ".tmp."; }

bool isTemporaryName(const std::string& name, const std::string& file) {
  static const std::regex suffix(R"(\d+\.\d+)");
  const std::string prefix = temporaryPrefix(file);
  return name.rfind(prefix, 0) == 0 &&
         std::regex_match(name.substr(prefix.size()), suffix);
}

AtomicFile::AtomicFile(std::string path) : path_(std::move(path)) {
  // A name of its own (O_EXCL): a user's "<path>.tmp" is never replaced,
  // and two processes writing `path` at once do not share a temporary.
  static std::atomic<unsigned> serial{0};
  for (;;) {
    tmp_ = fmt::format("{}{}.{}", temporaryPrefix(path_), ::getpid(), serial++);
    fd_ = ::open(tmp_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd_ >= 0) return;
    if (errno != EEXIST) fail("open", errno);
  }
}

AtomicFile::~AtomicFile() {
  if (fd_ >= 0) ::close(fd_);
  if (!committed_) ::unlink(tmp_.c_str());
}

void AtomicFile::write(const void* data, std::size_t size) {
  if (write_error_ != 0) return;
  const char* bytes = static_cast<const char*>(data);
  buffer_.insert(buffer_.end(), bytes, bytes + size);
  if (buffer_.size() >= kBufferBytes) flushBuffer();
}

void AtomicFile::flushBuffer() {
  for (std::size_t done = 0; done < buffer_.size() && write_error_ == 0;) {
    const ssize_t n =
        ::write(fd_, buffer_.data() + done, buffer_.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n == 0) errno = ENOSPC;  // no progress: never loop forever
    write_error_ = checked(n <= 0);
    if (write_error_ == 0) done += static_cast<std::size_t>(n);
  }
  buffer_.clear();
}

void AtomicFile::commit() {
  flushBuffer();
  if (write_error_ != 0) fail("write", write_error_);
  if (const int error = checked(::fsync(fd_) != 0)) fail("fsync", error);
  const int fd = fd_;
  fd_ = -1;
  if (const int error = checked(::close(fd) != 0)) fail("close", error);
  if (const int error =
          checked(std::rename(tmp_.c_str(), path_.c_str()) != 0)) {
    fail("rename", error);
  }
  committed_ = true;
  // The rename itself must reach the disk before anything points at it.
  const std::string dir =
      std::filesystem::absolute(path_).parent_path().string();
  const int dir_fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  const int error = checked(dir_fd < 0 || ::fsync(dir_fd) != 0);
  if (dir_fd >= 0) ::close(dir_fd);
  if (error != 0) {
    throw std::runtime_error(dir + ": fsync failed: " + std::strerror(error));
  }
}

void AtomicFile::fail(const std::string& call, int error) const {
  throw std::runtime_error(path_ + ": " + call +
                           " failed: " + std::strerror(error) +
                           " (writing through " + tmp_ + ")");
}

}  // namespace labrun::util
