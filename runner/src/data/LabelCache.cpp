#include "data/LabelCache.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <stdexcept>

// Header-only use of Debian's libxxhash-dev: nothing to link.
#define XXH_INLINE_ALL
#include <xxhash.h>

namespace labrun::data {
namespace {

namespace fs = std::filesystem;

constexpr char kMagic[8] = {'L', 'A', 'B', 'R', 'U', 'N', 'L', 'C'};
constexpr std::uint32_t kVersion = 1;
constexpr std::uint32_t kByteOrder = 0x01020304;
// magic, version, byte order, body size, body checksum.
constexpr std::size_t kHeaderSize = 8 + 4 + 4 + 8 + 8;

struct Stamp {
  std::uint64_t size = 0;
  std::int64_t mtime_ns = 0;
  bool operator==(const Stamp& other) const {
    return size == other.size && mtime_ns == other.mtime_ns;
  }
};

using Digest = std::array<unsigned char, 16>;

std::vector<Stamp> stampSources(const std::vector<std::string>& sources) {
  std::vector<Stamp> stamps;
  for (const std::string& path : sources) {
    struct stat info {};
    if (::stat(path.c_str(), &info) != 0) {
      throw std::runtime_error(
          fmt::format("{}: cannot read: {}", path, std::strerror(errno)));
    }
    stamps.push_back(
        {static_cast<std::uint64_t>(info.st_size),
         info.st_mtim.tv_sec * 1000000000LL + info.st_mtim.tv_nsec});
  }
  return stamps;
}

// XXH3-128 of every source's size and bytes, in order.
Digest hashSources(const std::vector<std::string>& sources) {
  XXH3_state_t* state = XXH3_createState();
  XXH3_128bits_reset(state);
  std::vector<char> chunk(std::size_t{1} << 20);
  for (const std::string& path : sources) {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
      XXH3_freeState(state);
      throw std::runtime_error(fmt::format("{}: cannot read", path));
    }
    std::uint64_t size = 0;
    while (in.read(chunk.data(), static_cast<std::streamsize>(chunk.size())) ||
           in.gcount() > 0) {
      XXH3_128bits_update(state, chunk.data(),
                          static_cast<std::size_t>(in.gcount()));
      size += static_cast<std::uint64_t>(in.gcount());
    }
    XXH3_128bits_update(state, &size, sizeof size);
  }
  XXH128_canonical_t canonical;
  XXH128_canonicalFromHash(&canonical, XXH3_128bits_digest(state));
  XXH3_freeState(state);
  Digest digest;
  std::memcpy(digest.data(), canonical.digest, digest.size());
  return digest;
}

class Writer {
 public:
  template <typename T>
  void pod(const T& value) {
    bytes_.append(reinterpret_cast<const char*>(&value), sizeof value);
  }
  void text(const std::string& value) {
    pod(static_cast<std::uint32_t>(value.size()));
    bytes_ += value;
  }
  void raw(const void* data, std::size_t size) {
    bytes_.append(static_cast<const char*>(data), size);
  }
  std::string& bytes() { return bytes_; }

 private:
  std::string bytes_;
};

struct Corrupt : std::runtime_error {
  using std::runtime_error::runtime_error;
};

class Reader {
 public:
  Reader(const char* data, std::size_t size) : data_(data), end_(data + size) {}
  template <typename T>
  T pod() {
    T value;
    std::memcpy(&value, take(sizeof value), sizeof value);
    return value;
  }
  std::string text() {
    const auto size = pod<std::uint32_t>();
    return std::string(take(size), size);
  }
  const char* take(std::size_t size) {
    if (static_cast<std::size_t>(end_ - data_) < size) {
      throw Corrupt("ends early");
    }
    const char* at = data_;
    data_ += size;
    return at;
  }
  bool atEnd() const { return data_ == end_; }

 private:
  const char* data_;
  const char* end_;
};

// What a cache file holds besides the table.
struct Contents {
  std::string key;
  std::vector<std::string> sources;
  std::vector<Stamp> stamps;
  Digest digest{};
  LabelTable table;
};

std::string encode(const Contents& contents) {
  Writer body;
  body.text(contents.key);
  body.pod(static_cast<std::uint32_t>(contents.sources.size()));
  for (std::size_t i = 0; i < contents.sources.size(); ++i) {
    body.text(contents.sources[i]);
    body.pod(contents.stamps[i].size);
    body.pod(contents.stamps[i].mtime_ns);
  }
  body.raw(contents.digest.data(), contents.digest.size());
  const LabelTable& table = contents.table;
  body.pod(static_cast<std::uint32_t>(table.numClasses()));
  for (const std::string& name : table.class_names) body.text(name);
  body.pod(static_cast<std::uint64_t>(table.numImages()));
  for (const std::string& path : table.image_paths) body.text(path);
  body.raw(table.states.data(), table.states.size());

  Writer file;
  file.raw(kMagic, sizeof kMagic);
  file.pod(kVersion);
  file.pod(kByteOrder);
  file.pod(static_cast<std::uint64_t>(body.bytes().size()));
  file.pod(static_cast<std::uint64_t>(
      XXH3_64bits(body.bytes().data(), body.bytes().size())));
  file.bytes() += body.bytes();
  return std::move(file.bytes());
}

// Throws Corrupt when the bytes are not a complete cache file.
Contents decode(const std::string& bytes) {
  Reader header(bytes.data(), bytes.size());
  if (std::memcmp(header.take(sizeof kMagic), kMagic, sizeof kMagic) != 0) {
    throw Corrupt("not a label cache file");
  }
  if (header.pod<std::uint32_t>() != kVersion) {
    throw Corrupt("written by another labrun version");
  }
  if (header.pod<std::uint32_t>() != kByteOrder) {
    throw Corrupt("written on a machine of another byte order");
  }
  const auto size = header.pod<std::uint64_t>();
  const auto checksum = header.pod<std::uint64_t>();
  if (size != bytes.size() - kHeaderSize) throw Corrupt("truncated");
  const char* body_data = bytes.data() + kHeaderSize;
  if (XXH3_64bits(body_data, size) != checksum) {
    throw Corrupt("checksum mismatch");
  }

  Reader body(body_data, size);
  Contents contents;
  contents.key = body.text();
  const auto sources = body.pod<std::uint32_t>();
  for (std::uint32_t i = 0; i < sources; ++i) {
    contents.sources.push_back(body.text());
    Stamp stamp;
    stamp.size = body.pod<std::uint64_t>();
    stamp.mtime_ns = body.pod<std::int64_t>();
    contents.stamps.push_back(stamp);
  }
  std::memcpy(contents.digest.data(), body.take(contents.digest.size()),
              contents.digest.size());
  LabelTable& table = contents.table;
  const auto classes = body.pod<std::uint32_t>();
  for (std::uint32_t k = 0; k < classes; ++k) {
    table.class_names.push_back(body.text());
  }
  const auto images = body.pod<std::uint64_t>();
  if (images > size) throw Corrupt("bad image count");
  table.image_paths.reserve(images);
  for (std::uint64_t i = 0; i < images; ++i) {
    table.image_paths.push_back(body.text());
  }
  const std::size_t cells = images * classes;
  const char* states = body.take(cells);
  table.states.assign(states, states + cells);
  if (!body.atEnd()) throw Corrupt("trailing bytes");
  return contents;
}

std::optional<std::string> readFile(const std::string& path) {
  // A folder opens too, and then claims a size of 2^63 - 1.
  std::error_code error;
  if (!fs::is_regular_file(path, error)) return std::nullopt;
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  if (!in) return std::nullopt;
  std::string bytes(static_cast<std::size_t>(in.tellg()), '\0');
  in.seekg(0);
  if (!in.read(bytes.data(), static_cast<std::streamsize>(bytes.size()))) {
    return std::nullopt;
  }
  return bytes;
}

// Temporary file + fsync + rename: readers see the old file or the new one.
void writeAtomically(const std::string& path, const std::string& bytes) {
  const std::string temp = fmt::format("{}.tmp.{}", path, ::getpid());
  const int fd =
      ::open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) {
    throw std::runtime_error(
        fmt::format("cannot create {}: {}", temp, std::strerror(errno)));
  }
  std::size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t wrote = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (wrote < 0 && errno == EINTR) continue;
    if (wrote <= 0) break;
    done += static_cast<std::size_t>(wrote);
  }
  const int saved = errno;
  const bool ok = done == bytes.size() && ::fsync(fd) == 0;
  ::close(fd);
  if (!ok || ::rename(temp.c_str(), path.c_str()) != 0) {
    const int error = ok ? errno : saved;
    ::unlink(temp.c_str());
    throw std::runtime_error(
        fmt::format("cannot write {}: {}", path, std::strerror(error)));
  }
}

std::string userCacheDir() {
  if (const char* xdg = std::getenv("XDG_CACHE_HOME"); xdg && *xdg) {
    return (fs::path(xdg) / "labrun").string();
  }
  const char* home = std::getenv("HOME");
  return (fs::path(home && *home ? home : "/tmp") / ".cache" / "labrun")
      .string();
}

}  // namespace

LabelCache::LabelCache(std::string file, std::string key,
                       std::vector<std::string> sources)
    : file_(std::move(file)),
      key_(std::move(key)),
      sources_(std::move(sources)) {}

LabelCache::Result LabelCache::loadOrBuild(
    const std::function<LabelTable()>& build, std::ostream& warnings) const {
  const std::vector<Stamp> stamps = stampSources(sources_);
  if (const auto bytes = readFile(file_)) {
    try {
      Contents cached = decode(*bytes);
      if (cached.key == key_ && cached.sources == sources_) {
        if (cached.stamps == stamps) {
          return {std::move(cached.table), /*hit=*/true, /*stored=*/true};
        }
        bool same_sizes = true;
        for (std::size_t i = 0; i < stamps.size(); ++i) {
          same_sizes = same_sizes && stamps[i].size == cached.stamps[i].size;
        }
        if (same_sizes && hashSources(sources_) == cached.digest) {
          cached.stamps = stamps;
          try {
            writeAtomically(file_, encode(cached));
          } catch (const std::runtime_error& error) {
            warnings << "labrun: warning: label cache: " << error.what()
                     << "\n";
          }
          return {std::move(cached.table), /*hit=*/true, /*stored=*/true};
        }
      }
    } catch (const Corrupt& corrupt) {
      warnings << fmt::format(
          "labrun: warning: label cache {} is corrupt ({}); rebuilding it\n",
          file_, corrupt.what());
    }
  }

  Contents fresh;
  fresh.table = build();
  fresh.key = key_;
  fresh.sources = sources_;
  fresh.stamps = stamps;
  fresh.digest = hashSources(sources_);
  // A source that changed while it was read would pair new stamps with old
  // labels: keep the result, but do not cache it.
  if (stampSources(sources_) != stamps) {
    warnings << fmt::format(
        "labrun: warning: label sources changed while being read; not "
        "caching {}\n",
        file_);
    return {std::move(fresh.table), /*hit=*/false, /*stored=*/false};
  }
  try {
    writeAtomically(file_, encode(fresh));
  } catch (const std::runtime_error& error) {
    warnings << "labrun: warning: label cache: " << error.what() << "\n";
    return {std::move(fresh.table), /*hit=*/false, /*stored=*/false};
  }
  return {std::move(fresh.table), /*hit=*/false, /*stored=*/true};
}

std::string LabelCache::location(const std::string& anchor,
                                 const std::string& key,
                                 const std::string& cache_dir) {
  const fs::path source = fs::absolute(anchor).lexically_normal();
  const std::string identity = source.string() + '\n' + key;
  const std::string name =
      fmt::format("{}.{:016x}.labels", source.filename().string(),
                  XXH3_64bits(identity.data(), identity.size()));
  fs::path folder = cache_dir;
  if (folder.empty()) {
    folder = source.parent_path();
    if (::access(folder.c_str(), W_OK) != 0) folder = userCacheDir();
  }
  std::error_code ignored;  // an uncreatable folder fails the write, warned
  fs::create_directories(folder, ignored);
  return (folder / name).string();
}

}  // namespace labrun::data
