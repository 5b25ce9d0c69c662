// mAP as in the released SSGRL evaluation (and scikit-learn's variant),
// checked against hand-computed values through the real plugin library.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>

#include "plugins/PluginHost.h"

namespace labrun {
namespace {

class MapMetricTest : public ::testing::Test {
 protected:
  void SetUp() override {
    host_.loadFile(std::string(LABRUN_PLUGIN_DIR) + "/liblabrun_metric_map.so");
  }
  MetricResult evaluate(const std::string& ap, torch::Tensor scores,
                        torch::Tensor targets, torch::Tensor mask = {}) {
    ModelContext context;
    context.class_names = {"cat", "dog", "bird"};
    auto metric = host_.makeMetric("map", Params({{"ap", ap}}), context);
    if (!mask.defined()) mask = torch::ones_like(targets);
    metric->update(scores, targets, mask);
    return metric->compute();
  }
  static double scalar(const MetricResult& result, const std::string& name) {
    for (const auto& [key, value] : result.scalars)
      if (key == name) return value;
    ADD_FAILURE() << "no scalar " << name;
    return NAN;
  }
  static std::vector<std::string> names(const MetricResult& result) {
    std::vector<std::string> names;
    for (const auto& scalar : result.scalars) names.push_back(scalar.first);
    return names;
  }
  plugins::PluginHost host_;
};

// Ranking + - + -: precision 1 at recall 1/2, 2/3 at recall 1.
TEST_F(MapMetricTest, SingleClassHandComputed) {
  const auto result = evaluate(
      "voc_interpolated", torch::tensor({{0.9f}, {0.8f}, {0.7f}, {0.6f}}),
      torch::tensor({{1.f}, {0.f}, {1.f}, {0.f}}));
  EXPECT_NEAR(result.per_class.at(0), 100.0 * (0.5 * 1.0 + 0.5 * 2.0 / 3.0),
              1e-9);
  EXPECT_NEAR(scalar(result, "mAP"), result.per_class.at(0), 1e-12);
}

// Interpolation: a later, higher precision lifts the earlier recall steps.
TEST_F(MapMetricTest, VocInterpolationTakesMaxPrecisionToTheRight) {
  // Ranking - + + : precision 1/2 at recall 1/2, 2/3 at recall 1.
  const auto result = evaluate("voc_interpolated",
                               torch::tensor({{0.9f}, {0.5f}, {0.4f}}),
                               torch::tensor({{0.f}, {1.f}, {1.f}}));
  EXPECT_NEAR(result.per_class.at(0), 100.0 * 2.0 / 3.0, 1e-9);
}

// Tied scores: VOC ranks them in input order; scikit-learn makes one
// threshold of them (precision 1/2 at recall 1/2, then 2/3 at recall 1).
TEST_F(MapMetricTest, TiesVocStableVersusSklearnGrouped) {
  const auto scores = torch::tensor({{0.8f}, {0.8f}, {0.3f}});
  const auto targets = torch::tensor({{0.f}, {1.f}, {1.f}});
  EXPECT_NEAR(evaluate("voc_interpolated", scores, targets).per_class.at(0),
              100.0 * 2.0 / 3.0, 1e-9);
  EXPECT_NEAR(evaluate("sklearn", scores, targets).per_class.at(0),
              100.0 * (0.5 * 0.5 + 0.5 * 2.0 / 3.0), 1e-9);
  // Reversed input order of the tie: VOC now ranks the positive first.
  EXPECT_NEAR(evaluate("voc_interpolated", torch::tensor({{0.8f}, {0.8f}, {0.3f}}),
                       torch::tensor({{1.f}, {0.f}, {1.f}}))
                  .per_class.at(0),
              100.0 * (0.5 * 1.0 + 0.5 * 2.0 / 3.0), 1e-9);
}

TEST_F(MapMetricTest, ClassWithoutPositivesIsLeftOutAndNamed) {
  const auto scores =
      torch::tensor({{0.9f, 0.2f, 0.1f}, {0.1f, 0.8f, 0.7f}, {0.5f, 0.4f, 0.3f}});
  const auto targets =
      torch::tensor({{1.f, 0.f, 0.f}, {0.f, 1.f, 0.f}, {0.f, 0.f, 0.f}});
  const auto result = evaluate("voc_interpolated", scores, targets);
  ASSERT_EQ(result.per_class.size(), 3u);
  EXPECT_DOUBLE_EQ(result.per_class[0], 100.0);
  EXPECT_DOUBLE_EQ(result.per_class[1], 100.0);
  EXPECT_TRUE(std::isnan(result.per_class[2]));
  EXPECT_EQ(result.positives, (std::vector<std::int64_t>{1, 1, 0}));
  EXPECT_DOUBLE_EQ(scalar(result, "mAP"), 100.0);  // not NaN
  EXPECT_DOUBLE_EQ(scalar(result, "mAP_classes"), 2.0);
  ASSERT_EQ(result.notes.size(), 1u);
  EXPECT_EQ(result.notes[0],
            "mAP over 2 of 3 classes; left out (no positives): bird");
}

// keys() names what compute() records (in its order) when every class has
// positives; without any, mAP is missing but named all the same.
TEST_F(MapMetricTest, KeysNameWhatComputeRecords) {
  ModelContext context;
  context.class_names = {"cat", "dog"};
  const auto scores = torch::tensor({{0.9f, 0.2f}, {0.1f, 0.8f}});
  for (const std::string ap : {"voc_interpolated", "sklearn"}) {
    auto metric = host_.makeMetric("map", Params({{"ap", ap}}), context);
    metric->update(scores, torch::eye(2), torch::ones({2, 2}));
    EXPECT_EQ(names(metric->compute()), metric->keys()) << ap;
    metric->reset();
    metric->update(scores, torch::zeros({2, 2}), torch::ones({2, 2}));
    EXPECT_EQ(names(metric->compute()),
              std::vector<std::string>{"mAP_classes"});
    EXPECT_EQ(metric->keys(), (std::vector<std::string>{"mAP", "mAP_classes"}));
  }
}

TEST_F(MapMetricTest, MaskedLabelsAreIgnored) {
  // The top-scored negative is masked (e.g. VOC difficult): AP becomes 1.
  const auto result = evaluate("voc_interpolated",
                               torch::tensor({{0.9f}, {0.8f}, {0.1f}}),
                               torch::tensor({{0.f}, {1.f}, {0.f}}),
                               torch::tensor({{0.f}, {1.f}, {1.f}}));
  EXPECT_DOUBLE_EQ(result.per_class.at(0), 100.0);
}

TEST_F(MapMetricTest, AccumulatesOverBatchesAndResets) {
  ModelContext context;
  auto metric = host_.makeMetric("map", Params({{"ap", std::string("voc_interpolated")}}), context);
  metric->update(torch::tensor({{0.9f}, {0.8f}}), torch::tensor({{1.f}, {0.f}}),
                 torch::ones({2, 1}));
  metric->update(torch::tensor({{0.7f}, {0.6f}}), torch::tensor({{1.f}, {0.f}}),
                 torch::ones({2, 1}));
  EXPECT_NEAR(metric->compute().per_class.at(0),
              100.0 * (0.5 * 1.0 + 0.5 * 2.0 / 3.0), 1e-9);
  metric->reset();
  EXPECT_TRUE(metric->compute().scalars.empty());
}

}  // namespace
}  // namespace labrun
