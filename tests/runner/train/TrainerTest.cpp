#include "train/Trainer.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <filesystem>
#include <fstream>
#include <map>

#include "data/SyntheticDataset.h"
#include "plugins/PluginHost.h"

namespace labrun::train {
namespace {
namespace fs = std::filesystem;

std::string readFile(const std::string& path) {
  std::ifstream in(path);
  return {std::istreambuf_iterator<char>(in), {}};
}

TEST(WriteFileAtomically, FailedWriteKeepsPreviousFile) {
  const std::string dir = ::testing::TempDir() + "/atomic";
  fs::create_directories(dir);
  const std::string path = dir + "/ckpt.pt";
  writeFileAtomically(path, [](const std::string& tmp) {
    std::ofstream(tmp) << "first";
  });
  EXPECT_EQ(readFile(path), "first");
  EXPECT_THROW(writeFileAtomically(path,
                                   [](const std::string& tmp) {
                                     std::ofstream(tmp) << "half";
                                     throw std::runtime_error("disk full");
                                   }),
               std::runtime_error);
  EXPECT_EQ(readFile(path), "first");
  EXPECT_FALSE(fs::exists(path + ".tmp"));
}

TEST(SyntheticDataset, DeterministicAndCorrelated) {
  data::SyntheticOptions options;
  options.size = 2000;
  const auto a = data::makeSyntheticDataset(options);
  const auto b = data::makeSyntheticDataset(options);
  EXPECT_TRUE(torch::equal(a.images, b.images));
  EXPECT_TRUE(torch::equal(a.targets, b.targets));
  options.seed += 1;
  EXPECT_FALSE(torch::equal(a.targets, data::makeSyntheticDataset(options).targets));

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

  Recorder train(std::uint64_t seed, std::int64_t epochs,
                 const std::string& checkpoint_dir = "") {
    torch::manual_seed(seed);
    ModelContext context;
    context.num_classes = train_.numClasses();
    context.class_names = train_.class_names;
    auto backbone = host_.makeBackbone(
        "smallconv",
        Params({{"channels", std::vector<std::int64_t>{8, 16}},
                {"batch_norm", true}}),
        context);
    context.in_channels = backbone->outChannels();
    auto head = host_.makeHead(
        "fc", Params({{"pool", std::string("avg")}, {"dropout", 0.0}}), context);
    Model model(backbone, head);
    auto loss = host_.makeLoss("bce", Params({{"pos_weight", 1.0}}), context);
    auto metric = host_.makeMetric(
        "map", Params({{"ap", std::string("voc_interpolated")}}), context);
    TrainerOptions options;
    options.epochs = epochs;
    options.log_every = 0;
    options.save_checkpoints = !checkpoint_dir.empty();
    options.checkpoint_dir = checkpoint_dir;
    Recorder recorder;
    std::ostringstream log;
    Trainer trainer(model, loss, {{"map", metric}},
                    std::make_unique<torch::optim::Adam>(
                        model->parameters(), torch::optim::AdamOptions(3e-3)),
                    options, recorder, log);
    data::BatchIterator train_batches(train_, /*batch_size=*/32,
                                      /*shuffle=*/true, seed);
    data::BatchIterator val_batches(val_, /*batch_size=*/32,
                                    /*shuffle=*/false, seed);
    trainer.fit(train_batches, val_batches);
    return recorder;
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
  EXPECT_EQ(recorder.class_metric_calls, 3);
  ASSERT_EQ(recorder.checkpoints.size(), 3u);
  for (const auto& saved : recorder.checkpoints) {
    EXPECT_TRUE(fs::exists(saved.path)) << saved.path;
  }
  EXPECT_TRUE(recorder.checkpoints.front().best);
  // The checkpoint holds the model and optimizer states.
  torch::serialize::InputArchive archive, model;
  archive.load_from(recorder.checkpoints.back().path);
  EXPECT_TRUE(archive.try_read("model", model));
  torch::Tensor epoch;
  archive.read("epoch", epoch);
  EXPECT_EQ(epoch.item<std::int64_t>(), 3);
}

}  // namespace
}  // namespace labrun::train
