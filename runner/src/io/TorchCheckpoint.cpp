#include "io/TorchCheckpoint.h"

#include <caffe2/serialize/inline_container.h>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <torch/torch.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <stdexcept>

#include "io/Unpickler.h"

namespace labrun::io {
namespace {

using Kind = PickleValue::Kind;

// Magic number opening a legacy file, as pickled by LONG1 (little-endian).
constexpr std::array<std::uint8_t, 10> kLegacyMagic = {
    0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19};
constexpr std::int64_t kLegacyProtocolVersion = 1001;

[[noreturn]] void refuse(const std::string& message) {
  throw std::runtime_error(message);
}

const std::map<std::string, torch::Dtype>& storageTypes() {
  static const std::map<std::string, torch::Dtype> types = {
      {"torch.FloatStorage", torch::kFloat32},
      {"torch.DoubleStorage", torch::kFloat64},
      {"torch.HalfStorage", torch::kFloat16},
      {"torch.BFloat16Storage", torch::kBFloat16},
      {"torch.LongStorage", torch::kInt64},
      {"torch.IntStorage", torch::kInt32},
      {"torch.ShortStorage", torch::kInt16},
      {"torch.CharStorage", torch::kInt8},
      {"torch.ByteStorage", torch::kUInt8},
      {"torch.BoolStorage", torch::kBool},
      {"torch.ComplexFloatStorage", torch::kComplexFloat},
      {"torch.ComplexDoubleStorage", torch::kComplexDouble},
  };
  return types;
}

std::int64_t asInt(const PickleRef& value, const char* what) {
  if (value->kind == Kind::kInt) return value->integer;
  if (value->kind == Kind::kBool) return value->boolean ? 1 : 0;
  refuse(fmt::format("{}: expected an int, found a {}", what,
                     PickleValue::kindName(value->kind)));
}

const std::string& asString(const PickleRef& value, const char* what) {
  if (value->kind != Kind::kString) {
    refuse(fmt::format("{}: expected a str, found a {}", what,
                       PickleValue::kindName(value->kind)));
  }
  return value->text;
}

std::vector<std::int64_t> asInts(const PickleRef& value, const char* what) {
  if (value->kind != Kind::kTuple && value->kind != Kind::kList) {
    refuse(fmt::format("{}: expected a tuple of ints, found a {}", what,
                       PickleValue::kindName(value->kind)));
  }
  std::vector<std::int64_t> ints;
  for (const PickleRef& item : value->items) ints.push_back(asInt(item, what));
  return ints;
}

void expectArgs(const std::vector<PickleRef>& args, std::size_t min,
                std::size_t max) {
  if (args.size() < min || args.size() > max) {
    refuse(fmt::format(
        "expected {} arguments, found {}",
        min == max ? std::to_string(min) : fmt::format("{} to {}", min, max),
        args.size()));
  }
}

// _rebuild_tensor(storage, offset, size, stride) and _rebuild_tensor_v2
// (the same, then requires_grad, backward_hooks[, metadata]).
PickleRef rebuildTensor(const std::vector<PickleRef>& args) {
  if (args.empty() || args[0]->kind != Kind::kStorage) {
    refuse("expected a storage as first argument");
  }
  const torch::Tensor& storage = args[0]->tensor;
  const std::int64_t offset = asInt(args[1], "storage offset");
  const std::vector<std::int64_t> size = asInts(args[2], "size");
  const std::vector<std::int64_t> stride = asInts(args[3], "stride");
  if (size.size() != stride.size()) {
    refuse(fmt::format("size {} and stride {} differ in length", size, stride));
  }
  // The last element the view reaches must lie inside the storage (checked
  // arithmetic: the numbers come from the file).
  std::int64_t last = offset;
  bool inside = offset >= 0;
  bool empty = false;
  for (std::size_t d = 0; d < size.size(); ++d) {
    if (size[d] < 0 || stride[d] < 0) {
      refuse(fmt::format("negative size {} or stride {}", size, stride));
    }
    empty = empty || size[d] == 0;
    std::int64_t reach = 0;
    inside = inside &&
             !__builtin_mul_overflow(size[d] - 1, stride[d], &reach) &&
             !__builtin_add_overflow(last, reach, &last);
  }
  // An empty tensor places no element: nothing to share or check.
  if (empty) {
    return PickleValue::ofTensor(Kind::kTensor,
                                 torch::empty(size, storage.options()));
  }
  if (!inside || last >= storage.numel()) {
    refuse(
        fmt::format("tensor of size {}, stride {} at offset {} exceeds "
                    "its storage of {} elements",
                    size, stride, offset, storage.numel()));
  }
  return PickleValue::ofTensor(
      Kind::kTensor,
      storage.as_strided(size, stride, storage.storage_offset() + offset));
}

// numpy.dtype(code, align, copy): only plain numeric codes are accepted.
PickleRef numpyDtype(const std::vector<PickleRef>& args) {
  expectArgs(args, 3, 3);
  static const std::vector<std::string> codes = {
      "f8", "f4", "f2", "i8", "i4", "i2", "i1", "u8", "u4", "u2", "u1", "b1"};
  const std::string& code = asString(args[0], "numpy dtype");
  if (std::find(codes.begin(), codes.end(), code) == codes.end()) {
    refuse(fmt::format("unsupported NumPy dtype '{}'", code));
  }
  PickleRef dtype = PickleValue::ofText(Kind::kObject, "numpy.dtype");
  dtype->items = args;
  return dtype;
}

// numpy.core.multiarray.scalar(dtype, bytes), e.g. a metric stored as
// numpy.float64 ('best_mAP' in the released SSGRL checkpoints).
PickleRef numpyScalar(const std::vector<PickleRef>& args) {
  expectArgs(args, 2, 2);
  const PickleRef& dtype = args[0];
  if (dtype->kind != Kind::kObject || dtype->text != "numpy.dtype") {
    refuse("expected a numpy.dtype as first argument");
  }
  // BUILD gave the dtype its state (version, byte order, ...).
  if (dtype->state && dtype->state->kind == Kind::kTuple &&
      dtype->state->items.size() > 1 &&
      dtype->state->items[1]->kind == Kind::kString &&
      dtype->state->items[1]->text == ">") {
    refuse("big-endian NumPy scalars are not supported");
  }
  const std::string& code = dtype->items[0]->text;
  const PickleRef& data = args[1];
  if (data->kind != Kind::kBytes && data->kind != Kind::kString) {
    refuse("expected the scalar's bytes as second argument");
  }
  const std::size_t width = std::stoul(code.substr(1));
  if (data->text.size() != width) {
    refuse(fmt::format("NumPy {} scalar of {} bytes", code, data->text.size()));
  }
  const char* bytes = data->text.data();
  auto read = [bytes](auto value) {
    std::memcpy(&value, bytes, sizeof value);
    return value;
  };
  switch (code[0]) {
    case 'f':
      if (width == 8) return PickleValue::ofFloat(read(double{}));
      if (width == 4) return PickleValue::ofFloat(read(float{}));
      return PickleValue::ofFloat(static_cast<float>(
          c10::Half(read(std::uint16_t{}), c10::Half::from_bits())));
    case 'b':
      return PickleValue::ofBool(bytes[0] != 0);
    case 'i':
      if (width == 8) return PickleValue::ofInt(read(std::int64_t{}));
      if (width == 4) return PickleValue::ofInt(read(std::int32_t{}));
      if (width == 2) return PickleValue::ofInt(read(std::int16_t{}));
      return PickleValue::ofInt(read(std::int8_t{}));
    default:
      if (width == 8) {
        return PickleValue::ofInt(
            static_cast<std::int64_t>(read(std::uint64_t{})));
      }
      if (width == 4) return PickleValue::ofInt(read(std::uint32_t{}));
      if (width == 2) return PickleValue::ofInt(read(std::uint16_t{}));
      return PickleValue::ofInt(read(std::uint8_t{}));
  }
}

// _codecs.encode(text, 'latin1'): how Python 3 pickles bytes at protocol 2.
PickleRef latin1Encode(const std::vector<PickleRef>& args) {
  expectArgs(args, 2, 2);
  const std::string& text = asString(args[0], "text");
  const std::string& encoding = asString(args[1], "encoding");
  if (encoding != "latin1" && encoding != "latin-1") {
    refuse(fmt::format("unsupported encoding '{}'", encoding));
  }
  std::string bytes;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const auto c = static_cast<std::uint8_t>(text[i]);
    if (c < 0x80) {
      bytes.push_back(static_cast<char>(c));
    } else if ((c & 0xe0) == 0xc0 && i + 1 < text.size() &&
               (static_cast<std::uint8_t>(text[i + 1]) & 0xc0) == 0x80) {
      const auto code =
          static_cast<unsigned>(((c & 0x1f) << 6) | (text[++i] & 0x3f));
      if (code > 0xff) refuse("text is not latin1");
      bytes.push_back(static_cast<char>(code));
    } else {
      refuse("text is not latin1");
    }
  }
  return PickleValue::ofText(Kind::kBytes, bytes);
}

// The allow-list: what torch.save (and torch::pickle_save) writes for
// tensors, plus the NumPy scalars training scripts often store beside them.
const Unpickler::Globals& checkpointGlobals() {
  static const Unpickler::Globals globals = [] {
    Unpickler::Globals g;
    for (const auto& type : storageTypes()) g[type.first] = nullptr;
    g["collections.OrderedDict"] = [](const std::vector<PickleRef>& args) {
      expectArgs(args, 0, 0);
      return PickleValue::make(Kind::kDict);
    };
    g["torch._utils._rebuild_tensor"] = [](const std::vector<PickleRef>& a) {
      expectArgs(a, 4, 4);
      return rebuildTensor(a);
    };
    g["torch._utils._rebuild_tensor_v2"] = [](const std::vector<PickleRef>& a) {
      expectArgs(a, 6, 7);
      return rebuildTensor(a);
    };
    g["torch._utils._rebuild_parameter"] =
        [](const std::vector<PickleRef>& args) {
          expectArgs(args, 3, 3);
          if (args[0]->kind != Kind::kTensor) refuse("expected a tensor");
          return args[0];
        };
    // LibTorch's torch::pickle_save (`labrun export`) tags a typed dict:
    // restore_type_tag(value, "Dict[str, Tensor]") returns the value
    // (torch/jit/_pickle.py).
    g["torch.jit._pickle.restore_type_tag"] =
        [](const std::vector<PickleRef>& args) {
          expectArgs(args, 2, 2);
          return args[0];
        };
    g["numpy.dtype"] = numpyDtype;
    g["numpy.core.multiarray.scalar"] = numpyScalar;
    g["_codecs.encode"] = latin1Encode;
    return g;
  }();
  return globals;
}

struct StorageId {
  torch::Dtype dtype;
  std::string key;
  std::int64_t numel;
};

// ('storage', <torch.XStorage>, key, location, numel[, view_metadata]).
StorageId parseStorageId(const PickleRef& id, std::size_t fields) {
  if (id->kind != Kind::kTuple || id->items.size() != fields ||
      id->items[0]->kind != Kind::kString || id->items[0]->text != "storage") {
    refuse(
        fmt::format("unsupported persistent id (expected a {}-tuple "
                    "starting with 'storage')",
                    fields));
  }
  const PickleRef& type = id->items[1];
  const auto dtype = storageTypes().find(type->text);
  if (type->kind != Kind::kGlobal || dtype == storageTypes().end()) {
    refuse("unsupported storage type");
  }
  const std::int64_t numel = asInt(id->items[4], "storage size");
  if (numel < 0) refuse("negative storage size");
  return {dtype->second, asString(id->items[2], "storage key"), numel};
}

// Zip format: data.pkl, each storage in the record data/<key>.
PickleRef loadZip(const std::string& path) {
  std::unique_ptr<caffe2::serialize::PyTorchStreamReader> reader;
  try {
    reader = std::make_unique<caffe2::serialize::PyTorchStreamReader>(path);
  } catch (const c10::Error& error) {
    refuse(
        fmt::format("unreadable zip archive, truncated or not written by "
                    "torch.save ({})",
                    error.what_without_backtrace()));
  }
  if (!reader->hasRecord("data.pkl")) {
    refuse("not a torch.save checkpoint (zip archive without data.pkl)");
  }
  if (reader->hasRecord("byteorder")) {
    const auto [order, size] = reader->getRecord("byteorder");
    if (std::string(static_cast<const char*>(order.get()), size) != "little") {
      refuse("big-endian checkpoints are not supported");
    }
  }
  std::map<std::string, PickleRef> storages;
  auto load_storage = [&](const PickleRef& id) {
    const StorageId storage = parseStorageId(id, 5);
    PickleRef& loaded = storages[storage.key];
    if (loaded) return loaded;
    const std::string record = "data/" + storage.key;
    if (!reader->hasRecord(record)) {
      refuse(fmt::format("storage record '{}' missing", record));
    }
    auto [data, bytes] = reader->getRecord(record);
    const std::size_t element_size = c10::elementSize(storage.dtype);
    if (bytes % element_size != 0 ||
        bytes / element_size != static_cast<std::uint64_t>(storage.numel)) {
      refuse(
          fmt::format("storage record '{}' holds {} bytes, expected {} "
                      "elements of {} bytes",
                      record, bytes, storage.numel, element_size));
    }
    c10::Storage memory(c10::Storage::use_byte_size_t(), bytes, std::move(data),
                        /*allocator=*/nullptr,
                        /*resizable=*/false);
    loaded = PickleValue::ofTensor(
        Kind::kStorage, torch::empty({0}, torch::dtype(storage.dtype))
                            .set_(memory, /*storage_offset=*/0, {storage.numel},
                                  /*stride=*/{1}));
    return loaded;
  };
  const auto [pickle, size] = reader->getRecord("data.pkl");
  std::istringstream in(
      std::string(static_cast<const char*>(pickle.get()), size));
  try {
    return Unpickler(in, checkpointGlobals(), load_storage).load();
  } catch (const std::runtime_error& error) {
    refuse(fmt::format("data.pkl {}", error.what()));
  }
}

// Legacy format: pickles of the magic number, the protocol version, the
// system info, the object (storages as persistent ids), the storage keys;
// then each storage as an int64 element count and its raw bytes.
PickleRef loadLegacy(const std::string& path, std::uint64_t file_size) {
  std::ifstream in(path, std::ios::binary);
  const Unpickler::Globals no_globals;
  const PickleRef magic = Unpickler(in, no_globals).load();
  if (magic->kind != Kind::kBigInt ||
      magic->text != std::string(kLegacyMagic.begin(), kLegacyMagic.end())) {
    refuse(
        "not a PyTorch checkpoint (a pickle without torch.save's magic "
        "number)");
  }
  const PickleRef protocol = Unpickler(in, no_globals).load();
  if (protocol->kind != Kind::kInt ||
      protocol->integer != kLegacyProtocolVersion) {
    refuse("unsupported legacy protocol version (expected 1001)");
  }
  const PickleRef sys_info = Unpickler(in, no_globals).load();
  const PickleRef little =
      sys_info->kind == Kind::kDict ? sys_info->get("little_endian") : nullptr;
  if (!little || little->kind != Kind::kBool || !little->boolean) {
    refuse("big-endian checkpoints are not supported");
  }

  std::map<std::string, PickleRef> roots;  // by key, filled below
  std::map<std::string, PickleRef> views;  // view_metadata slices
  auto load_storage = [&](const PickleRef& id) -> PickleRef {
    const StorageId storage = parseStorageId(id, 6);
    PickleRef& root = roots[storage.key];
    if (!root) {
      if (static_cast<std::uint64_t>(storage.numel) >
          file_size / c10::elementSize(storage.dtype)) {
        refuse(
            fmt::format("truncated or corrupt file: storage '{}' of {} "
                        "elements is larger than the whole file ({} bytes)",
                        storage.key, storage.numel, file_size));
      }
      root = PickleValue::ofTensor(
          Kind::kStorage, torch::empty({storage.numel}, storage.dtype));
    }
    const PickleRef& view = id->items[5];
    if (view->kind == Kind::kNone) return root;
    // (view_key, offset, size) in elements of the root storage.
    if (view->kind != Kind::kTuple || view->items.size() != 3) {
      refuse("malformed storage view");
    }
    PickleRef& slice = views[asString(view->items[0], "view key")];
    if (!slice) {
      const std::int64_t offset = asInt(view->items[1], "view offset");
      const std::int64_t size = asInt(view->items[2], "view size");
      if (offset < 0 || size < 0 || offset + size > root->tensor.numel()) {
        refuse("storage view exceeds its storage");
      }
      slice = PickleValue::ofTensor(Kind::kStorage,
                                    root->tensor.narrow(0, offset, size));
    }
    return slice;
  };
  const PickleRef object =
      Unpickler(in, checkpointGlobals(), load_storage).load();

  const PickleRef keys = Unpickler(in, no_globals).load();
  if (keys->kind != Kind::kList) refuse("malformed storage key list");
  std::size_t filled = 0;
  for (const PickleRef& key_value : keys->items) {
    const std::string& key = asString(key_value, "storage key");
    const auto root = roots.find(key);
    if (root == roots.end()) {
      refuse(fmt::format("storage '{}' is listed but never used", key));
    }
    torch::Tensor& storage = root->second->tensor;
    const auto bytes = static_cast<std::streamsize>(storage.nbytes());
    std::int64_t numel = 0;
    if (!in.read(reinterpret_cast<char*>(&numel), sizeof numel)) {
      refuse(fmt::format("truncated file: storage '{}' is missing", key));
    }
    if (numel != storage.numel()) {
      refuse(fmt::format("storage '{}' holds {} elements, expected {}", key,
                         numel, storage.numel()));
    }
    if (!in.read(static_cast<char*>(storage.data_ptr()), bytes)) {
      refuse(
          fmt::format("truncated file: storage '{}' ({} bytes) ends past "
                      "the end of the file",
                      key, bytes));
    }
    ++filled;
  }
  if (filled != roots.size()) {
    refuse("malformed file: some storages have no data");
  }
  return object;
}

std::vector<std::string> keysOf(const PickleValue& dict) {
  std::vector<std::string> keys;
  for (const auto& entry : dict.entries) {
    if (entry.first->kind == Kind::kString) keys.push_back(entry.first->text);
  }
  return keys;
}

std::size_t countTensors(const PickleValue& dict) {
  std::size_t count = 0;
  for (const auto& entry : dict.entries) {
    count += entry.first->kind == Kind::kString &&
             entry.second->kind == Kind::kTensor;
  }
  return count;
}

}  // namespace

PickleRef loadTorchFile(const std::string& path) {
  try {
    std::error_code error;
    const std::uintmax_t size = std::filesystem::file_size(path, error);
    std::ifstream in(path, std::ios::binary);
    if (error || !in) refuse("cannot open the file");
    char head[4] = {};
    in.read(head, sizeof head);
    if (in.gcount() == 0) refuse("empty file, not a PyTorch checkpoint");
    if (in.gcount() == 4 && std::memcmp(head, "PK\x03\x04", 4) == 0) {
      return loadZip(path);
    }
    if (static_cast<std::uint8_t>(head[0]) == 0x80) {
      return loadLegacy(path, size);
    }
    refuse(
        "not a PyTorch checkpoint (expected a zip archive or a legacy "
        "torch.save file)");
  } catch (const c10::Error& error) {
    throw std::runtime_error(
        fmt::format("{}: {}", path, error.what_without_backtrace()));
  } catch (const std::exception& error) {
    throw std::runtime_error(fmt::format("{}: {}", path, error.what()));
  }
}

StateDict loadStateDict(const std::string& path) {
  const PickleRef root = loadTorchFile(path);
  if (root->kind != Kind::kDict) {
    throw std::runtime_error(
        fmt::format("{}: no tensors found (expected a dict of tensors, found "
                    "a {})",
                    path, PickleValue::kindName(root->kind)));
  }
  // Training checkpoints nest the state dict beside epoch, metrics...
  PickleRef dict = root;
  while (countTensors(*dict) == 0) {
    PickleRef nested = dict->get("state_dict");
    if (!nested) nested = dict->get("model");
    if (!nested || nested->kind != Kind::kDict) break;
    dict = nested;
  }
  StateDict state;
  for (const auto& [key, value] : dict->entries) {
    if (key->kind == Kind::kString && value->kind == Kind::kTensor) {
      state.emplace(key->text, value->tensor);
    }
  }
  if (state.empty()) {
    throw std::runtime_error(fmt::format("{}: no tensors found (keys: {})",
                                         path, fmt::join(keysOf(*dict), ", ")));
  }
  const std::string prefix = "module.";
  const bool data_parallel =
      std::all_of(state.begin(), state.end(), [&](const auto& entry) {
        return entry.first.compare(0, prefix.size(), prefix) == 0;
      });
  if (!data_parallel) return state;
  StateDict stripped;
  for (auto& [key, tensor] : state) {
    stripped.emplace(key.substr(prefix.size()), std::move(tensor));
  }
  return stripped;
}

}  // namespace labrun::io
