#include "ModuleWeights.h"

#include <torch/torch.h>

#include <filesystem>
#include <map>
#include <stdexcept>
#include <utility>
#include <vector>

namespace labrun::weights {
namespace {

// At most this many keys or prefixes per list in an error message.
constexpr std::size_t kListed = 10;

std::string listKeys(const std::string& what,
                     const std::vector<std::string>& keys) {
  std::string text = c10::str(what, " (", keys.size(), "): ");
  for (std::size_t i = 0; i < keys.size() && i < kListed; ++i) {
    text += (i ? ", " : "") + keys[i];
  }
  if (keys.size() > kListed) {
    text += c10::str(" and ", keys.size() - kListed, " more");
  }
  return text;
}

bool startsWith(const std::string& text, const std::string& prefix) {
  return text.compare(0, prefix.size(), prefix) == 0;
}

}  // namespace

std::string describeKeyPrefixes(const StateDict& state) {
  // In order of first appearance in the (sorted) dict.
  std::vector<std::pair<std::string, std::size_t>> prefixes;
  for (const auto& item : state) {
    const std::string& key = item.first;
    const std::size_t dot = key.find('.');
    const std::string prefix =
        dot == std::string::npos ? key : key.substr(0, dot + 1);
    if (prefixes.empty() || prefixes.back().first != prefix) {
      prefixes.emplace_back(prefix, 0);
    }
    ++prefixes.back().second;
  }
  std::string text;
  for (std::size_t i = 0; i < prefixes.size() && i < kListed; ++i) {
    const auto& [prefix, count] = prefixes[i];
    text += c10::str(i ? ", " : "", prefix, " (", count,
                     count == 1 ? " key)" : " keys)");
  }
  if (prefixes.size() > kListed) {
    text += c10::str(" and ", prefixes.size() - kListed, " more");
  }
  return text;
}

StateDict readWeights(const std::string& file, const std::string& prefix,
                      const ModelContext& context, std::string* path) {
  if (!context.load_state_dict) {
    throw std::runtime_error("weights: this host cannot read checkpoints");
  }
  std::filesystem::path resolved(file);
  if (resolved.is_relative() && !context.spec_dir.empty()) {
    resolved = std::filesystem::path(context.spec_dir) / resolved;
  }
  // As messages show it: whole, without "s/../".
  *path = std::filesystem::absolute(resolved).lexically_normal().string();
  StateDict state = context.load_state_dict(*path);
  if (prefix.empty()) return state;
  StateDict selected;
  for (auto& [key, tensor] : state) {
    if (startsWith(key, prefix)) {
      selected.emplace(key.substr(prefix.size()), std::move(tensor));
    }
  }
  if (selected.empty()) {
    throw std::runtime_error(c10::str(
        "weights '", *path, "': no key starts with weights_prefix '", prefix,
        "'; the file's keys start with: ", describeKeyPrefixes(state)));
  }
  return selected;
}

std::optional<Weights> readWeightsOption(const Params& params,
                                         const ModelContext& context) {
  const std::string& file = params.getString("weights");
  if (file.empty() || !context.initial_weights) return std::nullopt;
  Weights weights;
  weights.state = readWeights(file, params.getString("weights_prefix"), context,
                              &weights.path);
  return weights;
}

void loadModuleWeights(torch::nn::Module& module, const StateDict& state,
                       const std::string& source, const std::string& model,
                       const FitRules& rules) {
  std::map<std::string, torch::Tensor> own;
  for (const auto& item : module.named_parameters()) {
    own[item.key()] = item.value();
  }
  for (const auto& item : module.named_buffers()) {
    own[item.key()] = item.value();
  }
  std::vector<std::string> missing, unexpected, mis_shaped, mis_typed;
  bool any_own = false;
  for (const auto& [key, tensor] : state) {
    if (rules.ignored && rules.ignored(key)) continue;
    const auto it = own.find(key);
    if (it == own.end()) {
      unexpected.push_back(key);
      continue;
    }
    any_own = true;
    if (it->second.sizes() != tensor.sizes()) {
      mis_shaped.push_back(c10::str(key, " ", tensor.sizes(), " in the file, ",
                                    it->second.sizes(), " in the model"));
    }
    // Integers copied into float weights would truncate them unnoticed;
    // another float precision is converted, as PyTorch does.
    if (it->second.is_floating_point() && !tensor.is_floating_point()) {
      mis_typed.push_back(c10::str(key, " ", tensor.scalar_type(),
                                   " in the file, ", it->second.scalar_type(),
                                   " in the model"));
    }
  }
  for (const auto& entry : own) {
    if (state.count(entry.first) == 0 &&
        !(rules.optional && rules.optional(entry.first))) {
      missing.push_back(entry.first);
    }
  }
  if (!missing.empty() || !unexpected.empty() || !mis_shaped.empty() ||
      !mis_typed.empty()) {
    std::string problems;
    for (const auto& [what, keys] : {std::pair{"missing keys", &missing},
                                     std::pair{"unexpected keys", &unexpected},
                                     std::pair{"mis-shaped keys", &mis_shaped},
                                     std::pair{"mis-typed keys", &mis_typed}}) {
      if (keys->empty()) continue;
      problems += (problems.empty() ? "" : "; ") + listKeys(what, *keys);
    }
    if (!any_own) {
      problems += c10::str(
          "; none of the file's keys is the model's (a whole-model "
          "checkpoint? set weights_prefix); its keys start with: ",
          describeKeyPrefixes(state));
    }
    throw std::runtime_error(
        c10::str("weights '", source, "' do not fit ", model, ": ", problems));
  }
  torch::NoGradGuard no_grad;
  for (const auto& [key, tensor] : state) {
    if (!(rules.ignored && rules.ignored(key))) own.at(key).copy_(tensor);
  }
}

}  // namespace labrun::weights
