#include <fmt/format.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "data/SyntheticDataset.h"
#include "fixtures/ErrorOf.h"
#include "plugins/PluginHost.h"
#include "spec/Schema.h"
#include "spec/SpecError.h"
#include "spec/SpecLoader.h"
#include "train/CheckpointFile.h"
#include "train/CoreSchema.h"
#include "train/Ema.h"
#include "train/ExperimentOptions.h"
#include "train/LrSchedule.h"
#include "train/Optimizers.h"
#include "train/Progress.h"
#include "train/Trainer.h"
#include "train/Transfer.h"
#include "util/AtomicFile.h"
#include "util/IoFault.h"
#include "util/ProcessMemory.h"
#include "util/Sha256.h"

namespace labrun::train {
namespace {

using fixtures::errorOf;

OptimizerOptions adam(double lr) {
  OptimizerOptions options;
  options.lr = lr;
  return options;
}

namespace fs = std::filesystem;

std::string readFile(const std::string& path) {
  std::ifstream in(path);
  return {std::istreambuf_iterator<char>(in), {}};
}

TEST(PeakRss, MatchesTheKernelAndGrowsWithTouchedMemory) {
  const double before = util::peakRssMiB();
  EXPECT_GT(before, 0.0);
  EXPECT_LE(before, util::procStatusMiB("VmHWM").value() + 1.0);
  // Touching 64 MiB more than the gap between the peak and the resident
  // set now must raise the peak by about 64 MiB.
  const double extra = before - util::procStatusMiB("VmRSS").value() + 64.0;
  std::vector<char> block(static_cast<std::size_t>(extra * 1024 * 1024), 1);
  const double after = util::peakRssMiB();
  EXPECT_GT(after, before + 56.0) << "touched " << extra << " MiB";
  EXPECT_NEAR(after, util::procStatusMiB("VmHWM").value(), 1.0);
  EXPECT_EQ(block.back(), 1);
}

TEST(WriteFileAtomically, FailedWriteKeepsPreviousFile) {
  const std::string dir = ::testing::TempDir() + "/atomic";
  fs::create_directories(dir);
  const std::string path = dir + "/ckpt.pt";
  writeFileAtomically(
      path, [](const std::string& tmp) { std::ofstream(tmp) << "first"; });
  EXPECT_EQ(readFile(path), "first");
  EXPECT_THROW(writeFileAtomically(path,
                                   [](const std::string& tmp) {
                                     std::ofstream(tmp) << "half";
                                     throw std::runtime_error("disk full");
                                   }),
               std::runtime_error);
  EXPECT_EQ(readFile(path), "first");
  EXPECT_EQ(std::distance(fs::directory_iterator(dir), {}), 1);
}

// Each writer has a temporary of its own: a user's "<file>.tmp" is not
// replaced, and two writers of one file at once do not mix their bytes.
TEST(WriteFileAtomically, EachWriterHasItsOwnTemporary) {
  const std::string dir = ::testing::TempDir() + "/atomic_own";
  fs::remove_all(dir);
  fs::create_directories(dir);
  const std::string path = dir + "/scores.npy";
  std::ofstream(path + ".tmp") << "mine";
  util::AtomicFile first(path), second(path);
  EXPECT_NE(first.tmpPath(), second.tmpPath());
  EXPECT_EQ(first.tmpPath().rfind(util::temporaryPrefix(path), 0), 0u);
  first.write("first", 5);
  second.write("second", 6);
  second.commit();
  EXPECT_EQ(readFile(path), "second");
  first.commit();
  EXPECT_EQ(readFile(path), "first");
  EXPECT_EQ(readFile(path + ".tmp"), "mine");
  EXPECT_EQ(std::distance(fs::directory_iterator(dir), {}), 2);
}

// Resume removes what a writer killed mid-checkpoint left, and nothing else.
TEST(CheckpointFile, UnfinishedCheckpointsAreRemoved) {
  const fs::path dir = ::testing::TempDir() + "/unfinished";
  fs::remove_all(dir);
  fs::create_directories(dir);
  const std::vector<std::string> kept{checkpointFileName(4),
                                      checkpointFileName(4) + ".tmp",
                                      "notes.pt.tmp.12.0",
                                      "step-.pt.tmp.12.0",
                                      "step-0004x.pt.tmp.1.0",
                                      checkpointFileName(4) + ".tmp.bak",
                                      checkpointFileName(4) + ".tmp.1.x"};
  const std::vector<std::string> left{
      util::temporaryPrefix(checkpointFileName(8)) + "4242.0",
      util::temporaryPrefix(checkpointFileName(123456789)) + "7.3"};
  for (const auto& names : {kept, left}) {
    for (const auto& name : names) std::ofstream(dir / name) << name;
  }
  EXPECT_EQ(removeUnfinishedCheckpoints(dir.string()), left.size());
  std::set<std::string> now;
  for (const auto& entry : fs::directory_iterator(dir)) {
    now.insert(entry.path().filename().string());
  }
  EXPECT_EQ(now, std::set<std::string>(kept.begin(), kept.end()));
  EXPECT_EQ(removeUnfinishedCheckpoints((dir / "absent").string()), 0u);
}

TEST(SyntheticDataset, DeterministicAndCorrelated) {
  data::SyntheticOptions options;
  options.size = 2000;
  const auto a = data::makeSyntheticDataset(options);
  const auto b = data::makeSyntheticDataset(options);
  EXPECT_TRUE(torch::equal(a.images, b.images));
  EXPECT_TRUE(torch::equal(a.targets, b.targets));
  options.seed += 1;
  EXPECT_FALSE(
      torch::equal(a.targets, data::makeSyntheticDataset(options).targets));

  // Scene partners co-occur: P(class 1 | class 0) far above P(class 1).
  const auto t = a.targets;
  const double p1 = t.select(1, 1).mean().item<double>();
  const auto has0 = t.select(1, 0) > 0.5;
  const double p1_given_0 =
      t.select(1, 1).masked_select(has0).mean().item<double>();
  EXPECT_GT(p1_given_0, 2 * p1);
  EXPECT_EQ(a.images.sizes(), (std::vector<std::int64_t>{2000, 3, 32, 32}));
}

class Recorder : public RunRecorder {
 public:
  void metric(const std::string& key, std::int64_t, std::int64_t,
              double value) override {
    values[key].push_back(value);
  }
  void classMetric(std::int64_t, const std::string&,
                   const std::vector<std::string>&,
                   const MetricResult&) override {
    ++class_metric_calls;
  }
  void checkpoint(std::int64_t, std::int64_t epoch, const std::string& path,
                  std::optional<double>, bool best) override {
    checkpoints.push_back({epoch, path, best});
  }
  void sync() override {}

  struct Saved {
    std::int64_t epoch;
    std::string path;
    bool best;
  };
  std::map<std::string, std::vector<double>> values;
  std::vector<Saved> checkpoints;
  int class_metric_calls = 0;
  FitEnd end = FitEnd::kFinished;
  std::string stop_reason;
};

class TrainerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    host_.loadDirectories({LABRUN_PLUGIN_DIR});
    data::SyntheticOptions options;
    options.size = 384;
    train_ = data::makeSyntheticDataset(options);
    options.size = 256;
    options.seed += 1;
    val_ = data::makeSyntheticDataset(options);
  }

  struct Setup {
    std::uint64_t seed = 1;
    std::int64_t epochs = 1;
    std::int64_t batch_size = 32;
    bool batch_norm = true;
    std::string checkpoint_dir;  // empty: no checkpoints
    std::int64_t every_steps = 0;
    std::string freeze;  // optim.freeze prefix
    OptimizerOptions optimizer = adam(/*lr=*/0.003);
    std::shared_ptr<Loss> loss;      // default: the bce plugin
    std::shared_ptr<Metric> metric;  // default: the map plugin
    std::function<void(TrainerOptions&)> adjust;
    bool channels_last = false;                 // model.memory_format
    std::string resume_from;                    // a checkpoint to continue from
    std::function<void(Trainer&)> prepare;      // e.g. adds stages
    std::chrono::milliseconds loader_delay{0};  // before each train batch
  };

  // A loader that takes `delay` to produce each batch of `source`.
  class SlowSource : public data::BatchSource {
   public:
    SlowSource(data::BatchSource& source, std::chrono::milliseconds delay)
        : source_(source), delay_(delay) {}
    void startEpoch(std::int64_t epoch, std::int64_t skip) override {
      source_.startEpoch(epoch, skip);
    }
    bool next(data::Batch& batch) override {
      if (!source_.next(batch)) return false;
      std::this_thread::sleep_for(delay_);
      return true;
    }
    std::int64_t batchesPerEpoch() const override {
      return source_.batchesPerEpoch();
    }
    std::int64_t size() const override { return source_.size(); }
    const std::vector<std::string>& classNames() const override {
      return source_.classNames();
    }
    std::string sampleName(std::int64_t index) const override {
      return source_.sampleName(index);
    }

   private:
    data::BatchSource& source_;
    std::chrono::milliseconds delay_;
  };

  // Builds smallconv + fc from the real plugins and trains it.
  Recorder train(const Setup& setup, Model* trained = nullptr) {
    torch::manual_seed(setup.seed);
    ModelContext context;
    context.num_classes = train_.numClasses();
    context.class_names = train_.class_names;
    auto backbone = host_.makeBackbone(
        "smallconv",
        Params({{"channels", std::vector<std::int64_t>{8, 16}},
                {"batch_norm", setup.batch_norm}}),
        context);
    context.in_channels = backbone->outChannels();
    auto head = host_.makeHead(
        "fc", host_.defaultParams(PluginKind::kHead, "fc"), context);
    Model model(backbone, head);
    if (setup.channels_last) {
      model->setMemoryFormat(torch::MemoryFormat::ChannelsLast);
    }
    auto loss = setup.loss ? setup.loss
                           : host_.makeLoss(
                                 "bce", Params({{"pos_weight", 1.0}}), context);
    auto metric =
        setup.metric
            ? setup.metric
            : host_.makeMetric(
                  "map", Params({{"ap", std::string("voc_interpolated")}}),
                  context);
    TrainerOptions options;
    options.epochs = setup.epochs;
    options.log_every = 0;
    options.quiet = true;
    options.save_checkpoints = !setup.checkpoint_dir.empty();
    options.checkpoint_dir = setup.checkpoint_dir;
    options.checkpoint_every_steps = setup.every_steps;
    if (setup.adjust) setup.adjust(options);
    OptimizerOptions optim = setup.optimizer;
    if (!setup.freeze.empty()) optim.freeze = {{setup.freeze, "test"}};
    Recorder recorder;
    std::ostringstream log;
    Trainer trainer(model, loss, {{"map", metric}}, makeOptimizer(optim, model),
                    options, recorder, log);
    data::BatchIterator train_batches(train_, setup.batch_size,
                                      /*shuffle=*/true, setup.seed);
    data::BatchIterator val_batches(val_, /*batch_size=*/32,
                                    /*shuffle=*/false, setup.seed);
    if (setup.prepare) setup.prepare(trainer);
    SlowSource slow_batches(train_batches, setup.loader_delay);
    recorder.end = trainer.fit(
        slow_batches, val_batches,
        setup.resume_from.empty()
            ? nullptr
            : std::make_unique<CheckpointReader>(setup.resume_from));
    recorder.stop_reason = trainer.stopReason();
    if (trained != nullptr) *trained = model;
    return recorder;
  }

  Recorder train(std::uint64_t seed, std::int64_t epochs,
                 const std::string& checkpoint_dir = "") {
    Setup setup;
    setup.seed = seed;
    setup.epochs = epochs;
    setup.checkpoint_dir = checkpoint_dir;
    return train(setup);
  }

  plugins::PluginHost host_;
  data::TensorDataset train_, val_;
};

TEST_F(TrainerTest, SameSeedSameLosses) {
  const auto a = train(/*seed=*/5, /*epochs=*/1);
  const auto b = train(/*seed=*/5, /*epochs=*/1);
  EXPECT_EQ(a.values.at("train/loss"), b.values.at("train/loss"));
  const auto c = train(/*seed=*/6, /*epochs=*/1);
  EXPECT_NE(a.values.at("train/loss"), c.values.at("train/loss"));
}

TEST_F(TrainerTest, LearnsAboveChanceAndCheckpointsEveryEpoch) {
  const std::string dir = ::testing::TempDir() + "/trainer_ckpt";
  fs::remove_all(dir);
  const auto recorder = train(/*seed=*/1, /*epochs=*/3, dir);
  const auto& map = recorder.values.at("val/mAP");
  ASSERT_EQ(map.size(), 3u);
  // Chance mAP equals the mean class prevalence (about 26% here).
  const double chance = 100.0 * val_.targets.mean().item<double>();
  EXPECT_GT(map.back(), chance + 25.0) << "chance " << chance;
  const auto& losses = recorder.values.at("train/epoch_loss");
  EXPECT_LT(losses.back(), losses.front());
  // The process's peak resident set after each epoch: a peak never falls,
  // and it is the kernel's figure (at most the peak read now).
  const auto& rss = recorder.values.at("train/peak_rss_mib");
  ASSERT_EQ(rss.size(), 3u);
  EXPECT_GT(rss.front(), 0.0);
  EXPECT_LE(rss[0], rss[1]);
  EXPECT_LE(rss[1], rss[2]);
  EXPECT_LE(rss.back(), util::procStatusMiB("VmHWM").value() + 1.0);
  EXPECT_EQ(recorder.class_metric_calls, 3);
  ASSERT_EQ(recorder.checkpoints.size(), 3u);
  for (const auto& saved : recorder.checkpoints) {
    EXPECT_TRUE(fs::exists(saved.path)) << saved.path;
  }
  EXPECT_TRUE(recorder.checkpoints.front().best);
  // The checkpoint holds the model and where training stands: ready for
  // epoch 4.
  const std::string& last = recorder.checkpoints.back().path;
  EXPECT_EQ(fs::path(last).filename(), checkpointFileName(36));
  CheckpointReader checkpoint(last);
  EXPECT_FALSE(checkpoint.modelState().empty());
  const TrainState state = checkpoint.state();
  EXPECT_EQ(state.step, 36);
  EXPECT_EQ(state.epoch, 4);
  EXPECT_EQ(state.batches_done, 0);
}

// When a recorded checkpoint may be used (resume, eval, init_from), and
// what a file that is not one of the model at hand is called.
TEST(CheckpointFile, ProblemsOfRecordedAndForeignFiles) {
  EXPECT_EQ(checkpointFileName(20), "step-00000020.pt");
  const std::string dir = ::testing::TempDir() + "/checkpoint_file";
  fs::remove_all(dir);
  torch::nn::Linear model(/*in_features=*/3, /*out_features=*/2);
  torch::optim::SGD optimizer(model->parameters(), /*lr=*/0.1);
  const std::string path =
      CheckpointWriter(*model, optimizer, TrainState{}, torch::kCPU)
          .save(dir, /*step=*/20);
  EXPECT_EQ(path, dir + "/step-00000020.pt");
  store::CheckpointRow row;
  row.path = path;
  row.sha256 = util::sha256File(path);
  EXPECT_EQ(checkpointProblem(row), std::nullopt);
  util::io_fault::arm(1, EIO, false);
  EXPECT_EQ(checkpointProblem(row),
            "cannot be read (" + path +
                ": read error while hashing: Input/output error)");
  util::io_fault::arm(0, 0, false);
  row.sha256[0] = row.sha256[0] == '0' ? '1' : '0';
  EXPECT_EQ(checkpointProblem(row),
            "is damaged (its sha256 is not the one recorded)");
  row.path = dir + "/step-00000040.pt";
  EXPECT_EQ(checkpointProblem(row), "is missing (moved or deleted)");
  // Another model's checkpoint, and a file that is no checkpoint at all.
  torch::nn::Linear other(/*in_features=*/4, /*out_features=*/2);
  const std::string foreign =
      errorOf([&] { CheckpointReader(path).loadModel(*other); });
  EXPECT_EQ(foreign, path +
                         " is not a labrun checkpoint of this model: "
                         "weights '" +
                         path +
                         "' do not fit this model: mis-shaped keys (1): "
                         "weight [2, 3] in the file, [2, 4] in the model");
  const std::string text = dir + "/notes.txt";
  std::ofstream(text) << "not an archive";
  const std::string garbage = errorOf([&] { CheckpointReader reader(text); });
  EXPECT_EQ(garbage.rfind(text + " is not a labrun checkpoint: ", 0), 0u)
      << garbage;
  CheckpointReader same(path);
  torch::nn::Linear copy(/*in_features=*/3, /*out_features=*/2);
  same.loadModel(*copy);
  EXPECT_TRUE(torch::equal(copy->weight, model->weight));
  fs::remove_all(dir);
}

// train/loader_wait_frac is the share of the epoch spent in the loader's
// next(): with each batch 30 ms late, the wait it implies (share x epoch
// time, the epoch time being images / images_per_s) covers at least the
// delays, and never more than the epoch.
TEST_F(TrainerTest, LoaderWaitIsItsShareOfTheEpoch) {
  Setup setup;
  setup.seed = 3;
  setup.epochs = 2;
  setup.loader_delay = std::chrono::milliseconds(30);
  const auto recorder = train(setup);
  const auto& share = recorder.values.at("train/loader_wait_frac");
  const auto& rate = recorder.values.at("train/images_per_s");
  ASSERT_EQ(share.size(), 2u);
  const double images = static_cast<double>(train_.images.size(0));
  const double batches = std::ceil(images / setup.batch_size);
  for (std::size_t epoch = 0; epoch < 2; ++epoch) {
    EXPECT_LE(share[epoch], 1.0);
    const double waited_s = share[epoch] * images / rate[epoch];
    EXPECT_GE(waited_s, batches * 0.030) << "epoch " << epoch + 1;
  }
  // Every evaluation is timed too.
  const auto& val_rate = recorder.values.at("train/val_images_per_s");
  ASSERT_EQ(val_rate.size(), 2u);
  EXPECT_GT(val_rate.front(), 0.0);
  // Not on CUDA: no device memory to report.
  EXPECT_EQ(recorder.values.count("train/peak_device_mib"), 0u);
}

// Accumulating N micro-batches of 2 equals one batch of 2N (no BatchNorm,
// whose statistics depend on the batch), the epoch's short last group
// included: 30 samples make groups of 4, 4, 4 and 3 micro-batches, which
// must be averaged over 3.
TEST_F(TrainerTest, AccumulationEqualsLargerBatch) {
  const data::TensorDataset all = train_;
  for (const auto [samples, accumulate] :
       {std::pair<std::int64_t, std::int64_t>{32, 2}, {30, 4}}) {
    SCOPED_TRACE(::testing::Message()
                 << samples << " samples, accumulate " << accumulate);
    train_ = data::TensorDataset{
        all.images.slice(0, 0, samples), all.targets.slice(0, 0, samples),
        all.mask.slice(0, 0, samples), all.class_names};
    Setup big;
    big.epochs = 3;
    big.batch_norm = false;
    big.batch_size = 2 * accumulate;
    // SGD: unlike Adam, its step scales with the gradient, so a wrongly
    // scaled accumulated gradient shows.
    big.optimizer.name = "sgd";
    big.optimizer.lr = 0.5;
    Setup small = big;
    small.batch_size = 2;
    small.adjust = [accumulate = accumulate](TrainerOptions& options) {
      options.accumulate = accumulate;
    };
    Model a{nullptr}, b{nullptr};
    const auto big_run = train(big, &a);
    const auto small_run = train(small, &b);
    const auto& big_loss = big_run.values.at("train/epoch_loss");
    const auto& small_loss = small_run.values.at("train/epoch_loss");
    ASSERT_EQ(big_loss.size(), 3u);
    ASSERT_EQ(small_loss.size(), 3u);
    for (std::size_t epoch = 0; epoch < 3; ++epoch) {
      EXPECT_NEAR(small_loss[epoch], big_loss[epoch], 1e-5) << epoch;
    }
    const auto pa = a->parameters();
    const auto pb = b->parameters();
    ASSERT_EQ(pa.size(), pb.size());
    for (std::size_t i = 0; i < pa.size(); ++i) {
      EXPECT_LE((pa[i] - pb[i]).abs().max().item<double>(), 1e-5) << i;
    }
  }
}

// optim.clip_grad_norm bounds the global gradient norm: with plain SGD at
// lr 1 the first update moves the weights by exactly the bound.
TEST_F(TrainerTest, ClipGradNormBoundsTheUpdate) {
  train_ = data::TensorDataset{train_.images.slice(0, 0, 8),
                               train_.targets.slice(0, 0, 8),
                               train_.mask.slice(0, 0, 8), train_.class_names};
  Setup clipped;
  clipped.batch_size = 8;  // one step
  clipped.batch_norm = false;
  clipped.optimizer.name = "sgd";
  clipped.optimizer.lr = 1.0;
  clipped.optimizer.momentum = 0;
  clipped.adjust = [](TrainerOptions& options) {
    options.clip_grad_norm = 1e-3;
  };
  Setup untrained = clipped;
  untrained.epochs = 0;
  Model before{nullptr}, after{nullptr};
  train(untrained, &before);
  train(clipped, &after);
  double squares = 0;
  const auto initial = before->parameters();
  const auto moved = after->parameters();
  ASSERT_EQ(initial.size(), moved.size());
  for (std::size_t i = 0; i < moved.size(); ++i) {
    squares += (moved[i] - initial[i]).pow(2).sum().item<double>();
  }
  EXPECT_NEAR(std::sqrt(squares), 1e-3, 1e-6);
}

TEST_F(TrainerTest, FrozenParametersDoNotChange) {
  Setup setup;
  setup.freeze = "backbone";
  Model model{nullptr};
  torch::manual_seed(setup.seed);
  train(setup, &model);
  // Same seed, same initial weights: compare with an untrained copy.
  Setup untrained = setup;
  untrained.epochs = 0;
  Model initial{nullptr};
  train(untrained, &initial);
  const auto trained = model->named_parameters();
  const auto before = initial->named_parameters();
  bool head_moved = false;
  for (const auto& item : trained) {
    const bool same = torch::equal(item.value(), before[item.key()]);
    if (item.key().rfind("backbone.", 0) == 0) {
      EXPECT_TRUE(same) << item.key();
    } else {
      head_moved |= !same;
    }
  }
  EXPECT_TRUE(head_moved);
}

// Returns NaN from its third call on.
class NanAfterTwoCalls : public Loss {
 public:
  torch::Tensor forward(torch::Tensor logits, torch::Tensor targets,
                        torch::Tensor) override {
    const auto loss = torch::binary_cross_entropy_with_logits(logits, targets);
    return ++calls_ >= 3 ? loss * std::nan("") : loss;
  }

 private:
  int calls_ = 0;
};

TEST_F(TrainerTest, NonFiniteLossStopsNamingTheStepAndKeepsCheckpoints) {
  // The loss is read once per optimizer step, after its update is queued:
  // the step is still named, and its update never reaches a checkpoint
  // (one is due after every step here). With 2 micro-batches per step,
  // the third micro-batch belongs to step 2.
  for (const std::int64_t accumulate : {1, 2}) {
    SCOPED_TRACE(::testing::Message() << "accumulate " << accumulate);
    const std::int64_t bad_step = accumulate == 1 ? 3 : 2;
    const std::string dir = ::testing::TempDir() + "/trainer_nan";
    fs::remove_all(dir);
    Setup setup;
    setup.checkpoint_dir = dir;
    setup.every_steps = 1;
    setup.loss = std::make_shared<NanAfterTwoCalls>();
    setup.adjust = [accumulate](TrainerOptions& options) {
      options.sanity_batches = 0;
      options.accumulate = accumulate;
    };
    try {
      train(setup);
      FAIL() << "expected an error";
    } catch (const std::runtime_error& error) {
      EXPECT_NE(
          std::string(error.what())
              .find(fmt::format("loss is nan at step {} (epoch 1)", bad_step)),
          std::string::npos)
          << error.what();
    }
    EXPECT_FALSE(fs::exists(fmt::format("{}/step-{:08d}.pt", dir, bad_step)));
    // The last good checkpoint is intact and loadable.
    torch::serialize::InputArchive archive;
    archive.load_from(fmt::format("{}/step-{:08d}.pt", dir, bad_step - 1));
    torch::Tensor state;
    archive.read("state", state);
    EXPECT_EQ(state[0].item<std::int64_t>(), bad_step - 1);
  }
}

// Multiplies the loss by infinity at the listed calls (1-based), as an
// fp16 overflow would: its gradients are not finite.
class InfAtCalls : public Loss {
 public:
  explicit InfAtCalls(std::set<int> calls) : calls_(std::move(calls)) {}
  torch::Tensor forward(torch::Tensor logits, torch::Tensor targets,
                        torch::Tensor) override {
    const auto loss = torch::binary_cross_entropy_with_logits(logits, targets);
    return calls_.count(++count_) > 0
               ? loss * std::numeric_limits<float>::infinity()
               : loss;
  }

 private:
  std::set<int> calls_;
  int count_ = 0;
};

// The model's parameters after each update, by step.
class ParameterSnapshots : public TrainStage {
 public:
  explicit ParameterSnapshots(std::vector<torch::Tensor>& out) : out_(out) {}
  void afterUpdate(TrainLoop& loop) override {
    std::vector<torch::Tensor> flat;
    for (const auto& p : loop.model()->parameters()) {
      flat.push_back(p.detach().flatten().clone());
    }
    out_.push_back(torch::cat(flat));
  }

 private:
  std::vector<torch::Tensor>& out_;
};

TEST(LossScaler, SkipsNonFiniteStepsHalvesAndGrowsTheScale) {
  LossScalerOptions options;
  options.init_scale = 8;
  options.growth_interval = 3;
  LossScaler scaler(options);
  const torch::Tensor w = torch::ones({2}, torch::requires_grad());
  scaler.scale((w * 3).sum()).backward();
  EXPECT_TRUE(torch::equal(w.grad(), torch::full({2}, 24.0f)));
  EXPECT_TRUE(scaler.unscale({w}));
  EXPECT_TRUE(torch::equal(w.grad(), torch::full({2}, 3.0f)));
  w.grad()[1] = std::numeric_limits<float>::infinity();
  EXPECT_FALSE(scaler.unscale({w}));
  EXPECT_TRUE(scaler.update(/*finite=*/false));
  EXPECT_EQ(scaler.currentScale(), 4);
  EXPECT_EQ(scaler.skippedSteps(), 1);
  // Three good steps in a row double it; a bad one restarts the count.
  scaler.update(true);
  scaler.update(true);
  EXPECT_EQ(scaler.currentScale(), 4);
  scaler.update(true);
  EXPECT_EQ(scaler.currentScale(), 8);
  scaler.update(true);
  scaler.update(true);
  scaler.update(false);
  scaler.update(true);
  EXPECT_EQ(scaler.currentScale(), 4);

  // The state travels through a checkpoint archive.
  torch::serialize::OutputArchive out;
  scaler.save(out);
  std::ostringstream bytes;
  out.save_to(bytes);
  LossScaler restored(options);
  torch::serialize::InputArchive in;
  std::istringstream read(bytes.str());
  in.load_from(read);
  restored.load(in);
  EXPECT_EQ(restored.currentScale(), 4);
  EXPECT_EQ(restored.skippedSteps(), 2);
  restored.update(true);
  restored.update(true);  // the third good step in a row, counting the saved
  EXPECT_EQ(restored.currentScale(), 8);

  torch::serialize::OutputArchive empty_out;
  std::ostringstream empty_bytes;
  empty_out.save_to(empty_bytes);
  torch::serialize::InputArchive empty;
  std::istringstream empty_read(empty_bytes.str());
  empty.load_from(empty_read);
  EXPECT_EQ(errorOf([&] { restored.load(empty); }),
            "the checkpoint holds no loss scale (written by a run that was "
            "not fp16)");

  // Below the floor (1) the run is diverging: update says so.
  LossScaler low(LossScalerOptions{/*init_scale=*/2.0});
  EXPECT_TRUE(low.update(false));
  EXPECT_FALSE(low.update(false));
}

// Scaling by a power of two is exact in floating point: a scaled run with
// no overflow is the plain run, bit for bit; an overflowing step is
// skipped (parameters unchanged), halves the scale, and the run goes on.
TEST_F(TrainerTest,
       LossScalingSkipsOverflowingStepsAndOtherwiseChangesNothing) {
  const auto plain = train(/*seed=*/1, /*epochs=*/1);
  Setup scaled;
  scaled.adjust = [](TrainerOptions& options) {
    options.loss_scaling = LossScalerOptions{};
  };
  // No sanity batches: the loss's third call is step 3's.
  const auto scaled_adjust = scaled.adjust;
  const auto same = train(scaled);
  EXPECT_EQ(same.values.at("train/loss"), plain.values.at("train/loss"));
  EXPECT_EQ(same.values.at("train/loss_scale"),
            std::vector<double>(12, 65536.0));

  std::vector<torch::Tensor> snapshots;
  Setup overflow = scaled;
  overflow.loss = std::make_shared<InfAtCalls>(std::set<int>{3});
  overflow.adjust = [scaled_adjust](TrainerOptions& options) {
    scaled_adjust(options);
    options.sanity_batches = 0;
  };
  overflow.prepare = [&snapshots](Trainer& trainer) {
    trainer.addStage(std::make_unique<ParameterSnapshots>(snapshots));
  };
  const auto skipped = train(overflow);
  EXPECT_EQ(skipped.end, FitEnd::kFinished);
  ASSERT_EQ(snapshots.size(), 12u);
  EXPECT_TRUE(torch::equal(snapshots[2], snapshots[1]));  // step 3: skipped
  EXPECT_FALSE(torch::equal(snapshots[3], snapshots[2]));
  std::vector<double> expected_scale(12, 32768.0);
  expected_scale[0] = expected_scale[1] = 65536.0;
  EXPECT_EQ(skipped.values.at("train/loss_scale"), expected_scale);
  // The non-finite step's loss is not recorded; the others are.
  const auto& losses = skipped.values.at("train/loss");
  ASSERT_EQ(losses.size(), 11u);
  EXPECT_EQ(losses[0], plain.values.at("train/loss")[0]);
  EXPECT_EQ(losses[1], plain.values.at("train/loss")[1]);
  for (double loss : losses) EXPECT_TRUE(std::isfinite(loss));
}

// A loss that is never finite is not an overflow: once the scale falls
// below 1 the run fails naming the step, as an unscaled run does at once.
TEST_F(TrainerTest, LossScaleFloorStopsADivergingRun) {
  Setup setup;
  setup.loss = std::make_shared<InfAtCalls>(std::set<int>{1, 2, 3, 4});
  setup.adjust = [](TrainerOptions& options) {
    options.sanity_batches = 0;
    options.loss_scaling = LossScalerOptions{/*init_scale=*/4.0};
  };
  EXPECT_NE(errorOf([&] {
              train(setup);
            }).find("loss scale fell below 1 at step 3 (epoch 1)"),
            std::string::npos);
}

// The scale comes back from a checkpoint: the resumed run scales as the
// uninterrupted one did.
TEST_F(TrainerTest, ResumedRunKeepsTheLossScale) {
  const std::string dir = ::testing::TempDir() + "/trainer_scale_resume";
  fs::remove_all(dir);
  Setup setup;
  setup.epochs = 2;
  setup.checkpoint_dir = dir;
  setup.every_steps = 5;
  setup.loss = std::make_shared<InfAtCalls>(std::set<int>{3});
  setup.adjust = [](TrainerOptions& options) {
    options.loss_scaling = LossScalerOptions{};
    options.sanity_batches = 0;
  };
  const auto whole = train(setup);
  Setup rest = setup;
  rest.loss = std::make_shared<InfAtCalls>(std::set<int>{});
  rest.resume_from = dir + "/step-00000005.pt";
  const auto resumed = train(rest);
  const auto& scales = whole.values.at("train/loss_scale");
  EXPECT_EQ(resumed.values.at("train/loss_scale"),
            std::vector<double>(scales.begin() + 5, scales.end()));
  const auto& losses = whole.values.at("train/loss");  // 23: step 3 skipped
  EXPECT_EQ(resumed.values.at("train/loss"),
            std::vector<double>(losses.begin() + 4, losses.end()));
}

// bf16 autocast on the CPU: the forward pass really runs in bfloat16 (the
// losses differ from float32's), and the training follows the same course.
TEST_F(TrainerTest, Bf16TrainingStaysCloseToFp32) {
  const auto fp32 = train(/*seed=*/1, /*epochs=*/2);
  Setup setup;
  setup.epochs = 2;
  setup.adjust = [](TrainerOptions& options) {
    options.precision = Precision::kBf16;
  };
  const auto bf16 = train(setup);
  const auto& a = fp32.values.at("train/loss");
  const auto& b = bf16.values.at("train/loss");
  ASSERT_EQ(a.size(), b.size());
  EXPECT_NE(a, b);
  double worst = 0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    worst = std::max(worst, std::abs(a[i] - b[i]));
  }
  EXPECT_LT(worst, 0.02);
  EXPECT_NEAR(bf16.values.at("val/mAP").back(),
              fp32.values.at("val/mAP").back(), 2.0);
}

// model.memory_format: channels_last computes the same function in another
// layout (other rounding), keeps that layout through training and
// checkpoints (so a resumed run is exact), and exports contiguous tensors.
TEST_F(TrainerTest, ChannelsLastTrainsLikeContiguousAndResumesExactly) {
  const auto contiguous = train(/*seed=*/1, /*epochs=*/2);
  const std::string dir = ::testing::TempDir() + "/trainer_channels_last";
  fs::remove_all(dir);
  Setup setup;
  setup.epochs = 2;
  setup.channels_last = true;
  setup.checkpoint_dir = dir;
  setup.every_steps = 5;
  Model trained = nullptr;
  const auto whole = train(setup, &trained);
  const auto& a = contiguous.values.at("train/loss");
  const auto& b = whole.values.at("train/loss");
  ASSERT_EQ(a.size(), b.size());
  double worst = 0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    worst = std::max(worst, std::abs(a[i] - b[i]));
  }
  EXPECT_LT(worst, 1e-3);
  std::size_t convolutions = 0;
  for (const auto& parameter : trained->parameters()) {
    if (parameter.dim() != 4) continue;
    ++convolutions;
    EXPECT_FALSE(parameter.is_contiguous());
    EXPECT_TRUE(parameter.is_contiguous(torch::MemoryFormat::ChannelsLast));
  }
  EXPECT_EQ(convolutions, 2u);  // smallconv's two layers
  for (const auto& [name, tensor] : trained->exportedState()) {
    EXPECT_TRUE(tensor.is_contiguous()) << name;
  }

  Setup rest = setup;
  rest.resume_from = dir + "/step-00000005.pt";
  const auto resumed = train(rest);
  EXPECT_EQ(resumed.values.at("train/loss"),
            std::vector<double>(b.begin() + 5, b.end()));
  EXPECT_EQ(resumed.values.at("val/mAP"), whole.values.at("val/mAP"));
}

// Reports the mAP values it is given, one per evaluation.
class ScriptedMetric : public Metric {
 public:
  explicit ScriptedMetric(std::vector<double> values)
      : values_(std::move(values)) {}
  void reset() override {}
  void update(const torch::Tensor&, const torch::Tensor&,
              const torch::Tensor&) override {}
  std::vector<std::string> keys() const override { return {"mAP"}; }
  MetricResult compute() const override {
    MetricResult result;
    result.scalars.emplace_back("mAP", values_.at(calls_++));
    return result;
  }

 private:
  std::vector<double> values_;
  mutable std::size_t calls_ = 0;
};

// A metric whose names are known only at run time.
class UnnamedMetric : public ScriptedMetric {
 public:
  using ScriptedMetric::ScriptedMetric;
  std::vector<std::string> keys() const override { return {}; }
};

// The keys the stages may watch: the loss and each instance's names, a
// labelled one's with its label, under val/ and, with a weight average,
// val_ema/; none to check when a metric cannot name its values.
TEST(ValidationKeys, OfEachInstanceAndSplit) {
  const auto scripted = std::make_shared<ScriptedMetric>(std::vector<double>{});
  std::vector<NamedMetric> metrics = {{"a", scripted, ""},
                                      {"a", scripted, "x"}};
  EXPECT_EQ(validationKeys(metrics, /*ema=*/false),
            (std::vector<std::string>{"val/loss", "val/mAP", "val/mAP@x"}));
  EXPECT_EQ(validationKeys(metrics, /*ema=*/true),
            (std::vector<std::string>{"val/loss", "val/mAP", "val/mAP@x",
                                      "val_ema/loss", "val_ema/mAP",
                                      "val_ema/mAP@x"}));
  metrics.push_back(
      {"b", std::make_shared<UnnamedMetric>(std::vector<double>{}), ""});
  EXPECT_EQ(validationKeys(metrics, /*ema=*/false), std::nullopt);
}

// Early stopping on a hand-made sequence: with min_delta 1, max mode
// improves at epochs 1 and 2 (50, 60) and not at 3 and 4 (59, 60.5 is
// below 60 + 1): patience 2 ends the run after epoch 4 of 8, finished. Min
// mode improves at epoch 1 only and stops after epoch 3.
TEST_F(TrainerTest, EarlyStopEndsTheRunWhenTheMetricStopsImproving) {
  const std::vector<double> script = {50, 60, 59, 60.5, 70, 80, 90, 99};
  for (const bool maximize : {true, false}) {
    const std::string dir = ::testing::TempDir() + "/trainer_early_stop";
    fs::remove_all(dir);
    Setup setup;
    setup.epochs = 8;
    setup.checkpoint_dir = dir;
    setup.metric = std::make_shared<ScriptedMetric>(script);
    setup.adjust = [maximize](TrainerOptions& options) {
      options.sanity_batches = 0;
      EarlyStopOptions stop;
      stop.maximize = maximize;
      stop.patience = 2;
      stop.min_delta = 1.0;
      options.early_stop = stop;
    };
    const auto recorder = train(setup);
    const std::size_t epochs = maximize ? 4 : 3;
    EXPECT_EQ(recorder.end, FitEnd::kFinished);
    EXPECT_EQ(recorder.values.at("train/epoch_loss").size(), epochs);
    EXPECT_EQ(recorder.values.at("val/mAP"),
              std::vector<double>(script.begin(), script.begin() + epochs));
    // Recorded once, with the epoch of the best value.
    EXPECT_EQ(recorder.values.at("train/early_stop"),
              std::vector<double>{maximize ? 2.0 : 1.0});
    EXPECT_NE(recorder.stop_reason.find(
                  "stopped early: val/mAP has not improved by more than 1 "
                  "for 2 evaluations"),
              std::string::npos)
        << recorder.stop_reason;
    // The epoch-end checkpoint of the last epoch is kept, the best ranked.
    ASSERT_EQ(recorder.checkpoints.size(), epochs);
    EXPECT_EQ(recorder.checkpoints.back().epoch,
              static_cast<std::int64_t>(epochs));
    EXPECT_TRUE(recorder.checkpoints[maximize ? 1 : 0].best);
  }
}

// A sanity evaluation that lacks the watched key fails before any step.
TEST_F(TrainerTest, EarlyStopOnAnUnknownKeyFailsBeforeTraining) {
  Setup setup;
  setup.adjust = [](TrainerOptions& options) {
    EarlyStopOptions stop;
    stop.metric = "val/mAp";
    stop.origin = "spec.yaml:3:13";
    options.early_stop = stop;
  };
  try {
    train(setup);
    FAIL() << "expected an error";
  } catch (const std::runtime_error& error) {
    EXPECT_STREQ(error.what(),
                 "spec.yaml:3:13: train.early_stop.metric: 'val/mAp' is not "
                 "a validation value of this run; it records val/loss, "
                 "val/mAP, val/mAP_classes");
  }
}

// A stage added to the loop without editing it: counts optimizer steps
// into `count`, keeps the count in the checkpoint under its own key, and
// can stop the run (as a signal would) after a given step.
class StepCounter : public TrainStage {
 public:
  StepCounter(std::int64_t& count, std::int64_t stop_after)
      : count_(count), stop_after_(stop_after) {}
  void load(torch::serialize::InputArchive& checkpoint) override {
    torch::Tensor count;
    checkpoint.read("step_counter", count);
    count_ = count.item<std::int64_t>();
  }
  void save(torch::serialize::OutputArchive& checkpoint) const override {
    checkpoint.write("step_counter", torch::tensor(count_));
  }
  void afterUpdate(TrainLoop& loop) override {
    if (++count_ == stop_after_) loop.requestStop(FitEnd::kStopped, "test");
  }

 private:
  std::int64_t& count_;
  std::int64_t stop_after_;
};

// A run stopped mid-way and resumed from its last checkpoint stops early at
// the epoch the uninterrupted run did, with the same losses: the early
// stop's state (best value, evaluations without improvement) and an added
// stage's state come back from the checkpoint. min_delta 100 makes every
// evaluation after the first one count against patience 2: the run stops
// after epoch 3 of 6 (a run that forgot the state would go on to 5).
TEST_F(TrainerTest, ResumedRunStopsEarlyAtTheSameEpoch) {
  const std::string root = ::testing::TempDir() + "/trainer_early_resume";
  fs::remove_all(root);
  auto setup = [&](const std::string& dir, std::int64_t& count,
                   std::int64_t stop_after) {
    Setup run;
    run.epochs = 6;
    run.checkpoint_dir = root + "/" + dir;
    run.adjust = [](TrainerOptions& options) {
      EarlyStopOptions stop;
      stop.patience = 2;
      stop.min_delta = 100;
      options.early_stop = stop;
    };
    run.prepare = [&count, stop_after](Trainer& trainer) {
      trainer.addStage(std::make_unique<StepCounter>(count, stop_after));
    };
    return run;
  };
  std::int64_t whole_steps = 0, cut_steps = 0;
  const auto whole = train(setup("whole", whole_steps, /*stop_after=*/0));
  ASSERT_EQ(whole.end, FitEnd::kFinished);
  ASSERT_EQ(whole.values.at("train/epoch_loss").size(), 3u);
  EXPECT_EQ(whole_steps, 36);  // 12 steps an epoch
  // Stopped at step 30, in epoch 3, after one evaluation without gain.
  const auto first = train(setup("cut", cut_steps, /*stop_after=*/30));
  ASSERT_EQ(first.end, FitEnd::kStopped);
  ASSERT_EQ(first.values.at("train/loss").size(), 30u);
  cut_steps = -1;  // must come back from the checkpoint
  Setup rest = setup("cut", cut_steps, /*stop_after=*/0);
  rest.resume_from = first.checkpoints.back().path;
  const auto second = train(rest);
  EXPECT_EQ(cut_steps, 36);
  EXPECT_EQ(second.end, FitEnd::kFinished);
  EXPECT_EQ(second.stop_reason, whole.stop_reason);
  EXPECT_EQ(second.values.at("train/early_stop"),
            whole.values.at("train/early_stop"));
  ASSERT_EQ(second.checkpoints.size(), 1u);
  EXPECT_EQ(second.checkpoints.back().epoch, 3);
  EXPECT_EQ(second.values.at("val/mAP").back(),
            whole.values.at("val/mAP").back());
  std::vector<double> losses = first.values.at("train/loss");
  const auto& more = second.values.at("train/loss");
  losses.insert(losses.end(), more.begin(), more.end());
  EXPECT_EQ(losses, whole.values.at("train/loss"));
}

std::size_t openDescriptors() {
  return static_cast<std::size_t>(
      std::distance(fs::directory_iterator("/proc/self/fd"), {}));
}

// Checkpoint writes under injected faults (docs/RELIABILITY.md): a short
// training run is made once to count its checkpoint I/O calls (writes,
// fsyncs, close, rename), then once per call with that call failing (ENOSPC
// once, then EIO from there on). Each run must end or throw a clean
// std::runtime_error; every checkpoint it recorded must load; no temporary
// file or descriptor may be left.
TEST_F(TrainerTest, EveryCheckpointWriteFailureKeepsRecordedCheckpoints) {
  const std::string root = ::testing::TempDir() + "/trainer_faults";
  Setup setup;
  setup.every_steps = 4;
  std::int64_t calls = 0;  // I/O calls of the last run
  // Returns whether training threw (a clean error naming the folder).
  auto run = [&](std::int64_t n, int error, bool persistent,
                 const std::string& dir) {
    fs::remove_all(dir);
    setup.checkpoint_dir = dir;
    util::io_fault::arm(n, error, persistent);
    bool threw = false;
    try {
      train(setup);
    } catch (const std::runtime_error& e) {
      threw = true;
      EXPECT_NE(std::string(e.what()).find(dir), std::string::npos) << e.what();
    }
    calls = util::io_fault::calls();
    util::io_fault::arm(0, 0, false);
    return threw;
  };
  ASSERT_FALSE(run(0, 0, false, root + "/count"));
  const std::int64_t total = calls;
  // 3 checkpoints of ~50 KB, each: several writes, fsync, close, rename,
  // folder fsync.
  ASSERT_GE(total, 3 * (2 + 4));
  std::int64_t injected = 0;
  for (std::int64_t n = 1; n <= total; ++n) {
    for (const bool persistent : {false, true}) {
      SCOPED_TRACE("I/O call " + std::to_string(n) + " of " +
                   std::to_string(total) + (persistent ? ", persistent" : ""));
      const std::string dir = root + "/" + std::to_string(n);
      const std::size_t descriptors = openDescriptors();
      EXPECT_TRUE(run(n, persistent ? EIO : ENOSPC, persistent, dir));
      ++injected;
      EXPECT_EQ(openDescriptors(), descriptors);
      // Whatever was committed before the fault loads.
      for (const auto& entry : fs::directory_iterator(dir)) {
        ASSERT_EQ(entry.path().extension(), ".pt") << entry.path();
        torch::serialize::InputArchive archive;
        archive.load_from(entry.path().string());
        torch::Tensor state;
        archive.read("state", state);
        EXPECT_EQ(entry.path().filename().string(),
                  fmt::format("step-{:08d}.pt", state[0].item<std::int64_t>()));
      }
    }
    if (HasFailure()) break;
  }
  std::printf("[ faults ] %lld checkpoint I/O calls, %lld failures injected\n",
              static_cast<long long>(total), static_cast<long long>(injected));
  fs::remove_all(root);
}

TEST(IoFault, ReadFailureWhileHashingNamesTheFile) {
  const std::string path = ::testing::TempDir() + "/hashed.bin";
  std::ofstream(path) << "content";
  util::io_fault::arm(1, EIO, false);
  try {
    util::sha256File(path);
    ADD_FAILURE() << "expected a read error";
  } catch (const std::runtime_error& e) {
    EXPECT_EQ(std::string(e.what()),
              path + ": read error while hashing: Input/output error");
  }
  util::io_fault::arm(0, 0, false);
  EXPECT_EQ(util::sha256File(path).size(), 64u);
}

// Learning-rate factors against values worked out by hand.
TEST(LrSchedule, FactorsAtChosenSteps) {
  auto factors = [](ScheduleOptions options, std::vector<std::int64_t> steps) {
    LrSchedule schedule(options, /*steps_per_epoch=*/10, /*total_steps=*/100);
    std::vector<double> values;
    for (auto step : steps) values.push_back(schedule.factor(step));
    return values;
  };
  ScheduleOptions step;
  step.name = "step";
  step.step_size = 2;
  EXPECT_EQ(factors(step, {0, 19, 20, 40}),
            (std::vector<double>{1.0, 1.0, 0.1, 0.1 * 0.1}));
  ScheduleOptions multi;
  multi.name = "multistep";
  multi.milestones = {3, 5};
  multi.gamma = 0.5;
  EXPECT_EQ(factors(multi, {29, 30, 49, 50}),
            (std::vector<double>{1.0, 0.5, 0.5, 0.25}));
  ScheduleOptions cosine;
  cosine.name = "cosine";
  cosine.min_factor = 0.2;
  const auto c = factors(cosine, {0, 50, 100});
  EXPECT_DOUBLE_EQ(c[0], 1.0);
  EXPECT_NEAR(c[1], 0.6, 1e-12);  // halfway: (1 + 0.2) / 2
  EXPECT_NEAR(c[2], 0.2, 1e-12);
  ScheduleOptions one;
  one.name = "onecycle";  // pct_start 0.3: peak at step 29
  const auto o = factors(one, {0, 29, 99});
  EXPECT_NEAR(o[0], 1.0 / 25, 1e-12);
  EXPECT_NEAR(o[1], 1.0, 1e-12);
  EXPECT_NEAR(o[2], 1.0 / 25 / 1e4, 1e-12);
  ScheduleOptions warm;
  warm.warmup_steps = 10;
  warm.warmup_start = 0.1;
  EXPECT_EQ(factors(warm, {0, 5, 10}), (std::vector<double>{0.1, 0.55, 1.0}));
}

TEST(LrSchedule, PlateauDividesWhenTheMetricStopsImproving) {
  ScheduleOptions options;
  options.name = "plateau";
  options.patience = 1;
  LrSchedule schedule(options, 10, 100);
  for (double map : {50.0, 60.0, 59.0}) schedule.observe("val/mAP", map);
  EXPECT_DOUBLE_EQ(schedule.factor(0), 1.0);  // one bad epoch: patience
  schedule.observe("val/loss", 1.0);          // other keys are ignored
  schedule.observe("val/mAP", 58.0);
  EXPECT_DOUBLE_EQ(schedule.factor(0), 0.1);
  // The state survives a checkpoint.
  torch::serialize::OutputArchive out;
  schedule.save(out);
  std::stringstream buffer;
  out.save_to(buffer);
  torch::serialize::InputArchive in;
  in.load_from(buffer);
  LrSchedule restored(options, 10, 100);
  restored.load(in);
  EXPECT_DOUBLE_EQ(restored.factor(0), 0.1);
}

TEST(Optimizers, LearningRateMultipliersMakeParameterGroups) {
  OptimizerOptions options;
  options.name = "sgd";
  options.lr = 0.1;
  options.momentum = 0;
  options.lr_mult = {parseLrMultiplier("backbone=0.5", "a"),
                     parseLrMultiplier("backbone.stages.0=2", "b")};
  plugins::PluginHost host;
  host.loadDirectories({LABRUN_PLUGIN_DIR});
  ModelContext context;
  context.num_classes = 3;
  auto body =
      host.makeBackbone("smallconv",
                        Params({{"channels", std::vector<std::int64_t>{4}},
                                {"batch_norm", false}}),
                        context);
  context.in_channels = body->outChannels();
  Model model(body,
              host.makeHead("fc", host.defaultParams(PluginKind::kHead, "fc"),
                            context));
  const auto optimizer = makeOptimizer(options, model);
  // Longest prefix wins: the first conv at 0.1 x 2, nothing else in the
  // backbone, the head at the base rate.
  std::map<double, std::size_t> tensors_by_lr;
  for (auto& group : optimizer->param_groups()) {
    tensors_by_lr[group.options().get_lr()] += group.params().size();
  }
  EXPECT_EQ(tensors_by_lr, (std::map<double, std::size_t>{{0.1, 2}, {0.2, 2}}));

  try {
    parseLrMultiplier("backbone", "bad.yaml:1:102");
    FAIL() << "expected an error";
  } catch (const spec::SpecError& error) {
    EXPECT_EQ(std::string(error.what()),
              "bad.yaml:1:102: optim.lr_mult: expected PREFIX=FACTOR (e.g. "
              "backbone=0.1), found 'backbone'");
  }
  options.lr_mult = {parseLrMultiplier("head.fc=2", "bad.yaml:2:3")};
  try {
    makeOptimizer(options, model);
    FAIL() << "expected an error";
  } catch (const spec::SpecError& error) {
    EXPECT_EQ(std::string(error.what())
                  .rfind("bad.yaml:2:3: 'head.fc' "
                         "matches no parameter",
                         0),
              0u)
        << error.what();
  }
}

// `text` validated against the core schema (plugins without parameters).
spec::Node validatedSpec(const std::string& text) {
  spec::Origin origin;
  origin.file = "test.yaml";
  spec::Node tree =
      spec::parseYamlText("model: {backbone: any}\n" + text, origin);
  spec::validate(tree, coreSchema(), [](PluginKind, const std::string&) {
    return std::vector<ParamSpec>{};
  });
  return tree;
}

// A test that fills options by hand gets the structs' initialisers: they
// must be the schema's defaults, or such a test checks a behaviour that no
// run has.
TEST(BindOptions, StructInitialisersAreTheSchemaDefaults) {
  plugins::PluginHost host;
  host.loadDirectories({LABRUN_PLUGIN_DIR});
  spec::Origin origin;
  origin.file = "test.yaml";
  // Early stopping is off by default; on, its other keys keep theirs.
  spec::Node tree = spec::parseYamlText(
      "device: cpu\n"  // the group's backend follows the device
      "model: {backbone: smallconv, head: fc}\n"
      "train: {early_stop: {metric: val/mAP}}\n",
      origin);
  spec::validate(tree, coreSchema(), host.schemaLookup());
  const ExperimentOptions bound = bindOptions(tree, host);

  const ExperimentOptions experiment;
  EXPECT_EQ(bound.threads, experiment.threads);
  EXPECT_EQ(bound.seed, experiment.seed);
  EXPECT_EQ(bound.deterministic, experiment.deterministic);
  EXPECT_EQ(bound.batch_size, experiment.batch_size);
  EXPECT_EQ(bound.memory_format, experiment.memory_format);
  EXPECT_EQ(bound.keep_last, experiment.keep_last);

  const TrainerOptions trainer;
  EXPECT_EQ(bound.trainer.epochs, trainer.epochs);
  EXPECT_EQ(bound.trainer.accumulate, trainer.accumulate);
  EXPECT_EQ(bound.trainer.clip_grad_norm, trainer.clip_grad_norm);
  EXPECT_EQ(bound.trainer.ema_decay, trainer.ema_decay);
  EXPECT_EQ(bound.trainer.eval_every_epochs, trainer.eval_every_epochs);
  EXPECT_EQ(bound.trainer.sanity_batches, trainer.sanity_batches);
  EXPECT_EQ(bound.trainer.save_checkpoints, trainer.save_checkpoints);
  EXPECT_EQ(bound.trainer.checkpoint_every_steps,
            trainer.checkpoint_every_steps);
  EXPECT_EQ(bound.trainer.best_by, trainer.best_by);
  EXPECT_EQ(bound.trainer.best_max, trainer.best_max);
  EXPECT_EQ(bound.trainer.precision, trainer.precision);
  EXPECT_EQ(bound.trainer.loss_scaling.has_value(),
            trainer.loss_scaling.has_value());
  EXPECT_EQ(bound.trainer.log_every, trainer.log_every);

  const ScheduleOptions schedule;
  const ScheduleOptions& bound_schedule = bound.trainer.schedule;
  EXPECT_EQ(bound_schedule.name, schedule.name);
  EXPECT_EQ(bound_schedule.step_size, schedule.step_size);
  EXPECT_EQ(bound_schedule.milestones, schedule.milestones);
  EXPECT_EQ(bound_schedule.gamma, schedule.gamma);
  EXPECT_EQ(bound_schedule.min_factor, schedule.min_factor);
  EXPECT_EQ(bound_schedule.pct_start, schedule.pct_start);
  EXPECT_EQ(bound_schedule.div_factor, schedule.div_factor);
  EXPECT_EQ(bound_schedule.final_div_factor, schedule.final_div_factor);
  EXPECT_EQ(bound_schedule.plateau_metric, schedule.plateau_metric);
  EXPECT_EQ(bound_schedule.plateau_mode, schedule.plateau_mode);
  EXPECT_EQ(bound_schedule.plateau_factor, schedule.plateau_factor);
  EXPECT_EQ(bound_schedule.patience, schedule.patience);
  EXPECT_EQ(bound_schedule.threshold, schedule.threshold);
  EXPECT_EQ(bound_schedule.warmup_steps, schedule.warmup_steps);
  EXPECT_EQ(bound_schedule.warmup_start, schedule.warmup_start);

  const EarlyStopOptions early_stop;
  ASSERT_TRUE(bound.trainer.early_stop.has_value());
  EXPECT_EQ(bound.trainer.early_stop->metric, early_stop.metric);
  EXPECT_EQ(bound.trainer.early_stop->maximize, early_stop.maximize);
  EXPECT_EQ(bound.trainer.early_stop->patience, early_stop.patience);
  EXPECT_EQ(bound.trainer.early_stop->min_delta, early_stop.min_delta);

  const OptimizerOptions optim;
  EXPECT_EQ(bound.optim.name, optim.name);
  EXPECT_EQ(bound.optim.lr, optim.lr);
  EXPECT_EQ(bound.optim.weight_decay, optim.weight_decay);
  EXPECT_EQ(bound.optim.momentum, optim.momentum);
  EXPECT_EQ(bound.optim.nesterov, optim.nesterov);
  EXPECT_TRUE(bound.optim.freeze.empty());
  EXPECT_TRUE(bound.optim.lr_mult.empty());

  const data::LoaderOptions loader;
  EXPECT_EQ(bound.train_images.loader.batch_size, loader.batch_size);
  EXPECT_EQ(bound.train_images.loader.workers, loader.workers);
  EXPECT_EQ(bound.train_images.loader.prefetch, loader.prefetch);
  EXPECT_EQ(bound.train_images.loader.replace_bad, loader.replace_bad);

  const dist::GroupOptions group;
  EXPECT_EQ(bound.group.backend, group.backend);
  EXPECT_EQ(bound.group.timeout, group.timeout);
  EXPECT_EQ(bound.group.bucket_bytes, group.bucket_bytes);
  EXPECT_EQ(bound.group.overlap_backward, group.overlap_backward);
}

// train.precision's choices are the schema's (a library without LibTorch)
// and the names parsePrecision reads: the same four, in the same order.
TEST(BindOptions, PrecisionChoicesAreTheNamesTheTrainerReads) {
  std::string choices;
  for (const spec::Field& field : coreSchema().fields) {
    if (field.path == "train.precision") choices = field.choices;
  }
  std::string names;
  for (const Precision precision : {Precision::kFp32, Precision::kTf32,
                                    Precision::kBf16, Precision::kFp16}) {
    names += std::string(names.empty() ? "" : "|") + precisionName(precision);
    EXPECT_EQ(parsePrecision({precisionName(precision), "test"},
                             torch::Device(torch::kCUDA)),
              precision);
  }
  EXPECT_EQ(choices, names);
}

TEST(BindOptions, ImageSplitsOfTheSpec) {
  const spec::Node tree = validatedSpec(
      "seed: 5\n"
      "data:\n"
      "  batch_size: 8\n"
      "  workers: auto\n"
      "  prefetch: 3\n"
      "  max_bad_images: 2%\n"
      "  transforms:\n"
      "    train: [ssgrl_train]\n"
      "    val: [resize 20x30, normalize]\n");
  const ImageSplit train = bindImageSplit(tree, /*train=*/true);
  EXPECT_EQ(train.loader.batch_size, 8);
  EXPECT_EQ(train.loader.workers, 0);  // one per core
  EXPECT_EQ(train.loader.prefetch, 3);
  EXPECT_EQ(train.loader.seed, 5u);
  EXPECT_TRUE(train.loader.shuffle);
  EXPECT_DOUBLE_EQ(train.loader.max_bad_images.fraction, 0.02);
  EXPECT_EQ(train.transforms.height(), 576);
  const ImageSplit val = bindImageSplit(tree, /*train=*/false);
  EXPECT_FALSE(val.loader.shuffle);
  EXPECT_EQ(val.transforms.describe(), "resize 20x30, normalize");

  // Lines 4: batch_size, 5: workers, 6: prefetch, 7: max_bad_images: the
  // schema's ranges, then what only the binder knows.
  const auto error = [](const std::string& batch_size,
                        const std::string& workers, const std::string& prefetch,
                        const std::string& max_bad_images) {
    try {
      bindImageSplit(
          validatedSpec("seed: 0\ndata:\n  batch_size: " + batch_size +
                        "\n  workers: " + workers +
                        "\n  prefetch: " + prefetch +
                        "\n  max_bad_images: " + max_bad_images + "\n"),
          /*train=*/true);
    } catch (const spec::SpecError& failure) {
      return std::string(failure.what());
    }
    return std::string("no error");
  };
  EXPECT_EQ(error("4", "0", "1", "1%"),
            "test.yaml:5:12: data.workers: expected an integer >= 1 or auto, "
            "found 0");
  EXPECT_EQ(error("4", "1", "0", "1%"),
            "test.yaml:6:13: data.prefetch: expected an integer >= 1, found 0");
  EXPECT_EQ(
      error("-1", "1", "1", "1%"),
      "test.yaml:4:15: data.batch_size: expected an integer >= 1, found -1");
  EXPECT_EQ(error("4", "1", "1", "lots"),
            "test.yaml:7:19: data.max_bad_images: expected a count (e.g. 20), "
            "a fraction below 1 (e.g. 0.01) or a percentage (e.g. 1%), found "
            "'lots'");
}

TEST(Ema, AveragesWeightsAndSwapsThemIn) {
  torch::nn::Linear layer(1, 1);
  {
    torch::NoGradGuard no_grad;
    layer->weight.fill_(1.0);
    layer->bias.fill_(0.0);
  }
  Ema ema(*layer, /*decay=*/0.75);
  {
    torch::NoGradGuard no_grad;
    layer->weight.fill_(5.0);
  }
  ema.update();  // 0.75 * 1 + 0.25 * 5 = 2
  EXPECT_FLOAT_EQ(layer->weight.item<float>(), 5.0f);
  ema.swap();
  EXPECT_FLOAT_EQ(layer->weight.item<float>(), 2.0f);
  ema.swap();
  EXPECT_FLOAT_EQ(layer->weight.item<float>(), 5.0f);
}

// A model as labrun's Model names it: backbone.* and head.*, with a
// BatchNorm for buffers.
struct TwoPart : torch::nn::Module {
  explicit TwoPart(std::int64_t classes)
      : backbone(register_module(
            "backbone", torch::nn::Sequential(torch::nn::Linear(4, 3),
                                              torch::nn::BatchNorm1d(3)))),
        head(register_module("head", torch::nn::Linear(3, classes))) {}
  torch::nn::Sequential backbone;
  torch::nn::Linear head;
};

// Buffers follow the model (a BatchNorm's running statistics are copied,
// not averaged), and the averages survive a checkpoint into a fresh model.
TEST(Ema, CopiesBuffersAndComesBackFromACheckpoint) {
  torch::manual_seed(2);
  TwoPart model(/*classes=*/2);
  auto& batch_norm = *model.backbone[1]->as<torch::nn::BatchNorm1d>();
  Ema ema(model, /*decay=*/0.5);
  const torch::Tensor initial_head = model.head->weight.detach().clone();
  {
    torch::NoGradGuard no_grad;
    model.head->weight.add_(2.0);
    batch_norm.running_mean.fill_(3.0);
  }
  ema.update();
  torch::serialize::OutputArchive out;
  ema.save(out);
  std::stringstream bytes;
  out.save_to(bytes);
  ema.swap();
  EXPECT_TRUE(torch::allclose(model.head->weight, initial_head + 1.0));
  EXPECT_TRUE(torch::equal(batch_norm.running_mean, torch::full({3}, 3.0)));

  torch::manual_seed(3);  // other initial weights
  TwoPart fresh(/*classes=*/2);
  Ema restored(fresh, /*decay=*/0.5);
  torch::serialize::InputArchive in;
  in.load_from(bytes);
  restored.load(in);
  restored.swap();
  EXPECT_TRUE(torch::equal(fresh.head->weight, model.head->weight));
  EXPECT_TRUE(torch::equal(
      fresh.backbone[1]->as<torch::nn::BatchNorm1d>()->running_mean,
      batch_norm.running_mean));
}

TEST(Transfer, TakesTheNamedModulesAndLeavesTheRest) {
  const std::string path = ::testing::TempDir() + "/transfer.pt";
  torch::manual_seed(1);
  TwoPart source(/*classes=*/5);
  source.backbone->forward(torch::randn({8, 4}));  // running statistics move
  {
    torch::serialize::OutputArchive archive, model;
    source.save(model);
    archive.write("model", model);
    archive.save_to(path);
  }
  const StateDict state = CheckpointReader(path).modelState();
  std::vector<std::string> keys;
  for (const auto& item : state) keys.push_back(item.first);
  EXPECT_EQ(keys, (std::vector<std::string>{
                      "backbone.0.bias", "backbone.0.weight", "backbone.1.bias",
                      "backbone.1.num_batches_tracked",
                      "backbone.1.running_mean", "backbone.1.running_var",
                      "backbone.1.weight", "head.bias", "head.weight"}));

  torch::manual_seed(2);
  TwoPart target(/*classes=*/7);  // another head: only the backbone fits
  const torch::Tensor head_before = target.head->weight.clone();
  loadModules(target, state, {"backbone"}, path);
  const auto theirs = source.named_parameters();
  for (const auto& item : target.named_parameters()) {
    if (item.key().rfind("backbone.", 0) == 0) {
      EXPECT_TRUE(torch::equal(item.value(), theirs[item.key()])) << item.key();
    }
  }
  EXPECT_TRUE(torch::equal(target.backbone->named_buffers()["1.running_mean"],
                           source.backbone->named_buffers()["1.running_mean"]));
  EXPECT_TRUE(torch::equal(target.head->weight, head_before));

  // The whole model: nothing is copied, the misfits are listed.
  torch::manual_seed(3);
  TwoPart fresh(/*classes=*/7);
  const torch::Tensor backbone_before =
      fresh.backbone[0]->as<torch::nn::Linear>()->weight.clone();
  try {
    loadModules(fresh, state, {}, path);
    ADD_FAILURE() << "the head does not fit";
  } catch (const std::runtime_error& error) {
    EXPECT_EQ(std::string(error.what()),
              "weights '" + path +
                  "' do not fit this model: mis-shaped keys (2): head.bias "
                  "[5] in the file, [7] in the model, head.weight [5, 3] in "
                  "the file, [7, 3] in the model");
  }
  EXPECT_TRUE(torch::equal(fresh.backbone[0]->as<torch::nn::Linear>()->weight,
                           backbone_before));
  // Integer weights would be truncated into the float ones: refused.
  StateDict integers = state;
  integers.at("head.bias") = integers.at("head.bias").to(torch::kInt);
  TwoPart same(/*classes=*/5);
  try {
    loadModules(same, integers, {"head"}, path);
    ADD_FAILURE() << "integer weights";
  } catch (const std::runtime_error& error) {
    EXPECT_EQ(std::string(error.what()),
              "weights '" + path +
                  "' do not fit this model: mis-typed keys (1): head.bias "
                  "Int in the file, Float in the model");
  }
  EXPECT_THROW(CheckpointReader(::testing::TempDir() + "/none.pt"),
               std::runtime_error);
}

TEST(Progress, PlainLinesOffATerminalAndABarOnOne) {
  std::ostringstream plain, bar;
  Progress lines(plain, /*terminal=*/false, /*quiet=*/false,
                 /*log_every=*/2, /*epochs=*/3, /*steps_per_epoch=*/4);
  lines.startEpoch(1, 0);
  for (int step = 1; step <= 4; ++step) lines.step(step, 0.5, 8);
  const std::string text = plain.str();
  EXPECT_EQ(std::count(text.begin(), text.end(), '\n'), 2);  // steps 2, 4
  EXPECT_EQ(text.rfind("epoch 1/3 step 2/4 loss 0.5000 ", 0), 0u) << text;
  EXPECT_EQ(text.find('\r'), std::string::npos);
  Progress drawn(bar, /*terminal=*/true, /*quiet=*/false, /*log_every=*/2,
                 /*epochs=*/3, /*steps_per_epoch=*/4);
  drawn.startEpoch(1, 0);
  drawn.step(4, 0.5, 8);
  EXPECT_NE(bar.str().find("\repoch 1/3 [########################] step 4/4"),
            std::string::npos)
      << bar.str();
  EXPECT_NE(bar.str().find(" eta "), std::string::npos);
  std::ostringstream silent;
  Progress quiet(silent, /*terminal=*/true, /*quiet=*/true, 1, 1, 1);
  quiet.startEpoch(1, 0);
  quiet.step(1, 0.5, 8);
  EXPECT_EQ(silent.str(), "");
}

}  // namespace
}  // namespace labrun::train
