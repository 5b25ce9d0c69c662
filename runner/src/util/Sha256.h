// SHA-256 digests (OpenSSL's libcrypto) for specs, checkpoints and plugins.
#pragma once

#include <string>

namespace labrun::util {

// Lower-case hex digest of `data`.
std::string sha256Hex(const std::string& data);
// Lower-case hex digest of a file's bytes; throws std::runtime_error naming
// the file when it cannot be read.
std::string sha256File(const std::string& path);

}  // namespace labrun::util
