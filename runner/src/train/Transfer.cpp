#include "train/Transfer.h"

#include <fmt/format.h>
#include <torch/torch.h>

#include <filesystem>
#include <stdexcept>

#include "ModuleWeights.h"
#include "store/RunStore.h"
#include "train/CheckpointFile.h"
#include "util/Strings.h"

namespace labrun::train {
namespace {

// An empty prefix is the whole model.
bool under(const std::string& key, const std::string& prefix) {
  return prefix.empty() || util::underModule(key, prefix);
}

bool underAny(const std::string& key, const std::vector<std::string>& modules) {
  if (modules.empty()) return true;
  for (const std::string& prefix : modules) {
    if (under(key, prefix)) return true;
  }
  return false;
}

}  // namespace

std::string initCheckpointPath(const std::string& ref,
                               const std::string& db_path) {
  std::error_code error;
  if (std::filesystem::is_regular_file(ref, error)) return ref;
  if (db_path.empty() || !std::filesystem::exists(db_path, error)) {
    throw std::runtime_error(fmt::format(
        "'{}' is neither a checkpoint file nor a run (no store at '{}')", ref,
        db_path));
  }
  const auto store = store::RunStore::open(db_path, /*read_only=*/true);
  std::string uuid;
  try {
    uuid = store->resolveRun(ref, /*prefer_trained=*/true);
  } catch (const store::StoreError& not_found) {
    throw std::runtime_error(
        fmt::format("'{}' is neither a checkpoint file nor a run: {}", ref,
                    not_found.what()));
  }
  const auto checkpoint = store->pickCheckpoint(
      uuid, store::RunStore::CheckpointPick::kBestElseNewest);
  if (!checkpoint) {
    throw std::runtime_error(
        fmt::format("run '{}' ({}) has no checkpoint", ref, uuid));
  }
  if (const auto problem = checkpointProblem(*checkpoint)) {
    throw std::runtime_error(fmt::format(
        "run '{}' ({}) recorded {} but it {}; name a checkpoint file instead",
        ref, uuid, checkpoint->path, *problem));
  }
  return checkpoint->path;
}

void loadModules(torch::nn::Module& model, const StateDict& state,
                 const std::vector<std::string>& modules,
                 const std::string& source) {
  for (const std::string& prefix : modules) {
    bool in_model = false, in_file = false;
    for (const auto& item : model.named_parameters()) {
      in_model = in_model || under(item.key(), prefix);
    }
    for (const auto& item : model.named_buffers()) {
      in_model = in_model || under(item.key(), prefix);
    }
    for (const auto& item : state) {
      in_file = in_file || under(item.first, prefix);
    }
    if (!in_model) {
      throw std::runtime_error(fmt::format(
          "init_modules: '{}' names no parameter or buffer of this model",
          prefix));
    }
    if (!in_file) {
      throw std::runtime_error(fmt::format(
          "init_modules: '{}' names no entry of {}; its entries start with: "
          "{}",
          prefix, source, weights::describeKeyPrefixes(state)));
    }
  }
  weights::FitRules rules;
  rules.ignored = [&](const std::string& key) {
    return !underAny(key, modules);
  };
  rules.optional = rules.ignored;
  weights::loadModuleWeights(model, state, source, "this model", rules);
}

}  // namespace labrun::train
