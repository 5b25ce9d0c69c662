#include "train/Trainer.h"

#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <stdexcept>

#include <fmt/format.h>
#include <torch/torch.h>

namespace labrun::train {
namespace fs = std::filesystem;
namespace {

void fsyncPath(const std::string& path, int flags) {
  const int fd = ::open(path.c_str(), flags);
  if (fd < 0) throw std::runtime_error(path + ": cannot open to sync");
  const int rc = ::fsync(fd);
  ::close(fd);
  if (rc != 0) throw std::runtime_error(path + ": fsync failed");
}

double secondsSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() -
                                       start)
      .count();
}

}  // namespace

void writeFileAtomically(
    const std::string& path,
    const std::function<void(const std::string&)>& write) {
  const std::string tmp = path + ".tmp";
  try {
    write(tmp);
    fsyncPath(tmp, O_RDONLY);
    fs::rename(tmp, path);
  } catch (...) {
    std::error_code ignored;
    fs::remove(tmp, ignored);
    throw;
  }
  // The rename itself must reach the disk before the store points at it.
  fsyncPath(fs::path(path).parent_path().string(), O_RDONLY | O_DIRECTORY);
}

Trainer::Trainer(Model model, std::shared_ptr<Loss> loss,
                 std::vector<NamedMetric> metrics,
                 std::unique_ptr<torch::optim::Optimizer> optimizer,
                 TrainerOptions options, RunRecorder& recorder,
                 std::ostream& log)
    : model_(std::move(model)),
      loss_(std::move(loss)),
      metrics_(std::move(metrics)),
      optimizer_(std::move(optimizer)),
      options_(std::move(options)),
      recorder_(recorder),
      log_(log) {}

void Trainer::fit(data::BatchSource& batches, data::BatchSource& val) {
  const std::int64_t steps_per_epoch = batches.batchesPerEpoch();
  std::int64_t step = 0;
  for (std::int64_t epoch = 1; epoch <= options_.epochs; ++epoch) {
    model_->train();
    batches.startEpoch(epoch, /*skip_batches=*/0);
    const auto start = std::chrono::steady_clock::now();
    double loss_sum = 0;
    std::int64_t images = 0, epoch_steps = 0;
    data::Batch batch;
    while (batches.next(batch)) {
      const torch::Tensor logits =
          model_->forward(batch.images.to(options_.device));
      const torch::Tensor loss =
          loss_->forward(logits, batch.targets.to(options_.device),
                         batch.mask.to(options_.device));
      const double value = loss.item<double>();
      if (!std::isfinite(value)) {
        throw std::runtime_error(
            fmt::format("loss is {} at step {} (epoch {})", value, step + 1,
                        epoch));
      }
      optimizer_->zero_grad();
      loss.backward();
      optimizer_->step();
      ++step;
      ++epoch_steps;
      images += batch.images.size(0);
      loss_sum += value;
      recorder_.metric("train/loss", step, epoch, value);
      if (options_.log_every > 0 && epoch_steps % options_.log_every == 0) {
        log_ << fmt::format("epoch {}/{} step {}/{} loss {:.4f} {:.1f} img/s\n",
                            epoch, options_.epochs, epoch_steps,
                            steps_per_epoch, loss_sum / epoch_steps,
                            images / secondsSince(start));
        recorder_.sync();
      }
    }
    const double epoch_loss = loss_sum / std::max<std::int64_t>(epoch_steps, 1);
    recorder_.metric("train/epoch_loss", step, epoch, epoch_loss);
    recorder_.metric("train/images_per_s", step, epoch,
                     images / secondsSince(start));
    const std::optional<double> tracked = evaluate(val, "val", step, epoch);
    if (options_.save_checkpoints) saveCheckpoint(step, epoch, tracked);
    recorder_.sync();
  }
}

std::optional<double> Trainer::evaluate(data::BatchSource& batches,
                                        const std::string& split,
                                        std::int64_t step, std::int64_t epoch) {
  torch::NoGradGuard no_grad;
  model_->eval();
  for (auto& named : metrics_) named.metric->reset();
  batches.startEpoch(/*epoch=*/1, /*skip_batches=*/0);
  double loss_sum = 0;
  std::int64_t batch_count = 0;
  data::Batch batch;
  while (batches.next(batch)) {
    const torch::Tensor logits = model_->forward(batch.images.to(options_.device));
    const torch::Tensor targets = batch.targets.to(options_.device);
    const torch::Tensor mask = batch.mask.to(options_.device);
    loss_sum += loss_->forward(logits, targets, mask).item<double>();
    ++batch_count;
    const torch::Tensor scores = torch::sigmoid(logits);
    for (auto& named : metrics_) named.metric->update(scores, targets, mask);
  }
  const double loss = loss_sum / std::max<std::int64_t>(batch_count, 1);
  recorder_.metric(split + "/loss", step, epoch, loss);
  std::string line = fmt::format("epoch {} {}: loss {:.4f}", epoch, split, loss);
  std::optional<double> tracked;
  for (const auto& named : metrics_) {
    const MetricResult result = named.metric->compute();
    for (const auto& [name, value] : result.scalars) {
      recorder_.metric(split + "/" + name, step, epoch, value);
      line += fmt::format(" {} {:.2f}", name, value);
      if (!tracked) tracked = value;
    }
    if (!result.per_class.empty()) {
      recorder_.classMetric(epoch, result.per_class_name,
                            batches.classNames(), result);
    }
    for (const auto& note : result.notes) line += " (" + note + ")";
  }
  log_ << line << "\n";
  return tracked;
}

void Trainer::saveCheckpoint(std::int64_t step, std::int64_t epoch,
                             std::optional<double> tracked) {
  fs::create_directories(options_.checkpoint_dir);
  const std::string path =
      (fs::path(options_.checkpoint_dir) / fmt::format("epoch-{:04d}.pt", epoch))
          .string();
  writeFileAtomically(path, [&](const std::string& tmp) {
    torch::serialize::OutputArchive archive, model_archive, optim_archive;
    model_->save(model_archive);
    optimizer_->save(optim_archive);
    archive.write("model", model_archive);
    archive.write("optimizer", optim_archive);
    archive.write("step", torch::tensor(step));
    archive.write("epoch", torch::tensor(epoch));
    archive.save_to(tmp);
  });
  const bool best = tracked && (!best_ || *tracked > *best_);
  if (best) best_ = tracked;
  recorder_.checkpoint(step, epoch, path, tracked, best);
}

}  // namespace labrun::train
