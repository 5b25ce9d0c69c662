// Per-class F1 thresholds and CP..OF1 at them, against the brute-force
// scikit-learn reference (tests/data/metric/make_threshold_fixtures.py),
// through the real prf plugin.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>

#include "train/ClassThresholds.h"

namespace labrun::train {
namespace {

using nlohmann::json;

torch::Tensor matrix(const json& rows) {
  std::vector<float> values;
  for (const auto& row : rows) {
    for (const auto& value : row) values.push_back(value.get<float>());
  }
  return torch::tensor(values).reshape(
      {static_cast<std::int64_t>(rows.size()), -1});
}

// Ties in F1 go to the highest threshold: predicting {4} and predicting
// everything both give 2/3 here.
TEST(ClassThresholdsTest, TiesKeepTheHighestThreshold) {
  const auto thresholds = chooseF1Thresholds(
      torch::tensor({4.f, 3.f, 2.f, 1.f}).unsqueeze(1),
      torch::tensor({1.f, 0.f, 0.f, 1.f}).unsqueeze(1), torch::ones({4, 1}));
  ASSERT_EQ(thresholds.size(), 1u);
  EXPECT_EQ(thresholds[0], 4.0);
}

TEST(ClassThresholdsTest, MatchBruteForceReference) {
  std::ifstream in(std::string(LABRUN_TEST_DATA) +
                   "/metric/threshold_fixtures.json");
  const json fixture = json::parse(in);
  plugins::PluginHost host;
  host.loadFile(std::string(LABRUN_PLUGIN_DIR) + "/liblabrun_metric_prf.so");
  int index = 0;
  for (const json& c : fixture.at("cases")) {
    SCOPED_TRACE("case " + std::to_string(index++));
    const torch::Tensor logits = matrix(c.at("logits"));
    const torch::Tensor targets = matrix(c.at("targets"));
    const torch::Tensor mask = matrix(c.at("mask"));
    const auto thresholds = chooseF1Thresholds(logits, targets, mask);
    const json& want = c.at("thresholds");
    ASSERT_EQ(thresholds.size(), want.size());
    std::vector<std::string> names;
    for (std::size_t k = 0; k < want.size(); ++k) {
      names.push_back("c" + std::to_string(k));
      if (want[k].is_null()) {
        EXPECT_FALSE(thresholds[k]) << "class " << k;
      } else {
        ASSERT_TRUE(thresholds[k]) << "class " << k;
        // Float32 scores: the very value, not a neighbour.
        EXPECT_EQ(*thresholds[k], want[k].get<double>()) << "class " << k;
      }
    }
    const MetricResult at = prfAtThresholds(host, thresholds, /*fallback=*/0.0,
                                            logits, targets, mask, names);
    const json& prf = c.at("prf");
    ASSERT_EQ(at.scalars.size(), 6u);
    for (const auto& [key, value] : at.scalars) {
      EXPECT_NEAR(value, prf.at(key).get<double>(), 1e-9) << key;
    }
    ASSERT_EQ(at.per_class.size(), want.size());
    for (std::size_t k = 0; k < want.size(); ++k) {
      const json& f1 = prf.at("F1")[k];
      if (f1.is_null()) {
        EXPECT_TRUE(std::isnan(at.per_class[k])) << "class " << k;
      } else {
        EXPECT_NEAR(at.per_class[k], f1.get<double>(), 1e-9) << "class " << k;
      }
    }
  }
}

}  // namespace
}  // namespace labrun::train
