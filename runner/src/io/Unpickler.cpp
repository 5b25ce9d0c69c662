#include "io/Unpickler.h"

#include <fmt/format.h>

#include <cstring>
#include <stdexcept>

namespace labrun::io {
namespace {

using Kind = PickleValue::Kind;

// Every opcode of pickle protocols 0-5, named as in Python's pickletools,
// so that an unsupported one is reported by name.
constexpr std::pair<std::uint8_t, const char*> kOpcodeNames[] = {
    {'(', "MARK"},
    {'.', "STOP"},
    {'0', "POP"},
    {'1', "POP_MARK"},
    {'2', "DUP"},
    {'F', "FLOAT"},
    {'I', "INT"},
    {'J', "BININT"},
    {'K', "BININT1"},
    {'L', "LONG"},
    {'M', "BININT2"},
    {'N', "NONE"},
    {'P', "PERSID"},
    {'Q', "BINPERSID"},
    {'R', "REDUCE"},
    {'S', "STRING"},
    {'T', "BINSTRING"},
    {'U', "SHORT_BINSTRING"},
    {'V', "UNICODE"},
    {'X', "BINUNICODE"},
    {'a', "APPEND"},
    {'b', "BUILD"},
    {'c', "GLOBAL"},
    {'d', "DICT"},
    {'}', "EMPTY_DICT"},
    {'e', "APPENDS"},
    {'g', "GET"},
    {'h', "BINGET"},
    {'i', "INST"},
    {'j', "LONG_BINGET"},
    {'l', "LIST"},
    {']', "EMPTY_LIST"},
    {'o', "OBJ"},
    {'p', "PUT"},
    {'q', "BINPUT"},
    {'r', "LONG_BINPUT"},
    {'s', "SETITEM"},
    {'t', "TUPLE"},
    {')', "EMPTY_TUPLE"},
    {'u', "SETITEMS"},
    {'G', "BINFLOAT"},
    {'B', "BINBYTES"},
    {'C', "SHORT_BINBYTES"},
    {0x80, "PROTO"},
    {0x81, "NEWOBJ"},
    {0x82, "EXT1"},
    {0x83, "EXT2"},
    {0x84, "EXT4"},
    {0x85, "TUPLE1"},
    {0x86, "TUPLE2"},
    {0x87, "TUPLE3"},
    {0x88, "NEWTRUE"},
    {0x89, "NEWFALSE"},
    {0x8a, "LONG1"},
    {0x8b, "LONG4"},
    {0x8c, "SHORT_BINUNICODE"},
    {0x8d, "BINUNICODE8"},
    {0x8e, "BINBYTES8"},
    {0x8f, "EMPTY_SET"},
    {0x90, "ADDITEMS"},
    {0x91, "FROZENSET"},
    {0x92, "NEWOBJ_EX"},
    {0x93, "STACK_GLOBAL"},
    {0x94, "MEMOIZE"},
    {0x95, "FRAME"},
    {0x96, "BYTEARRAY8"},
    {0x97, "NEXT_BUFFER"},
    {0x98, "READONLY_BUFFER"}};

const char* opcodeName(std::uint8_t op) {
  for (const auto& [code, name] : kOpcodeNames) {
    if (code == op) return name;
  }
  return nullptr;
}

// Longest GLOBAL line accepted; real module paths are far shorter.
constexpr std::size_t kMaxLine = 1024;
// Strings are read in chunks so that a forged length cannot allocate more
// than the file holds.
constexpr std::size_t kChunk = 1 << 20;

}  // namespace

Unpickler::Unpickler(std::istream& in, const Globals& globals,
                     PersistentLoad persistent_load)
    : in_(in), globals_(globals), persistent_load_(std::move(persistent_load)) {
  // Offsets in messages count from the start of the stream (the file).
  const std::streamoff start = in_.tellg();
  position_ = start > 0 ? static_cast<std::uint64_t>(start) : 0;
}

void Unpickler::fail(const std::string& message) const {
  throw std::runtime_error(
      fmt::format("byte {}: {}", opcode_position_, message));
}

std::uint8_t Unpickler::readByte() {
  const int c = in_.get();
  if (c == std::char_traits<char>::eof()) {
    fail("truncated pickle (file ends before STOP)");
  }
  ++position_;
  return static_cast<std::uint8_t>(c);
}

void Unpickler::readExact(char* data, std::size_t size) {
  in_.read(data, static_cast<std::streamsize>(size));
  if (static_cast<std::size_t>(in_.gcount()) != size) {
    fail("truncated pickle (file ends before STOP)");
  }
  position_ += size;
}

std::uint64_t Unpickler::readUnsigned(int bytes) {
  std::uint8_t buffer[8];
  readExact(reinterpret_cast<char*>(buffer), static_cast<std::size_t>(bytes));
  std::uint64_t value = 0;
  for (int i = bytes - 1; i >= 0; --i) value = (value << 8) | buffer[i];
  return value;
}

std::string Unpickler::readBytes(std::uint64_t size) {
  std::string bytes;
  while (bytes.size() < size) {
    const std::size_t chunk = static_cast<std::size_t>(
        std::min<std::uint64_t>(size - bytes.size(), kChunk));
    const std::size_t old_size = bytes.size();
    bytes.resize(old_size + chunk);
    readExact(bytes.data() + old_size, chunk);
  }
  return bytes;
}

std::string Unpickler::readLine() {
  std::string line;
  for (;;) {
    const char c = static_cast<char>(readByte());
    if (c == '\n') return line;
    if (line.size() == kMaxLine) fail("GLOBAL name longer than 1024 bytes");
    line.push_back(c);
  }
}

PickleRef Unpickler::pop() {
  const std::size_t floor = marks_.empty() ? 0 : marks_.back();
  if (stack_.size() <= floor) fail("malformed pickle (stack underflow)");
  PickleRef value = std::move(stack_.back());
  stack_.pop_back();
  return value;
}

PickleRef& Unpickler::top() {
  const std::size_t floor = marks_.empty() ? 0 : marks_.back();
  if (stack_.size() <= floor) fail("malformed pickle (stack underflow)");
  return stack_.back();
}

std::vector<PickleRef> Unpickler::popMark() {
  if (marks_.empty()) fail("malformed pickle (no MARK)");
  const auto begin =
      stack_.begin() + static_cast<std::ptrdiff_t>(marks_.back());
  std::vector<PickleRef> items(std::make_move_iterator(begin),
                               std::make_move_iterator(stack_.end()));
  stack_.erase(begin, stack_.end());
  marks_.pop_back();
  return items;
}

PickleRef Unpickler::global(const std::string& module,
                            const std::string& name) {
  const std::string qualified = module + "." + name;
  if (globals_.count(qualified) == 0) {
    fail(
        fmt::format("unsupported global '{}' (only tensors and plain data "
                    "are loaded; no code is run)",
                    qualified));
  }
  return PickleValue::ofText(Kind::kGlobal, qualified);
}

PickleRef Unpickler::integerFromBytes(const std::string& bytes) const {
  if (bytes.size() > 8) return PickleValue::ofText(Kind::kBigInt, bytes);
  std::uint64_t value = 0;
  for (std::size_t i = bytes.size(); i-- > 0;) {
    value = (value << 8) | static_cast<std::uint8_t>(bytes[i]);
  }
  // Sign-extend the two's complement of bytes.size() bytes.
  if (!bytes.empty() && bytes.size() < 8 &&
      (static_cast<std::uint8_t>(bytes.back()) & 0x80)) {
    value |= ~std::uint64_t{0} << (8 * bytes.size());
  }
  return PickleValue::ofInt(static_cast<std::int64_t>(value));
}

void Unpickler::reduce() {
  const PickleRef args = pop();
  const PickleRef callable = pop();
  if (callable->kind != Kind::kGlobal) {
    fail(fmt::format("REDUCE on a {}", PickleValue::kindName(callable->kind)));
  }
  if (args->kind != Kind::kTuple) {
    fail(fmt::format("REDUCE of '{}' with a {} of arguments", callable->text,
                     PickleValue::kindName(args->kind)));
  }
  const Callable& handler = globals_.at(callable->text);
  if (!handler)
    fail(fmt::format("global '{}' is not callable", callable->text));
  try {
    push(handler(args->items));
  } catch (const std::exception& error) {
    fail(fmt::format("{}: {}", callable->text, error.what()));
  }
}

void Unpickler::setItems(const std::vector<PickleRef>& items) {
  if (items.size() % 2 != 0) fail("malformed pickle (odd SETITEMS)");
  PickleValue& dict = *top();
  if (dict.kind != Kind::kDict) {
    fail(fmt::format("SETITEM on a {}", PickleValue::kindName(dict.kind)));
  }
  for (std::size_t i = 0; i < items.size(); i += 2) {
    const PickleRef& key = items[i];
    bool replaced = false;
    if (key->kind == Kind::kString) {
      for (auto& entry : dict.entries) {
        if (entry.first->kind == Kind::kString &&
            entry.first->text == key->text) {
          entry.second = items[i + 1];
          replaced = true;
          break;
        }
      }
    }
    if (!replaced) dict.entries.emplace_back(key, items[i + 1]);
  }
}

PickleRef Unpickler::load() {
  stack_.clear();
  marks_.clear();
  memo_.clear();
  for (;;) {
    opcode_position_ = position_;
    const std::uint8_t op = readByte();
    switch (op) {
      case 0x80: {  // PROTO
        const std::uint8_t protocol = readByte();
        if (protocol > 5) {
          fail(fmt::format("unsupported pickle protocol {}", protocol));
        }
        break;
      }
      case 0x95:  // FRAME: a length hint only.
        readUnsigned(8);
        break;
      case '.': {  // STOP
        PickleRef result = pop();
        if (!marks_.empty()) fail("malformed pickle (MARK left open)");
        return result;
      }
      case '(':  // MARK
        marks_.push_back(stack_.size());
        break;
      case '0':  // POP
        pop();
        break;
      case '1':  // POP_MARK
        popMark();
        break;
      case '2':  // DUP
        push(top());
        break;
      case '}':  // EMPTY_DICT
        push(PickleValue::make(Kind::kDict));
        break;
      case ']':  // EMPTY_LIST
        push(PickleValue::make(Kind::kList));
        break;
      case ')':  // EMPTY_TUPLE
        push(PickleValue::make(Kind::kTuple));
        break;
      case 'N':  // NONE
        push(PickleValue::make(Kind::kNone));
        break;
      case 0x88:  // NEWTRUE
      case 0x89:  // NEWFALSE
        push(PickleValue::ofBool(op == 0x88));
        break;
      case 'J':  // BININT
        push(PickleValue::ofInt(static_cast<std::int32_t>(
            static_cast<std::uint32_t>(readUnsigned(4)))));
        break;
      case 'K':  // BININT1
        push(PickleValue::ofInt(static_cast<std::int64_t>(readUnsigned(1))));
        break;
      case 'M':  // BININT2
        push(PickleValue::ofInt(static_cast<std::int64_t>(readUnsigned(2))));
        break;
      case 0x8a:  // LONG1
        push(integerFromBytes(readBytes(readUnsigned(1))));
        break;
      case 0x8b: {  // LONG4
        const auto size = static_cast<std::int32_t>(
            static_cast<std::uint32_t>(readUnsigned(4)));
        if (size < 0) fail("malformed pickle (negative LONG4 size)");
        push(integerFromBytes(readBytes(static_cast<std::uint64_t>(size))));
        break;
      }
      case 'G': {  // BINFLOAT: big-endian IEEE 754 double.
        std::uint8_t big[8];
        readExact(reinterpret_cast<char*>(big), 8);
        std::uint64_t bits = 0;
        for (std::uint8_t byte : big) bits = (bits << 8) | byte;
        double number;
        std::memcpy(&number, &bits, sizeof number);
        push(PickleValue::ofFloat(number));
        break;
      }
      case 'X':  // BINUNICODE
        push(PickleValue::ofText(Kind::kString, readBytes(readUnsigned(4))));
        break;
      case 0x8c:  // SHORT_BINUNICODE
        push(PickleValue::ofText(Kind::kString, readBytes(readUnsigned(1))));
        break;
      case 0x8d:  // BINUNICODE8
        push(PickleValue::ofText(Kind::kString, readBytes(readUnsigned(8))));
        break;
      case 'T': {  // BINSTRING: a Python 2 str, used for keys.
        const auto size = static_cast<std::int32_t>(
            static_cast<std::uint32_t>(readUnsigned(4)));
        if (size < 0) fail("malformed pickle (negative BINSTRING size)");
        push(PickleValue::ofText(Kind::kString,
                                 readBytes(static_cast<std::uint64_t>(size))));
        break;
      }
      case 'U':  // SHORT_BINSTRING
        push(PickleValue::ofText(Kind::kString, readBytes(readUnsigned(1))));
        break;
      case 'B':  // BINBYTES
        push(PickleValue::ofText(Kind::kBytes, readBytes(readUnsigned(4))));
        break;
      case 'C':  // SHORT_BINBYTES
        push(PickleValue::ofText(Kind::kBytes, readBytes(readUnsigned(1))));
        break;
      case 0x8e:  // BINBYTES8
        push(PickleValue::ofText(Kind::kBytes, readBytes(readUnsigned(8))));
        break;
      case 'q':  // BINPUT
        memo_[readUnsigned(1)] = top();
        break;
      case 'r':  // LONG_BINPUT
        memo_[readUnsigned(4)] = top();
        break;
      case 0x94:  // MEMOIZE
        memo_[memo_.size()] = top();
        break;
      case 'h':    // BINGET
      case 'j': {  // LONG_BINGET
        const std::uint64_t key = readUnsigned(op == 'h' ? 1 : 4);
        const auto it = memo_.find(key);
        if (it == memo_.end()) {
          fail(fmt::format("malformed pickle (memo entry {} missing)", key));
        }
        push(it->second);
        break;
      }
      case 'c': {  // GLOBAL
        const std::string module = readLine();
        push(global(module, readLine()));
        break;
      }
      case 0x93: {  // STACK_GLOBAL
        const PickleRef name = pop();
        const PickleRef module = pop();
        if (module->kind != Kind::kString || name->kind != Kind::kString) {
          fail("malformed pickle (STACK_GLOBAL needs two strings)");
        }
        push(global(module->text, name->text));
        break;
      }
      case 'Q': {  // BINPERSID
        if (!persistent_load_) fail("unexpected persistent id");
        const PickleRef id = pop();
        try {
          push(persistent_load_(id));
        } catch (const std::exception& error) {
          fail(error.what());
        }
        break;
      }
      case 'R':  // REDUCE
        reduce();
        break;
      case 'b': {  // BUILD: the state is kept, never applied.
        PickleRef state = pop();
        top()->state = std::move(state);
        break;
      }
      case 's': {  // SETITEM
        PickleRef value = pop();
        PickleRef key = pop();
        setItems({std::move(key), std::move(value)});
        break;
      }
      case 'u':  // SETITEMS
        setItems(popMark());
        break;
      case 'a':    // APPEND
      case 'e': {  // APPENDS
        std::vector<PickleRef> items =
            op == 'a' ? std::vector<PickleRef>{pop()} : popMark();
        PickleValue& list = *top();
        if (list.kind != Kind::kList) {
          fail(fmt::format("APPEND to a {}", PickleValue::kindName(list.kind)));
        }
        list.items.insert(list.items.end(), items.begin(), items.end());
        break;
      }
      case 't': {  // TUPLE
        PickleRef tuple = PickleValue::make(Kind::kTuple);
        tuple->items = popMark();
        push(std::move(tuple));
        break;
      }
      case 0x85:    // TUPLE1
      case 0x86:    // TUPLE2
      case 0x87: {  // TUPLE3
        PickleRef tuple = PickleValue::make(Kind::kTuple);
        tuple->items.resize(op - 0x84);
        for (auto it = tuple->items.rbegin(); it != tuple->items.rend(); ++it) {
          *it = pop();
        }
        push(std::move(tuple));
        break;
      }
      default: {
        const char* name = opcodeName(op);
        fail(name ? fmt::format("unsupported pickle opcode {} (0x{:02x})", name,
                                op)
                  : fmt::format("invalid pickle opcode 0x{:02x}", op));
      }
    }
  }
}

}  // namespace labrun::io
