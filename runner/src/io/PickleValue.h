// A Python object as the checkpoint unpickler builds it: scalars,
// containers, tensors and references to allow-listed globals. Containers are
// shared through PickleRef, as in Python, because the pickle memo and later
// SETITEMS/APPENDS refer to the same object.
#pragma once

#include <torch/types.h>

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace labrun::io {

struct PickleValue;
using PickleRef = std::shared_ptr<PickleValue>;

struct PickleValue {
  enum class Kind {
    kNone,
    kBool,
    kInt,
    kBigInt,
    kFloat,
    kString,
    kBytes,
    kTuple,
    kList,
    kDict,
    kGlobal,
    kObject,
    kStorage,
    kTensor,
  };

  Kind kind = Kind::kNone;
  bool boolean = false;
  std::int64_t integer = 0;
  double number = 0;
  // kString: text (UTF-8, or a Python 2 str); kBytes: raw bytes; kBigInt:
  // little-endian two's complement; kGlobal: "module.name"; kObject: the
  // global that built it (e.g. "numpy.dtype").
  std::string text;
  // kTuple, kList: the items; kObject: the arguments it was built from.
  std::vector<PickleRef> items;
  // kDict: key/value pairs in insertion order.
  std::vector<std::pair<PickleRef, PickleRef>> entries;
  // Set by BUILD (e.g. an OrderedDict's `_metadata` attribute); never
  // applied, only kept.
  PickleRef state;
  // kStorage: 1-D tensor of the storage's dtype; kTensor: the tensor.
  torch::Tensor tensor;

  static PickleRef make(Kind kind) {
    auto value = std::make_shared<PickleValue>();
    value->kind = kind;
    return value;
  }
  static PickleRef ofInt(std::int64_t integer) {
    PickleRef value = make(Kind::kInt);
    value->integer = integer;
    return value;
  }
  static PickleRef ofFloat(double number) {
    PickleRef value = make(Kind::kFloat);
    value->number = number;
    return value;
  }
  static PickleRef ofBool(bool boolean) {
    PickleRef value = make(Kind::kBool);
    value->boolean = boolean;
    return value;
  }
  static PickleRef ofText(Kind kind, std::string text) {
    PickleRef value = make(kind);
    value->text = std::move(text);
    return value;
  }
  static PickleRef ofTensor(Kind kind, torch::Tensor tensor) {
    PickleRef value = make(kind);
    value->tensor = std::move(tensor);
    return value;
  }

  // The value of string key `key` in a kDict, or nullptr.
  PickleRef get(const std::string& key) const {
    for (const auto& [k, v] : entries) {
      if (k->kind == Kind::kString && k->text == key) return v;
    }
    return nullptr;
  }

  // Python's name for the kind, for messages: "dict", "tensor"...
  static const char* kindName(Kind kind) {
    switch (kind) {
      case Kind::kNone:
        return "None";
      case Kind::kBool:
        return "bool";
      case Kind::kInt:
      case Kind::kBigInt:
        return "int";
      case Kind::kFloat:
        return "float";
      case Kind::kString:
        return "str";
      case Kind::kBytes:
        return "bytes";
      case Kind::kTuple:
        return "tuple";
      case Kind::kList:
        return "list";
      case Kind::kDict:
        return "dict";
      case Kind::kGlobal:
        return "global";
      case Kind::kObject:
        return "object";
      case Kind::kStorage:
        return "storage";
      case Kind::kTensor:
        return "tensor";
    }
    return "unknown";
  }
};

}  // namespace labrun::io
