// Reads one pickle (protocols 2 to 5, the opcodes torch.save and Python 2
// pickles of checkpoints use) into PickleValues without executing anything:
// a global resolves only through an allow-list of handlers, so an untrusted
// file cannot run code. Anything else is refused by name.
#pragma once

#include <cstdint>
#include <functional>
#include <istream>
#include <map>
#include <string>
#include <unordered_map>
#include <vector>

#include "io/PickleValue.h"

namespace labrun::io {

class Unpickler {
 public:
  // Builds the object that REDUCE of an allow-listed global makes from the
  // argument tuple's items; throws std::runtime_error to refuse them.
  using Callable = std::function<PickleRef(const std::vector<PickleRef>& args)>;
  // "module.name" -> handler. A null handler allows the global as a value
  // (e.g. torch.FloatStorage in a storage id) but not as a callable.
  using Globals = std::map<std::string, Callable>;
  // Resolves a BINPERSID id (torch.save: a storage) to an object.
  using PersistentLoad = std::function<PickleRef(const PickleRef& id)>;

  Unpickler(std::istream& in, const Globals& globals,
            PersistentLoad persistent_load = nullptr);

  // Reads up to and including STOP and returns the pickled object. Throws
  // std::runtime_error "byte N: <problem>" (N: offset of the opcode in the
  // stream) on truncated or malformed input, an unsupported opcode or a
  // global outside the allow-list.
  PickleRef load();

 private:
  [[noreturn]] void fail(const std::string& message) const;
  std::uint8_t readByte();
  void readExact(char* data, std::size_t size);
  std::uint64_t readUnsigned(int bytes);  // little-endian
  std::string readBytes(std::uint64_t size);
  std::string readLine();

  void push(PickleRef value) { stack_.push_back(std::move(value)); }
  PickleRef pop();
  PickleRef& top();
  std::vector<PickleRef> popMark();
  PickleRef global(const std::string& module, const std::string& name);
  PickleRef integerFromBytes(const std::string& bytes) const;
  void reduce();
  void setItems(const std::vector<PickleRef>& items);

  std::istream& in_;
  const Globals& globals_;
  PersistentLoad persistent_load_;
  std::uint64_t position_ = 0;
  std::uint64_t opcode_position_ = 0;
  std::vector<PickleRef> stack_;
  std::vector<std::size_t> marks_;
  std::unordered_map<std::uint64_t, PickleRef> memo_;
};

}  // namespace labrun::io
