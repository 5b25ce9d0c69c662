#include "train/Trainer.h"

#include <fmt/format.h>
#include <torch/torch.h>

#include <chrono>
#include <cmath>
#include <map>
#include <stdexcept>

#include "dist/Collective.h"
#include "train/CheckpointFile.h"
#include "train/DefaultStages.h"
#include "util/AtomicFile.h"
#include "util/DeviceMemory.h"
#include "util/ProcessMemory.h"

namespace labrun::train {
namespace {

double secondsSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
      .count();
}

struct DeviceBatch {
  torch::Tensor images, targets, mask;
};

// Copies that do not wait: batch sources pin their batches when CUDA is
// present, and a blocking copy to the GPU synchronises the stream (the host
// would wait for all the work queued before it, every micro-batch).
DeviceBatch onDevice(const data::Batch& batch, torch::Device device) {
  return {batch.images.to(device, /*non_blocking=*/true),
          batch.targets.to(device, /*non_blocking=*/true),
          batch.mask.to(device, /*non_blocking=*/true)};
}

}  // namespace

void writeFileAtomically(const std::string& path,
                         const std::function<void(const std::string&)>& write) {
  util::AtomicFile file(path);
  write(file.tmpPath());
  file.commit();
}

namespace {

// A metric's name as an instance with `label` records it (NamedMetric).
std::string labelledName(const std::string& name, const std::string& label) {
  return label.empty() ? name : name + "@" + label;
}

// Appends the instance label to the keys of a result (NamedMetric::label).
MetricResult labelled(MetricResult result, const std::string& label) {
  for (auto& scalar : result.scalars) {
    scalar.first = labelledName(scalar.first, label);
  }
  if (!result.per_class_name.empty()) {
    result.per_class_name = labelledName(result.per_class_name, label);
  }
  return result;
}

// A value's key for the stages and the store: "<split>/<name>".
std::string splitKey(const std::string& split, const std::string& name) {
  return split + "/" + name;
}

// Adds the loss and the scalars of `result` as "<split>/<key>".
void addValues(const std::string& split, const EvalResult& result,
               Metrics& values) {
  values[splitKey(split, "loss")] = result.loss;
  for (const auto& [name, metric] : result.metrics) {
    for (const auto& [key, value] : metric.scalars) {
      values[splitKey(split, key)] = value;
    }
  }
}

std::string describe(const NamedMetric& named) {
  return named.label.empty()
             ? "'" + named.name + "'"
             : "'" + named.name + "' (label " + named.label + ")";
}

}  // namespace

std::optional<std::vector<std::string>> validationKeys(
    const std::vector<NamedMetric>& metrics, bool ema) {
  std::vector<std::string> names = {"loss"};
  for (const auto& named : metrics) {
    const std::vector<std::string> keys = named.metric->keys();
    if (keys.empty()) return std::nullopt;
    for (const std::string& key : keys) {
      names.push_back(labelledName(key, named.label));
    }
  }
  std::vector<std::string> splits = {"val"};
  // EmaStage evaluates the averaged weights as "val_ema".
  if (ema) splits.push_back("val_ema");
  std::vector<std::string> values;
  for (const std::string& split : splits) {
    for (const std::string& name : names) {
      values.push_back(splitKey(split, name));
    }
  }
  return values;
}

EvalResult evaluateModel(Model& model, Loss& loss,
                         const std::vector<NamedMetric>& metrics,
                         data::BatchSource& batches, torch::Device device,
                         std::int64_t max_batches, bool collect_scores,
                         dist::Collective* collective) {
  // A data-parallel pass gathers [logits | targets | mask | sample] rows of
  // every rank, so that metrics see the whole set once (never a mean of
  // per-rank values); a pass that collects scores keeps the same rows.
  const bool gather = collective != nullptr && max_batches < 0;
  const auto classes = static_cast<std::int64_t>(batches.classNames().size());
  // Each row's logits stay on the device ([B, K] a batch); the rest, the
  // batch's targets, mask and sample ([B, 2K + 1]), is on the CPU already.
  std::vector<torch::Tensor> logit_rows, host_rows;
  torch::NoGradGuard no_grad;
  if (gather) {
    // Rank 0's buffers (BatchNorm's running statistics, which each rank
    // updates from its own batches), as its checkpoints hold them: every
    // rank evaluates the model that is saved, and a resumed run evaluates
    // as the uninterrupted one did.
    collective->broadcast(model->buffers());
  }
  const bool was_training = model->is_training();
  model->eval();
  for (const auto& named : metrics) named.metric->reset();
  batches.startEpoch(/*epoch=*/1, /*skip_batches=*/0);
  EvalResult result;
  // Nothing in the pass waits for the device: the loss is summed where it
  // is computed, the logits stay there, and so do what metrics accumulate
  // (AccumulatingMetric), until the pass ends.
  torch::Tensor loss_total =
      torch::zeros({}, torch::TensorOptions(torch::kDouble).device(device));
  std::int64_t count = 0;
  data::Batch batch;
  while ((max_batches < 0 || count < max_batches) && batches.next(batch)) {
    const DeviceBatch on = onDevice(batch, device);
    const torch::Tensor logits = model->forward(on.images);
    loss_total += loss.forward(logits, on.targets, on.mask).to(torch::kDouble);
    ++count;
    if (gather || collect_scores) {
      logit_rows.push_back(logits.to(torch::kFloat));
      // Sample indices as float32 are exact below 2^24 images.
      host_rows.push_back(
          torch::cat({batch.targets, batch.mask,
                      batch.samples.to(torch::kFloat).unsqueeze(1)},
                     1));
    }
    if (gather) continue;
    // Metrics rank logits, as the released SSGRL and ML-GCN evaluations do:
    // float32 probabilities tie at 1 above a logit of about 16.6.
    for (const auto& named : metrics) {
      named.metric->update(logits, on.targets, on.mask);
    }
  }
  double loss_sum = loss_total.item<double>();
  torch::Tensor table;  // [N, 3K + 1] on the CPU
  if (gather || collect_scores) {
    table = logit_rows.empty()
                ? torch::empty({0, 3 * classes + 1})
                : torch::cat({torch::cat(logit_rows).to(torch::kCPU),
                              torch::cat(host_rows)},
                             1);
  }
  if (gather) {
    const torch::Tensor totals = collective->sum(
        torch::tensor({loss_sum, static_cast<double>(count)}, torch::kDouble));
    loss_sum = totals[0].item<double>();
    count = static_cast<std::int64_t>(totals[1].item<double>());
    table = collective->gatherShards(table, batches.size());
    const auto parts = table.to(device).split(classes, 1);
    for (const auto& named : metrics) {
      named.metric->update(parts[0], parts[1], parts[2]);
    }
  }
  result.loss = loss_sum / std::max<std::int64_t>(count, 1);
  // Each key is recorded once: a second metric reporting it is an error,
  // never a silent overwrite.
  std::map<std::string, const NamedMetric*> reported_by;
  for (const auto& named : metrics) {
    MetricResult values = labelled(named.metric->compute(), named.label);
    std::vector<std::string> keys;
    for (const auto& scalar : values.scalars) keys.push_back(scalar.first);
    if (!values.per_class_name.empty()) {
      keys.push_back("per-class " + values.per_class_name);
    }
    for (const auto& key : keys) {
      const auto [first, added] = reported_by.emplace(key, &named);
      if (!added) {
        throw std::runtime_error(fmt::format(
            "metrics {} and {} both report {}; give one of them a `label:` "
            "in the spec's metrics list",
            describe(*first->second), describe(named), key));
      }
    }
    result.metrics.emplace_back(named.name, std::move(values));
  }
  if (collect_scores) {
    const auto parts = table.split(classes, 1);
    result.logits = parts[0];
    result.targets = parts[1];
    result.mask = parts[2];
    result.samples = parts[3].squeeze(1).to(torch::kLong).contiguous();
  }
  model->train(was_training);
  return result;
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
      log_(log) {
  if (options_.loss_scaling) scaler_.emplace(*options_.loss_scaling);
}

Trainer::~Trainer() = default;

void Trainer::addStage(std::unique_ptr<TrainStage> stage) {
  stages_.push_back(std::move(stage));
}

FitEnd Trainer::fit(data::BatchSource& train, data::BatchSource& val,
                    std::unique_ptr<CheckpointReader> resume_from) {
  // Evaluations included: fp32 means no TF32 on CUDA either.
  applyMathMode(options_.precision, options_.device);
  const std::int64_t micro_per_epoch = train.batchesPerEpoch();
  accumulate_ = std::max<std::int64_t>(options_.accumulate, 1);
  steps_per_epoch_ = (micro_per_epoch + accumulate_ - 1) / accumulate_;
  val_ = &val;
  {
    // The standard stages come first, then those added.
    auto stages = makeStages(*this);
    for (auto& added : stages_) stages.push_back(std::move(added));
    stages_ = std::move(stages);
  }
  Metrics sanity;
  if (resume_from) {
    restore(*resume_from);
    resume_from.reset();
  } else if (options_.sanity_batches > 0) {
    // A broken validation path fails in seconds, not after an epoch.
    addValues("val",
              evaluateModel(model_, *loss_, metrics_, val, options_.device,
                            options_.sanity_batches, /*collect_scores=*/false),
              sanity);
  }
  for (auto& stage : stages_) stage->beforeRun(*this, sanity);
  // Images count for the whole group: every rank reads as many per step.
  const std::int64_t world =
      options_.collective ? options_.collective->worldSize() : 1;
  std::vector<torch::Tensor> parameters;
  for (const auto& p : model_->parameters()) {
    if (p.requires_grad()) parameters.push_back(p);
  }

  while (!stop_ && state_.epoch <= options_.epochs) {
    const std::int64_t epoch = state_.epoch;
    model_->train();
    train.startEpoch(epoch, state_.batches_done);
    for (auto& stage : stages_) stage->beforeEpoch(*this);
    const auto start = std::chrono::steady_clock::now();
    // Images this process trained on in the epoch: a resumed epoch's count
    // (from the checkpoint) includes the killed process's, its clock not.
    const std::int64_t images_before = state_.epoch_images;
    std::int64_t group_size = 0, in_group = 0, group_images = 0;
    // The group's summed loss stays on the device (float64, so the sum is
    // that of the values read) until its host copy is queued.
    torch::Tensor group_loss;
    data::Batch batch;
    optimizer_->zero_grad();
    // Time spent waiting for the loader: its share of the epoch tells
    // whether the input pipeline or the model bounds the speed.
    double loader_wait_s = 0;
    while (true) {
      const auto asked = std::chrono::steady_clock::now();
      if (!train.next(batch)) break;
      loader_wait_s += secondsSince(asked);
      if (in_group == 0) {
        // The epoch's last group may be short: scale by its real size so
        // accumulate N x batch B equals one batch of N x B.
        group_size =
            std::min(accumulate_, micro_per_epoch - state_.batches_done);
      }
      const DeviceBatch on = onDevice(batch, options_.device);
      const torch::Tensor logits = trainingLogits(
          model_, on.images, options_.precision, options_.device);
      const torch::Tensor loss = loss_->forward(logits, on.targets, on.mask);
      const torch::Tensor part = loss / static_cast<double>(group_size);
      const torch::Tensor value = loss.detach().to(torch::kDouble);
      group_loss = group_loss.defined() ? group_loss + value : value;
      const bool group_done = in_group + 1 == group_size;
      // Queued ahead of backward, the copy waits for this forward pass only.
      if (group_done) loss_readback_.queue(group_loss);
      if (options_.collective && group_done) {
        options_.collective->prepareBackward(parameters);
      }
      (scaler_ ? scaler_->scale(part) : part).backward();
      ++state_.batches_done;
      ++in_group;
      group_images += batch.images.size(0) * world;
      if (!group_done) continue;

      if (options_.collective) {
        options_.collective->averageGradients(parameters);
      }
      // Loss scaling must know now whether the step is finite (its check
      // of the gradients waits for the device anyway). Otherwise the loss
      // is read once the update is queued: on a GPU the host then waits
      // for the group's last forward pass only, while the device works
      // through the step's backward pass and update.
      double loss_sum = scaler_ ? loss_readback_.read() : 0;
      const bool update =
          !scaler_ ||
          unscaleGradients(parameters, std::isfinite(loss_sum), epoch);
      if (update && options_.clip_grad_norm > 0) {
        torch::nn::utils::clip_grad_norm_(parameters, options_.clip_grad_norm);
      }
      for (auto& stage : stages_) stage->beforeUpdate(*this);
      // A skipped step still counts: the schedule and the data order stay
      // those of the uninterrupted run.
      if (update) optimizer_->step();
      optimizer_->zero_grad();
      ++state_.step;
      if (!scaler_) {
        loss_sum = loss_readback_.read();
        // The update is made, but no stage has seen it: the run stops
        // before a checkpoint could keep it.
        if (!std::isfinite(loss_sum)) {
          throw std::runtime_error(fmt::format(
              "loss is {} at step {} (epoch {}); the run stops before a "
              "checkpoint holds this update",
              loss_sum, state_.step, epoch));
        }
      }
      for (auto& stage : stages_) stage->afterUpdate(*this);
      StepEnd step;
      step.loss = loss_sum / static_cast<double>(group_size);
      agree(step.loss);
      state_.epoch_images += group_images;
      if (std::isfinite(step.loss)) {
        state_.epoch_loss_sum += step.loss;
        ++state_.epoch_steps;
        recorder_.metric("train/loss", state_.step, epoch, step.loss);
      }
      if (scaler_) {
        recorder_.metric("train/loss_scale", state_.step, epoch,
                         scaler_->currentScale());
      }
      recorder_.metric("train/lr", state_.step, epoch,
                       optimizer_->param_groups().front().options().get_lr());
      step.step_in_epoch =
          (state_.batches_done + accumulate_ - 1) / accumulate_;
      step.images = group_images;
      step.epoch_done = state_.batches_done >= micro_per_epoch;
      in_group = 0;
      group_loss = torch::Tensor();
      group_images = 0;
      for (auto& stage : stages_) stage->afterStep(*this, step);
      if (stop_) {
        for (auto& stage : stages_) stage->afterTrainSteps(*this);
        recorder_.sync();
        return *stop_;
      }
    }
    for (auto& stage : stages_) stage->afterTrainSteps(*this);
    recorder_.metric(
        "train/epoch_loss", state_.step, epoch,
        state_.epoch_loss_sum / std::max<std::int64_t>(state_.epoch_steps, 1));
    const double epoch_s = secondsSince(start);
    recorder_.metric(
        "train/images_per_s", state_.step, epoch,
        static_cast<double>(state_.epoch_images - images_before) / epoch_s);
    recorder_.metric("train/loader_wait_frac", state_.step, epoch,
                     loader_wait_s / epoch_s);
    recorder_.metric("train/peak_rss_mib", state_.step, epoch,
                     util::peakRssMiB());
    if (const auto peak = util::devicePeakMemory(options_.device)) {
      recorder_.metric("train/peak_device_mib", state_.step, epoch,
                       peak->allocated_mib);
    }
    Metrics values;
    if (epoch % std::max<std::int64_t>(options_.eval_every_epochs, 1) == 0 ||
        epoch == options_.epochs) {
      values = validate(epoch);
    }
    // From here the state (and the checkpoint) describes the next epoch.
    state_.epoch = epoch + 1;
    state_.batches_done = 0;
    state_.epoch_loss_sum = 0;
    state_.epoch_steps = 0;
    state_.epoch_images = 0;
    for (auto& stage : stages_) stage->afterEpoch(*this, values);
    recorder_.sync();
    double no_loss = 0;
    agree(no_loss);
  }
  return stop_ ? *stop_ : FitEnd::kFinished;
}

Metrics Trainer::validate(std::int64_t epoch) {
  Metrics values;
  const auto start = std::chrono::steady_clock::now();
  evaluate("val", values);
  recorder_.metric("train/val_images_per_s", state_.step, epoch,
                   static_cast<double>(val_->size()) / secondsSince(start));
  for (auto& stage : stages_) stage->validate(*this, values);
  for (const auto& [key, value] : values) {
    recorder_.metric(key, state_.step, epoch, value);
  }
  return values;
}

void Trainer::evaluate(const std::string& split, Metrics& values) {
  const EvalResult result = evaluateModel(
      model_, *loss_, metrics_, *val_, options_.device,
      /*max_batches=*/-1, /*collect_scores=*/false, options_.collective);
  addValues(split, result, values);
  std::string line =
      fmt::format("epoch {} {}: loss {:.4f}", state_.epoch, split, result.loss);
  for (const auto& [name, metric] : result.metrics) {
    for (const auto& [key, value] : metric.scalars) {
      line += fmt::format(" {} {:.2f}", key, value);
    }
    if (!metric.per_class.empty() && split == "val") {
      recorder_.classMetric(state_.epoch, metric.per_class_name,
                            val_->classNames(), metric);
    }
    for (const auto& note : metric.notes) line += " (" + note + ")";
  }
  log_ << line << "\n" << std::flush;
}

bool Trainer::unscaleGradients(const std::vector<torch::Tensor>& parameters,
                               bool loss_finite, std::int64_t epoch) {
  bool finite = scaler_->unscale(parameters) && loss_finite;
  if (options_.collective) {
    // A loss that overflowed on one rank skips the step on every rank.
    finite = options_.collective
                 ->sum(torch::tensor(finite ? 0.0 : 1.0, torch::kDouble))
                 .item<double>() == 0;
  }
  if (!scaler_->update(finite)) {
    throw std::runtime_error(fmt::format(
        "loss scale fell below 1 at step {} (epoch {}): the gradients are "
        "not finite even unscaled, so the run diverges (not an fp16 "
        "overflow); the run stops before a checkpoint holds this step",
        state_.step + 1, epoch));
  }
  return finite;
}

void Trainer::requestStop(FitEnd end, const std::string& reason) {
  if (stop_) return;
  stop_ = end;
  stop_reason_ = reason;
}

void Trainer::agree(double& loss) {
  if (!options_.collective) return;
  // One small all-reduce per step carries both.
  const torch::Tensor totals = options_.collective->sum(
      torch::tensor({loss, stop_ ? 1.0 : 0.0}, torch::kDouble));
  loss = totals[0].item<double>() / options_.collective->worldSize();
  if (totals[1].item<double>() > 0) {
    requestStop(FitEnd::kStopped,
                fmt::format("stopped by a signal to another rank at step {}",
                            state_.step));
  }
}

std::string Trainer::writeCheckpoint() {
  CheckpointWriter checkpoint(*model_, *optimizer_, state_, options_.device);
  for (const auto& stage : stages_) stage->save(checkpoint.archive());
  if (scaler_) scaler_->save(checkpoint.archive());
  return checkpoint.save(options_.checkpoint_dir, state_.step);
}

void Trainer::restore(CheckpointReader& checkpoint) {
  checkpoint.loadModel(*model_);
  checkpoint.loadOptimizer(*optimizer_);
  try {
    for (auto& stage : stages_) stage->load(checkpoint.archive());
    if (scaler_) scaler_->load(checkpoint.archive());
  } catch (const std::runtime_error& missing) {
    throw std::runtime_error(checkpoint.path() + ": " + missing.what());
  }
  state_ = checkpoint.state();
  checkpoint.restoreRandomState(options_.device);
}

}  // namespace labrun::train
