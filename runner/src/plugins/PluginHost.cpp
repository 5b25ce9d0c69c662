#include "plugins/PluginHost.h"

#include <dlfcn.h>
#include <elf.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <boost/dll/import.hpp>
#include <boost/dll/runtime_symbol_info.hpp>
#include <boost/dll/shared_library.hpp>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "spec/Schema.h"
#include "spec/SpecLoader.h"

namespace labrun::plugins {
namespace fs = std::filesystem;
namespace {

using EntryPoint = const PluginDescriptor*();

bool looksLikePlugin(const fs::path& path) {
  const std::string file = path.filename().string();
  return path.extension() == ".so" &&
         (file.rfind("liblabrun_", 0) == 0 || file.rfind("labrun_", 0) == 0);
}

std::string joinNames(std::vector<std::string> names) {
  std::sort(names.begin(), names.end());
  std::string joined;
  for (const auto& name : names) joined += (joined.empty() ? "" : ", ") + name;
  return joined.empty() ? "(none)" : joined;
}

// Boost.DLL clears dlerror() and reports only "bad file descriptor"; a second
// dlopen recovers the loader's reason (bad ELF header, undefined symbol...).
std::string loaderReason(const std::string& file) {
  void* handle = dlopen(file.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (handle != nullptr) {
    dlclose(handle);
    return "unknown loader error";
  }
  const char* reason = dlerror();
  return reason != nullptr ? reason : "unknown loader error";
}

// Loading a library runs its code: refuse files that someone else could
// have replaced (as ssh does for its keys).
void requireTrustedFile(const std::string& file) {
  struct stat info {};
  if (::stat(file.c_str(), &info) != 0) {
    throw PluginError(fmt::format("plugin file {}: cannot stat: {}", file,
                                  std::strerror(errno)));
  }
  if ((info.st_mode & S_IWOTH) != 0) {
    throw PluginError(fmt::format(
        "plugin file {}: refused: it is world-writable (chmod o-w {})", file,
        file));
  }
  if (info.st_uid != ::geteuid() && info.st_uid != 0) {
    throw PluginError(fmt::format(
        "plugin file {}: refused: owned by uid {}, not by you (uid {}) or root",
        file, info.st_uid, ::geteuid()));
  }
  // Anyone may replace a file in a world-writable folder, unless the folder
  // is sticky (as /tmp is): then only its owner may.
  const std::string folder = fs::path(file).parent_path().string();
  struct stat parent {};
  if (::stat(folder.c_str(), &parent) == 0 && (parent.st_mode & S_IWOTH) != 0 &&
      (parent.st_mode & S_ISVTX) == 0) {
    throw PluginError(fmt::format(
        "plugin file {}: refused: its folder is world-writable (chmod o-w {})",
        file, folder));
  }
}

// A library cut short (an interrupted copy or install) makes the dynamic
// loader fault (SIGBUS) on its pages past the end of the file, killing
// the process without a word: refuse a 64-bit ELF file whose headers or
// loadable segments reach past its end. Other files are left to dlopen,
// which names what is wrong with them. The section headers, last in the
// file, count too: any cut is then caught.
void requireCompleteElf(const std::string& file) {
  std::ifstream in(file, std::ios::binary);
  Elf64_Ehdr header{};
  if (!in.read(reinterpret_cast<char*>(&header), sizeof header) ||
      std::memcmp(header.e_ident, ELFMAG, SELFMAG) != 0 ||
      header.e_ident[EI_CLASS] != ELFCLASS64) {
    return;
  }
  in.seekg(0, std::ios::end);
  const auto size = static_cast<std::uint64_t>(in.tellg());
  const std::uint64_t program_headers_end =
      header.e_phoff + std::uint64_t{header.e_phnum} * header.e_phentsize;
  std::uint64_t needed = std::max(
      program_headers_end,
      header.e_shoff + std::uint64_t{header.e_shnum} * header.e_shentsize);
  if (program_headers_end <= size && header.e_phentsize == sizeof(Elf64_Phdr)) {
    in.seekg(static_cast<std::streamoff>(header.e_phoff));
    for (int i = 0; i < header.e_phnum; ++i) {
      Elf64_Phdr segment{};
      if (!in.read(reinterpret_cast<char*>(&segment), sizeof segment)) break;
      if (segment.p_type == PT_LOAD) {
        needed = std::max(needed, segment.p_offset + segment.p_filesz);
      }
    }
  }
  if (needed > size) {
    throw PluginError(fmt::format(
        "plugin file {}: refused: it is cut short ({} bytes, its ELF headers "
        "need {}): an interrupted copy or install?",
        file, size, needed));
  }
}

// Owns a plugin-made object and, declared first so destroyed last, the
// library whose code that object's destructor runs.
template <typename T>
struct WithLibrary {
  std::shared_ptr<const void> library;
  std::shared_ptr<T> object;
};

// The folders of LABRUN_PLUGIN_PATH (colon-separated, empty entries
// skipped), in order.
std::vector<std::string> envPluginPath() {
  std::vector<std::string> dirs;
  const char* env = std::getenv("LABRUN_PLUGIN_PATH");
  if (env == nullptr) return dirs;
  std::string rest = env;
  for (std::size_t pos; !rest.empty(); rest.erase(0, pos + 1)) {
    pos = rest.find(':');
    if (pos == std::string::npos) pos = rest.size();
    if (pos > 0) dirs.push_back(rest.substr(0, pos));
    if (pos == rest.size()) break;
  }
  return dirs;
}

}  // namespace

std::vector<std::string> PluginHost::searchPath(
    const std::vector<std::string>& cli_path) {
  std::vector<std::string> dirs = cli_path;
  for (const std::string& dir : envPluginPath()) dirs.push_back(dir);
  const fs::path exe_dir =
      boost::dll::program_location().parent_path().string();
  dirs.push_back((exe_dir / "plugins").string());
  dirs.push_back((exe_dir.parent_path() / "plugins").string());
  // An installed labrun: <prefix>/bin/labrun, <prefix>/lib/labrun/plugins.
  dirs.push_back((exe_dir.parent_path() / "lib/labrun/plugins").string());
  dirs.push_back(exe_dir.string());
  return dirs;
}

void PluginHost::loadDirectories(const std::vector<std::string>& dirs) {
  for (const auto& dir : dirs) {
    std::error_code error;
    if (!fs::is_directory(dir, error)) continue;
    std::vector<fs::path> files;
    for (const auto& entry : fs::directory_iterator(dir, error)) {
      if (entry.is_regular_file() && looksLikePlugin(entry.path())) {
        files.push_back(entry.path());
      }
    }
    std::sort(files.begin(), files.end());  // deterministic across file systems
    for (const auto& file : files) {
      const std::string canonical = fs::weakly_canonical(file).string();
      const bool seen =
          std::any_of(plugins_.begin(), plugins_.end(),
                      [&](const auto& p) { return p->file == canonical; });
      if (seen) continue;
      try {
        loadFile(canonical);
      } catch (const DuplicatePluginError&) {
        throw;
      } catch (const PluginError& problem) {
        problems_.push_back(problem.what());
      }
    }
  }
}

const LoadedPlugin& PluginHost::loadFile(const std::string& path) {
  const std::string file = fs::weakly_canonical(path).string();
  requireTrustedFile(file);
  requireCompleteElf(file);
  auto library = std::make_shared<boost::dll::shared_library>();
  boost::dll::fs::error_code error;
  library->load(
      file, boost::dll::load_mode::rtld_now | boost::dll::load_mode::rtld_local,
      error);
  if (error) {
    throw PluginError(fmt::format("plugin file {}: cannot load: {}", file,
                                  loaderReason(file)));
  }
  if (!library->has(LABRUN_PLUGIN_ENTRY_SYMBOL)) {
    throw PluginError(
        fmt::format("plugin file {}: missing entry point '{}' (define it with "
                    "LABRUN_PLUGIN(descriptor))",
                    file, LABRUN_PLUGIN_ENTRY_SYMBOL));
  }
  auto entry =
      boost::dll::import <EntryPoint>(*library, LABRUN_PLUGIN_ENTRY_SYMBOL);
  const PluginDescriptor* descriptor = entry();
  if (descriptor == nullptr) {
    throw PluginError(fmt::format(
        "plugin file {}: entry point returned no descriptor", file));
  }
  // Only api_version is read before the check: the rest may differ in layout.
  if (descriptor->api_version != kPluginApiVersion) {
    throw PluginError(fmt::format(
        "plugin file {}: built for plugin API version {}, but this labrun "
        "uses version {}; rebuild the plugin against this labrun's headers",
        file, descriptor->api_version, kPluginApiVersion));
  }
  using Factory = const void*;
  const Factory factories[] = {
      reinterpret_cast<Factory>(descriptor->make_backbone),
      reinterpret_cast<Factory>(descriptor->make_head),
      reinterpret_cast<Factory>(descriptor->make_loss),
      reinterpret_cast<Factory>(descriptor->make_metric)};
  const auto kind_index = static_cast<std::size_t>(descriptor->kind);
  if (descriptor->name == nullptr || *descriptor->name == '\0' ||
      kind_index >= std::size(factories) || factories[kind_index] == nullptr) {
    throw PluginError(fmt::format(
        "plugin file {}: malformed descriptor (needs a name, a kind and the "
        "factory of that kind)",
        file));
  }
  for (const auto& other : plugins_) {
    if (other->kind() == descriptor->kind &&
        other->name() == descriptor->name) {
      throw DuplicatePluginError(
          fmt::format("duplicate {} plugin '{}': defined in {} and in {}",
                      pluginKindName(descriptor->kind), descriptor->name,
                      other->file, file));
    }
  }
  auto loaded = std::make_unique<LoadedPlugin>();
  loaded->descriptor = descriptor;
  loaded->file = file;
  loaded->library = library;
  plugins_.push_back(std::move(loaded));
  return *plugins_.back();
}

const LoadedPlugin& PluginHost::find(PluginKind kind,
                                     const std::string& name) const {
  std::vector<std::string> known;
  for (const auto& plugin : plugins_) {
    if (plugin->kind() != kind) continue;
    if (plugin->name() == name) return *plugin;
    known.push_back(plugin->name());
  }
  std::string message =
      fmt::format("unknown {} plugin '{}'; known: {}", pluginKindName(kind),
                  name, joinNames(known));
  for (const auto& problem : problems_) message += " [skipped " + problem + "]";
  // Skipped as PATH's are, but a typo there is why a plugin is unknown.
  for (const std::string& dir : envPluginPath()) {
    std::error_code error;
    if (!fs::is_directory(dir, error)) {
      message += " [LABRUN_PLUGIN_PATH names " + dir + ", not a folder]";
    }
  }
  throw PluginError(message);
}

Params PluginHost::defaultParams(
    PluginKind kind, const std::string& name,
    const std::map<std::string, ParamValue>& overrides) const {
  std::map<std::string, ParamValue> values = overrides;
  for (const ParamSpec& param : find(kind, name).params()) {
    if (values.count(param.name) > 0) continue;
    if (param.default_yaml == nullptr) {
      throw PluginError(
          fmt::format("{} plugin '{}': parameter '{}' is required",
                      pluginKindName(kind), name, param.name));
    }
    spec::Origin origin;
    origin.note = fmt::format("default of {}.{}", name, param.name);
    values[param.name] =
        spec::toParamValue(spec::parseYamlText(param.default_yaml, origin),
                           param.type, param.name);
  }
  return Params(std::move(values));
}

spec::PluginSchemaLookup PluginHost::schemaLookup() const {
  return [this](PluginKind kind, const std::string& name) {
    return find(kind, name).params();
  };
}

std::vector<const LoadedPlugin*> PluginHost::all() const {
  std::vector<const LoadedPlugin*> list;
  for (const auto& plugin : plugins_) list.push_back(plugin.get());
  std::sort(list.begin(), list.end(), [](const auto* a, const auto* b) {
    return std::make_pair(a->kind(), a->name()) <
           std::make_pair(b->kind(), b->name());
  });
  return list;
}

template <typename T, typename Factory>
std::shared_ptr<T> PluginHost::build(PluginKind kind, const std::string& name,
                                     Factory factory, const Params& params,
                                     const ModelContext& context) const {
  const LoadedPlugin& plugin = find(kind, name);
  std::shared_ptr<T> object;
  try {
    object = (plugin.descriptor->*factory)(params, context);
  } catch (const std::exception& failure) {
    throw PluginError(fmt::format("{} plugin '{}' ({}): {}",
                                  pluginKindName(kind), name, plugin.file,
                                  failure.what()));
  }
  if (!object) {
    throw PluginError(fmt::format("{} plugin '{}' ({}): factory returned null",
                                  pluginKindName(kind), name, plugin.file));
  }
  auto holder = std::make_shared<WithLibrary<T>>(
      WithLibrary<T>{plugin.library, std::move(object)});
  return std::shared_ptr<T>(holder, holder->object.get());
}

std::shared_ptr<Backbone> PluginHost::makeBackbone(
    const std::string& name, const Params& params,
    const ModelContext& context) const {
  return build<Backbone>(PluginKind::kBackbone, name,
                         &PluginDescriptor::make_backbone, params, context);
}

std::shared_ptr<Head> PluginHost::makeHead(const std::string& name,
                                           const Params& params,
                                           const ModelContext& context) const {
  return build<Head>(PluginKind::kHead, name, &PluginDescriptor::make_head,
                     params, context);
}

std::shared_ptr<Loss> PluginHost::makeLoss(const std::string& name,
                                           const Params& params,
                                           const ModelContext& context) const {
  return build<Loss>(PluginKind::kLoss, name, &PluginDescriptor::make_loss,
                     params, context);
}

std::shared_ptr<Metric> PluginHost::makeMetric(
    const std::string& name, const Params& params,
    const ModelContext& context) const {
  return build<Metric>(PluginKind::kMetric, name,
                       &PluginDescriptor::make_metric, params, context);
}

}  // namespace labrun::plugins
