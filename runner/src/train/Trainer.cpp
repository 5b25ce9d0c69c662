#include "train/Trainer.h"

#include <ATen/Context.h>
#include <fmt/format.h>
#include <torch/torch.h>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <map>
#include <stdexcept>

#include "dist/Collective.h"
#include "train/Ema.h"
#include "train/Progress.h"
#include "train/StopSignal.h"
#include "util/AtomicFile.h"

namespace labrun::train {
namespace fs = std::filesystem;
namespace {

double secondsSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() -
                                       start)
      .count();
}

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

torch::Tensor scalarTensor(double value) {
  return torch::tensor(value, torch::kDouble);
}

}  // namespace

void writeFileAtomically(
    const std::string& path,
    const std::function<void(const std::string&)>& write) {
  util::AtomicFile file(path);
  write(file.tmpPath());
  file.commit();
}

namespace {

// Appends the instance label to the keys of a result (NamedMetric::label).
MetricResult labelled(MetricResult result, const std::string& label) {
  if (label.empty()) return result;
  for (auto& scalar : result.scalars) scalar.first += "@" + label;
  if (!result.per_class_name.empty()) result.per_class_name += "@" + label;
  return result;
}

std::string describe(const NamedMetric& named) {
  return named.label.empty()
             ? "'" + named.name + "'"
             : "'" + named.name + "' (label " + named.label + ")";
}

}  // namespace

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
  std::vector<torch::Tensor> rows;
  torch::NoGradGuard no_grad;
  const bool was_training = model->is_training();
  model->eval();
  for (const auto& named : metrics) named.metric->reset();
  batches.startEpoch(/*epoch=*/1, /*skip_batches=*/0);
  EvalResult result;
  double loss_sum = 0;
  std::int64_t count = 0;
  data::Batch batch;
  while ((max_batches < 0 || count < max_batches) && batches.next(batch)) {
    const torch::Tensor logits = model->forward(batch.images.to(device));
    const torch::Tensor targets = batch.targets.to(device);
    const torch::Tensor mask = batch.mask.to(device);
    loss_sum += loss.forward(logits, targets, mask).item<double>();
    ++count;
    if (gather || collect_scores) {
      // Sample indices as float32 are exact below 2^24 images.
      rows.push_back(
          torch::cat({logits.to(torch::kCPU, torch::kFloat), batch.targets,
                      batch.mask, batch.samples.to(torch::kFloat).unsqueeze(1)},
                     1));
    }
    if (gather) continue;
    // Metrics rank logits, as the released SSGRL and ML-GCN evaluations do:
    // float32 probabilities tie at 1 above a logit of about 16.6.
    for (const auto& named : metrics) {
      named.metric->update(logits, targets, mask);
    }
  }
  torch::Tensor table;  // [N, 3K + 1]
  if (gather) {
    const torch::Tensor totals = collective->sum(
        torch::tensor({loss_sum, static_cast<double>(count)}, torch::kDouble));
    loss_sum = totals[0].item<double>();
    count = static_cast<std::int64_t>(totals[1].item<double>());
    const torch::Tensor local =
        rows.empty() ? torch::empty({0, 3 * classes + 1}) : torch::cat(rows);
    table = collective->gatherShards(local, batches.size());
    const auto parts = table.to(device).split(classes, 1);
    for (const auto& named : metrics) {
      named.metric->update(parts[0], parts[1], parts[2]);
    }
  } else if (collect_scores) {
    table =
        rows.empty() ? torch::empty({0, 3 * classes + 1}) : torch::cat(rows);
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
      log_(log) {}

Trainer::~Trainer() = default;

FitEnd Trainer::fit(data::BatchSource& train, data::BatchSource& val,
                    const std::string& resume_from) {
  const std::int64_t micro_per_epoch = train.batchesPerEpoch();
  const std::int64_t accumulate = std::max<std::int64_t>(options_.accumulate, 1);
  const std::int64_t steps_per_epoch =
      (micro_per_epoch + accumulate - 1) / accumulate;
  schedule_ = std::make_unique<LrSchedule>(options_.schedule, steps_per_epoch,
                                           steps_per_epoch * options_.epochs);
  schedule_->attach(*optimizer_);
  if (options_.ema_decay > 0) {
    ema_ = std::make_unique<Ema>(*model_, options_.ema_decay);
  }
  progress_ = std::make_unique<Progress>(log_, options_.terminal,
                                         options_.quiet, options_.log_every,
                                         options_.epochs, steps_per_epoch);
  if (!resume_from.empty()) {
    restore(resume_from);
  } else if (options_.sanity_batches > 0) {
    // A broken validation path fails in seconds, not after an epoch.
    evaluateModel(model_, *loss_, metrics_, val, options_.device,
                  options_.sanity_batches, /*collect_scores=*/false);
  }
  StopSignal stop_signal;
  // Images count for the whole group: every rank reads as many per step.
  const std::int64_t world =
      options_.collective ? options_.collective->worldSize() : 1;
  std::vector<torch::Tensor> parameters;
  for (const auto& p : model_->parameters()) {
    if (p.requires_grad()) parameters.push_back(p);
  }

  while (state_.epoch <= options_.epochs) {
    const std::int64_t epoch = state_.epoch;
    model_->train();
    train.startEpoch(epoch, state_.batches_done);
    progress_->startEpoch(epoch, state_.batches_done / accumulate);
    const auto start = std::chrono::steady_clock::now();
    std::int64_t group_size = 0, in_group = 0, group_images = 0;
    double group_loss = 0;
    data::Batch batch;
    optimizer_->zero_grad();
    while (train.next(batch)) {
      if (in_group == 0) {
        // The epoch's last group may be short: scale by its real size so
        // accumulate N x batch B equals one batch of N x B.
        group_size = std::min(accumulate, micro_per_epoch - state_.batches_done);
      }
      const torch::Tensor logits =
          model_->forward(batch.images.to(options_.device));
      const torch::Tensor loss =
          loss_->forward(logits, batch.targets.to(options_.device),
                         batch.mask.to(options_.device));
      (loss / static_cast<double>(group_size)).backward();
      // Read after backward is queued: on a GPU, reading first would make
      // the host wait for the forward pass before it could issue the
      // backward one. A non-finite loss still stops before any update.
      const double value = loss.item<double>();
      if (!std::isfinite(value)) {
        throw std::runtime_error(fmt::format(
            "loss is {} at step {} (epoch {}); the last good checkpoint is "
            "kept",
            value, state_.step + 1, epoch));
      }
      ++state_.batches_done;
      ++in_group;
      group_loss += value;
      group_images += batch.images.size(0) * world;
      if (in_group < group_size) continue;

      if (options_.collective) {
        options_.collective->averageGradients(parameters);
      }
      if (options_.clip_grad_norm > 0) {
        torch::nn::utils::clip_grad_norm_(parameters, options_.clip_grad_norm);
      }
      schedule_->apply(*optimizer_, state_.step);
      optimizer_->step();
      optimizer_->zero_grad();
      if (ema_) ema_->update();
      ++state_.step;
      double step_loss = group_loss / static_cast<double>(group_size);
      const bool stop = agreeOnStep(step_loss);
      state_.epoch_loss_sum += step_loss;
      ++state_.epoch_steps;
      state_.epoch_images += group_images;
      recorder_.metric("train/loss", state_.step, epoch, step_loss);
      recorder_.metric("train/lr", state_.step, epoch,
                       optimizer_->param_groups().front().options().get_lr());
      progress_->step((state_.batches_done + accumulate - 1) / accumulate,
                      step_loss, group_images);
      in_group = 0;
      group_loss = 0;
      group_images = 0;
      if (options_.log_every > 0 && state_.step % options_.log_every == 0) {
        recorder_.sync();
      }
      const bool periodic = options_.checkpoint_every_steps > 0 &&
                            state_.step % options_.checkpoint_every_steps == 0;
      if (stop || (periodic && state_.batches_done < micro_per_epoch)) {
        if (options_.save_checkpoints) saveCheckpoint(std::nullopt);
        if (stop) {
          progress_->endEpoch();
          recorder_.sync();
          return FitEnd::kStopped;
        }
      }
    }
    progress_->endEpoch();
    recorder_.metric("train/epoch_loss", state_.step, epoch,
                     state_.epoch_loss_sum /
                         std::max<std::int64_t>(state_.epoch_steps, 1));
    recorder_.metric("train/images_per_s", state_.step, epoch,
                     state_.epoch_images / secondsSince(start));
    std::optional<double> tracked;
    if (epoch % std::max<std::int64_t>(options_.eval_every_epochs, 1) == 0 ||
        epoch == options_.epochs) {
      const auto values = evaluate(val, epoch);
      for (const auto& [key, value] : values) schedule_->observe(key, value);
      if (auto it = values.find(options_.best_by); it != values.end()) {
        tracked = it->second;
      }
    }
    // From here the state (and the checkpoint) describes the next epoch.
    state_.epoch = epoch + 1;
    state_.batches_done = 0;
    state_.epoch_loss_sum = 0;
    state_.epoch_steps = 0;
    state_.epoch_images = 0;
    if (options_.save_checkpoints) saveCheckpoint(tracked);
    recorder_.sync();
    double no_loss = 0;
    if (agreeOnStep(no_loss)) return FitEnd::kStopped;
  }
  return FitEnd::kFinished;
}

std::map<std::string, double> Trainer::evaluate(data::BatchSource& val,
                                                std::int64_t epoch) {
  std::map<std::string, double> values;
  auto record = [&](const std::string& split, const EvalResult& result) {
    values[split + "/loss"] = result.loss;
    std::string line = fmt::format("epoch {} {}: loss {:.4f}", epoch, split,
                                   result.loss);
    for (const auto& [name, metric] : result.metrics) {
      for (const auto& [key, value] : metric.scalars) {
        values[split + "/" + key] = value;
        line += fmt::format(" {} {:.2f}", key, value);
      }
      if (!metric.per_class.empty() && split == "val") {
        recorder_.classMetric(epoch, metric.per_class_name, val.classNames(),
                              metric);
      }
      for (const auto& note : metric.notes) line += " (" + note + ")";
    }
    progress_->line(line);
  };
  record("val", evaluateModel(model_, *loss_, metrics_, val, options_.device,
                              /*max_batches=*/-1, /*collect_scores=*/false,
                              options_.collective));
  if (ema_) {
    ema_->swap();
    record("val_ema",
           evaluateModel(model_, *loss_, metrics_, val, options_.device,
                         /*max_batches=*/-1,
                         /*collect_scores=*/false, options_.collective));
    ema_->swap();
  }
  for (const auto& [key, value] : values) {
    recorder_.metric(key, state_.step, epoch, value);
  }
  return values;
}

bool Trainer::agreeOnStep(double& loss) {
  const bool stop = StopSignal::requested();
  if (!options_.collective) return stop;
  // One small all-reduce per step carries both.
  const torch::Tensor totals = options_.collective->sum(
      torch::tensor({loss, stop ? 1.0 : 0.0}, torch::kDouble));
  loss = totals[0].item<double>() / options_.collective->worldSize();
  return totals[1].item<double>() > 0;
}

void Trainer::saveCheckpoint(std::optional<double> tracked) {
  fs::create_directories(options_.checkpoint_dir);
  const std::string path =
      (fs::path(options_.checkpoint_dir) /
       fmt::format("step-{:08d}.pt", state_.step))
          .string();
  const bool best = tracked && (!state_.best || (options_.best_max
                                                     ? *tracked > *state_.best
                                                     : *tracked < *state_.best));
  if (best) state_.best = tracked;
  util::AtomicFile file(path);
  torch::serialize::OutputArchive archive, model, optimizer, schedule, ema;
  model_->save(model);
  optimizer_->save(optimizer);
  schedule_->save(schedule);
  archive.write("model", model);
  archive.write("optimizer", optimizer);
  archive.write("schedule", schedule);
  if (ema_) {
    ema_->save(ema);
    archive.write("ema", ema);
  }
  archive.write("state",
                torch::tensor({state_.step, state_.epoch, state_.batches_done,
                               state_.epoch_steps, state_.epoch_images},
                              torch::kLong));
  archive.write("epoch_loss_sum", scalarTensor(state_.epoch_loss_sum));
  if (state_.best) archive.write("best", scalarTensor(*state_.best));
  auto generators = randomGenerators(options_.device);
  for (std::size_t i = 0; i < generators.size(); ++i) {
    std::lock_guard<std::mutex> lock(generators[i].mutex());
    archive.write("rng" + std::to_string(i), generators[i].get_state());
  }
  archive.save_to([&file](const void* data, std::size_t size) {
    file.write(data, size);  // errors surface at commit()
    return size;
  });
  file.commit();
  // What was logged up to this state is stored before the checkpoint that
  // resumes after it: a crash in between would lose it for good (found by
  // the kill tests).
  recorder_.sync();
  // The epoch that produced this state (an epoch-end save has moved on).
  const std::int64_t epoch =
      state_.batches_done == 0 ? state_.epoch - 1 : state_.epoch;
  recorder_.checkpoint(state_.step, epoch, path, tracked, best);
}

void Trainer::restore(const std::string& path) {
  torch::serialize::InputArchive archive, model, optimizer, schedule;
  archive.load_from(path);
  archive.read("model", model);
  model_->load(model);
  archive.read("optimizer", optimizer);
  optimizer_->load(optimizer);
  archive.read("schedule", schedule);
  schedule_->load(schedule);
  if (ema_) {
    torch::serialize::InputArchive ema;
    if (!archive.try_read("ema", ema)) {
      throw std::runtime_error(path + ": no weight average (ema) saved");
    }
    ema_->load(ema);
  }
  torch::Tensor state, loss_sum, best;
  archive.read("state", state);
  const auto s = state.accessor<std::int64_t, 1>();
  state_.step = s[0];
  state_.epoch = s[1];
  state_.batches_done = s[2];
  state_.epoch_steps = s[3];
  state_.epoch_images = s[4];
  archive.read("epoch_loss_sum", loss_sum);
  state_.epoch_loss_sum = loss_sum.item<double>();
  if (archive.try_read("best", best)) state_.best = best.item<double>();
  auto generators = randomGenerators(options_.device);
  for (std::size_t i = 0; i < generators.size(); ++i) {
    torch::Tensor rng;
    archive.read("rng" + std::to_string(i), rng);
    std::lock_guard<std::mutex> lock(generators[i].mutex());
    generators[i].set_state(rng);
  }
}

}  // namespace labrun::train
