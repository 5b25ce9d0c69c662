#include "train/CheckpointFile.h"

#include <ATen/Context.h>
#include <fmt/format.h>
#include <torch/torch.h>

#include <filesystem>
#include <mutex>
#include <regex>
#include <system_error>
#include <vector>

#include "ModuleWeights.h"
#include "util/AtomicFile.h"
#include "util/Sha256.h"

namespace labrun::train {
namespace fs = std::filesystem;
namespace {

constexpr const char* kModel = "model";
constexpr const char* kOptimizer = "optimizer";
constexpr const char* kState = "state";  // TrainState's integers
constexpr const char* kEpochLossSum = "epoch_loss_sum";
constexpr const char* kRandomState = "rng";  // + the generator's index

// Generators whose state a checkpoint keeps: dropout and any other random
// op of the model draw from them (data order and augmentation are derived
// from the seed, the epoch and the sample instead).
std::vector<at::Generator> randomGenerators(torch::Device device) {
  std::vector<at::Generator> generators = {
      at::globalContext().defaultGenerator(at::DeviceType::CPU)};
  if (device.is_cuda()) {
    generators.push_back(at::globalContext().defaultGenerator(device));
  }
  return generators;
}

// Module::save writes a module's tensors and, per child, a nested archive.
void flatten(torch::serialize::InputArchive& archive, const std::string& prefix,
             StateDict& state) {
  for (const std::string& key : archive.keys()) {
    torch::Tensor tensor;
    torch::serialize::InputArchive child;
    if (archive.try_read(key, tensor)) {
      state.emplace(prefix + key, tensor);
    } else if (archive.try_read(key, child)) {
      flatten(child, prefix + key + ".", state);
    }
  }
}

}  // namespace

std::string checkpointFileName(std::int64_t step) {
  return fmt::format("step-{:08d}.pt", step);
}

std::size_t removeUnfinishedCheckpoints(const std::string& dir) {
  static const std::regex checkpoint(R"(step-\d+\.pt)");
  std::size_t removed = 0;
  std::error_code error;
  for (const auto& entry : fs::directory_iterator(dir, error)) {
    const std::string name = entry.path().filename().string();
    const std::string file = name.substr(0, name.find(".pt.") + 3);
    if (std::regex_match(file, checkpoint) &&
        util::isTemporaryName(name, file) && fs::remove(entry.path(), error)) {
      ++removed;
    }
  }
  return removed;
}

std::optional<std::string> checkpointProblem(const store::CheckpointRow& row) {
  std::error_code error;
  if (!fs::exists(row.path, error)) {
    return "is missing (moved or deleted)";
  }
  try {
    if (util::sha256File(row.path) == row.sha256) return std::nullopt;
    return "is damaged (its sha256 is not the one recorded)";
  } catch (const std::runtime_error& unreadable) {
    return std::string("cannot be read (") + unreadable.what() + ")";
  }
}

CheckpointWriter::CheckpointWriter(const torch::nn::Module& model,
                                   const torch::optim::Optimizer& optimizer,
                                   const TrainState& state,
                                   torch::Device device) {
  torch::serialize::OutputArchive model_archive, optimizer_archive;
  model.save(model_archive);
  optimizer.save(optimizer_archive);
  archive_.write(kModel, model_archive);
  archive_.write(kOptimizer, optimizer_archive);
  archive_.write(kState,
                 torch::tensor({state.step, state.epoch, state.batches_done,
                                state.epoch_steps, state.epoch_images},
                               torch::kLong));
  archive_.write(kEpochLossSum,
                 torch::tensor(state.epoch_loss_sum, torch::kDouble));
  auto generators = randomGenerators(device);
  for (std::size_t i = 0; i < generators.size(); ++i) {
    std::lock_guard<std::mutex> lock(generators[i].mutex());
    archive_.write(kRandomState + std::to_string(i), generators[i].get_state());
  }
}

std::string CheckpointWriter::save(const std::string& dir, std::int64_t step) {
  fs::create_directories(dir);
  const std::string path = (fs::path(dir) / checkpointFileName(step)).string();
  util::AtomicFile file(path);
  archive_.save_to([&file](const void* data, std::size_t size) {
    file.write(data, size);  // errors surface at commit()
    return size;
  });
  file.commit();
  return path;
}

CheckpointReader::CheckpointReader(const std::string& path) : path_(path) {
  try {
    archive_.load_from(path);
  } catch (const c10::Error& error) {
    throw CheckpointError(fmt::format("{} is not a labrun checkpoint: {}", path,
                                      error.what_without_backtrace()));
  }
}

StateDict CheckpointReader::modelState() {
  torch::serialize::InputArchive model;
  if (!archive_.try_read(kModel, model)) {
    throw CheckpointError(fmt::format(
        "{} is not a labrun checkpoint: it has no '{}' entry", path_, kModel));
  }
  StateDict state;
  flatten(model, "", state);
  return state;
}

void CheckpointReader::loadModel(torch::nn::Module& model) {
  try {
    weights::loadModuleWeights(model, modelState(), path_, "this model",
                               /*rules=*/{});
  } catch (const CheckpointError&) {
    throw;
  } catch (const std::runtime_error& misfit) {
    throw CheckpointError(
        fmt::format("{} is not a labrun checkpoint of this model: {}", path_,
                    misfit.what()));
  }
}

void CheckpointReader::loadOptimizer(torch::optim::Optimizer& optimizer) {
  torch::serialize::InputArchive entries;
  archive_.read(kOptimizer, entries);
  optimizer.load(entries);
}

TrainState CheckpointReader::state() {
  torch::Tensor integers, loss_sum;
  archive_.read(kState, integers);
  archive_.read(kEpochLossSum, loss_sum);
  const auto s = integers.accessor<std::int64_t, 1>();
  TrainState state;
  state.step = s[0];
  state.epoch = s[1];
  state.batches_done = s[2];
  state.epoch_steps = s[3];
  state.epoch_images = s[4];
  state.epoch_loss_sum = loss_sum.item<double>();
  return state;
}

void CheckpointReader::restoreRandomState(torch::Device device) {
  auto generators = randomGenerators(device);
  for (std::size_t i = 0; i < generators.size(); ++i) {
    torch::Tensor state;
    archive_.read(kRandomState + std::to_string(i), state);
    std::lock_guard<std::mutex> lock(generators[i].mutex());
    generators[i].set_state(state);
  }
}

}  // namespace labrun::train
