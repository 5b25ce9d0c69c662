// CP/CR/CF1/OP/OR/OF1 through the real plugin: hand-computed cases (classes
// without positives, masks, top-k) and scikit-learn's
// precision_recall_fscore_support (tests/data/metric/make_sklearn_fixtures.py).
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>

#include "plugins/PluginHost.h"

namespace labrun {
namespace {

using nlohmann::json;

class PrfTest : public ::testing::Test {
 protected:
  void SetUp() override {
    host_.loadFile(std::string(LABRUN_PLUGIN_DIR) + "/liblabrun_metric_prf.so");
  }
  std::shared_ptr<Metric> make(std::int64_t top_k,
                               bool top_k_threshold = false) {
    ModelContext context;
    context.class_names = {"cat", "dog", "bird"};
    return host_.makeMetric("prf",
                            Params({{"threshold", 0.5},
                                    {"top_k", top_k},
                                    {"top_k_threshold", top_k_threshold}}),
                            context);
  }
  static double scalar(const MetricResult& result, const std::string& name) {
    for (const auto& [key, value] : result.scalars) {
      if (key == name) return value;
    }
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

// Metrics are given logits; the cases are written as probabilities.
torch::Tensor logits(const torch::Tensor& probabilities) {
  return torch::logit(probabilities);
}

// Three images; "bird" has no positive but one prediction.
const torch::Tensor kScores = logits(torch::tensor(
    {{0.9f, 0.6f, 0.2f}, {0.4f, 0.7f, 0.55f}, {0.8f, 0.3f, 0.1f}}));
const torch::Tensor kTargets =
    torch::tensor({{1.f, 0.f, 0.f}, {1.f, 1.f, 0.f}, {0.f, 1.f, 0.f}});

TEST_F(PrfTest, HandComputedAtThreshold) {
  auto metric = make(/*top_k=*/0);
  metric->update(kScores, kTargets, torch::ones_like(kTargets));
  const MetricResult result = metric->compute();
  // Predicted at >= 0.5: {cat, dog}, {dog, bird}, {cat}.
  // cat: 1 of 2 predictions right, 1 of 2 positives found; dog the same;
  // bird: 0 of 1, no positive (recall 0 by the zero-division rule).
  EXPECT_NEAR(scalar(result, "CP"), 100.0 / 3, 1e-9);
  EXPECT_NEAR(scalar(result, "CR"), 100.0 / 3, 1e-9);
  EXPECT_NEAR(scalar(result, "CF1"), 100.0 / 3, 1e-9);
  EXPECT_NEAR(scalar(result, "OP"), 100.0 * 2 / 5, 1e-9);
  EXPECT_NEAR(scalar(result, "OR"), 100.0 * 2 / 4, 1e-9);
  EXPECT_NEAR(scalar(result, "OF1"), 100.0 * 0.4 / 0.9, 1e-9);
  EXPECT_EQ(result.scalars.size(), 6u);  // no top-k scalars
  EXPECT_EQ(result.per_class_name, "F1");
  ASSERT_EQ(result.per_class.size(), 3u);
  EXPECT_NEAR(result.per_class[0], 50.0, 1e-9);
  EXPECT_NEAR(result.per_class[1], 50.0, 1e-9);
  EXPECT_TRUE(std::isnan(result.per_class[2]));
  EXPECT_EQ(result.positives, (std::vector<std::int64_t>{2, 2, 0}));
  ASSERT_EQ(result.notes.size(), 1u);
  EXPECT_NE(result.notes[0].find("bird"), std::string::npos);
}

TEST_F(PrfTest, HandComputedTopK) {
  auto metric = make(/*top_k=*/2);
  // Two batches accumulate like one.
  metric->update(kScores.narrow(0, 0, 1), kTargets.narrow(0, 0, 1),
                 torch::ones({1, 3}));
  metric->update(kScores.narrow(0, 1, 2), kTargets.narrow(0, 1, 2),
                 torch::ones({2, 3}));
  const MetricResult result = metric->compute();
  // Top 2: {cat, dog}, {dog, bird}, {cat, dog}. cat: P 1/2, R 1/2;
  // dog: P 2/3, R 1; bird: 0, 0.
  const double cp = (0.5 + 2.0 / 3) / 3, cr = 1.5 / 3;
  EXPECT_NEAR(scalar(result, "CP_top2"), 100 * cp, 1e-9);
  EXPECT_NEAR(scalar(result, "CR_top2"), 100 * cr, 1e-9);
  EXPECT_NEAR(scalar(result, "CF1_top2"), 100 * 2 * cp * cr / (cp + cr), 1e-9);
  EXPECT_NEAR(scalar(result, "OP_top2"), 100.0 * 3 / 6, 1e-9);
  EXPECT_NEAR(scalar(result, "OR_top2"), 100.0 * 3 / 4, 1e-9);
  EXPECT_NEAR(scalar(result, "OF1_top2"), 60.0, 1e-9);
  // ML-GCN's evaluation also requires the threshold: here that leaves the
  // threshold's own predictions.
  auto thresholded = make(/*top_k=*/2, /*top_k_threshold=*/true);
  thresholded->update(kScores, kTargets, torch::ones_like(kTargets));
  const MetricResult both = thresholded->compute();
  for (const std::string name : {"CP", "CR", "CF1", "OP", "OR", "OF1"}) {
    EXPECT_NEAR(scalar(both, name + "_top2"), scalar(both, name), 1e-12)
        << name;
  }
}

// keys() names what compute() records, in its order, for every class with
// positives: the top-k names follow top_k (even beyond the class count),
// none without it.
TEST_F(PrfTest, KeysNameWhatComputeRecords) {
  const torch::Tensor targets =
      torch::tensor({{1.f, 0.f, 1.f}, {1.f, 1.f, 0.f}, {0.f, 1.f, 0.f}});
  for (const std::int64_t top_k : {0, 2, 5}) {
    auto metric = make(top_k);
    metric->update(kScores, targets, torch::ones_like(targets));
    const std::vector<std::string> keys = metric->keys();
    EXPECT_EQ(names(metric->compute()), keys) << top_k;
    ASSERT_EQ(keys.size(), top_k > 0 ? 12u : 6u);
    EXPECT_EQ(keys.back(), top_k > 0 ? "OF1_top" + std::to_string(top_k)
                                     : std::string("OF1"));
  }
}

TEST_F(PrfTest, IgnoredLabelsAreNeitherCountedNorTopKCandidates) {
  auto metric = make(/*top_k=*/2);
  // cat is ignored: unmasked it would be the top prediction (and wrong).
  metric->update(logits(torch::tensor({{0.9f, 0.8f, 0.1f}})),
                 torch::tensor({{0.f, 1.f, 1.f}}),
                 torch::tensor({{0.f, 1.f, 1.f}}));
  const MetricResult result = metric->compute();
  // Threshold: dog right; bird missed; cat not counted (0 by zero division).
  EXPECT_NEAR(scalar(result, "CP"), 100.0 / 3, 1e-9);
  EXPECT_NEAR(scalar(result, "CR"), 100.0 / 3, 1e-9);
  EXPECT_NEAR(scalar(result, "OP"), 100.0, 1e-9);
  EXPECT_NEAR(scalar(result, "OR"), 50.0, 1e-9);
  // Top 2 among dog and bird: both right.
  EXPECT_NEAR(scalar(result, "CP_top2"), 200.0 / 3, 1e-9);
  EXPECT_NEAR(scalar(result, "OP_top2"), 100.0, 1e-9);
  EXPECT_NEAR(scalar(result, "OR_top2"), 100.0, 1e-9);
  EXPECT_TRUE(std::isnan(result.per_class[0]));
  EXPECT_EQ(result.positives, (std::vector<std::int64_t>{0, 1, 1}));
}

TEST_F(PrfTest, MatchesScikitLearn) {
  std::ifstream in(std::string(LABRUN_TEST_DATA) +
                   "/metric/sklearn_fixtures.json");
  const json fixture = json::parse(in);
  const auto matrix = [](const json& rows) {
    std::vector<torch::Tensor> list;
    for (const auto& row : rows.get<std::vector<std::vector<float>>>()) {
      list.push_back(torch::tensor(row));
    }
    return torch::stack(list);
  };
  const torch::Tensor scores = logits(matrix(fixture["scores"]));
  const torch::Tensor targets = matrix(fixture["targets"]);
  const json& reference = fixture["prf"];
  ModelContext context;
  auto metric = host_.makeMetric(
      "prf",
      Params({{"threshold", reference["threshold"].get<double>()},
              {"top_k", reference["top_k"].get<std::int64_t>()},
              {"top_k_threshold", false}}),
      context);
  for (std::int64_t start = 0; start < scores.size(0); start += 16) {
    const std::int64_t size =
        std::min<std::int64_t>(16, scores.size(0) - start);
    metric->update(scores.narrow(0, start, size),
                   targets.narrow(0, start, size),
                   torch::ones({size, scores.size(1)}));
  }
  const MetricResult result = metric->compute();
  const std::string top =
      "_top" + std::to_string(reference["top_k"].get<int>());
  for (const auto& [suffix, key] :
       {std::pair{std::string(), "at_threshold"}, {top, "top_k_predictions"}}) {
    SCOPED_TRACE(key);
    const json& sk = reference[key];
    const double p = sk["macro_precision"], r = sk["macro_recall"];
    EXPECT_NEAR(scalar(result, "CP" + suffix), p, 1e-9);
    EXPECT_NEAR(scalar(result, "CR" + suffix), r, 1e-9);
    // CF1 is the F1 of CP and CR, not scikit-learn's mean of class F1s.
    EXPECT_NEAR(scalar(result, "CF1" + suffix), 2 * p * r / (p + r), 1e-9);
    EXPECT_GT(std::abs(scalar(result, "CF1" + suffix) -
                       sk["macro_f1_mean_of_classes"].get<double>()),
              0.1);
    EXPECT_NEAR(scalar(result, "OP" + suffix), sk["micro_precision"], 1e-9);
    EXPECT_NEAR(scalar(result, "OR" + suffix), sk["micro_recall"], 1e-9);
    EXPECT_NEAR(scalar(result, "OF1" + suffix), sk["micro_f1"], 1e-9);
  }
  // Per-class F1 at the threshold; the class without positives (4) is
  // undefined here and 0 in scikit-learn.
  const auto f1 =
      reference["at_threshold"]["per_class_f1"].get<std::vector<double>>();
  ASSERT_EQ(result.per_class.size(), f1.size());
  for (std::size_t k = 0; k < f1.size(); ++k) {
    if (k == 4) {
      EXPECT_TRUE(std::isnan(result.per_class[k]));
    } else {
      EXPECT_NEAR(result.per_class[k], f1[k], 1e-9) << k;
    }
  }
}

}  // namespace
}  // namespace labrun
