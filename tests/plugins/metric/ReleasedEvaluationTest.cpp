// The `map` and `prf` plugins against transcriptions of the released
// evaluations (tests/data/metric/make_released_fixtures.py): SSGRL's
// voc12_mAP and ML-GCN's overall/overall_topk, fed logits as both do, on
// tied scores, saturated probabilities and classes without positives.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>

#include "plugins/PluginHost.h"

namespace labrun {
namespace {

using nlohmann::json;

torch::Tensor matrix(const json& rows) {
  std::vector<torch::Tensor> list;
  for (const auto& row : rows.get<std::vector<std::vector<float>>>()) {
    list.push_back(torch::tensor(row));
  }
  return torch::stack(list);
}

double scalar(const MetricResult& result, const std::string& name) {
  for (const auto& [key, value] : result.scalars) {
    if (key == name) return value;
  }
  ADD_FAILURE() << "no scalar " << name;
  return NAN;
}

class ReleasedEvaluation : public ::testing::Test {
 protected:
  void SetUp() override {
    host_.loadFile(std::string(LABRUN_PLUGIN_DIR) + "/liblabrun_metric_map.so");
    host_.loadFile(std::string(LABRUN_PLUGIN_DIR) + "/liblabrun_metric_prf.so");
    std::ifstream in(std::string(LABRUN_TEST_DATA) +
                     "/metric/released_fixtures.json");
    fixture_ = json::parse(in);
  }

  // Two batches, as an evaluation pass gives them.
  static MetricResult run(Metric& metric, const torch::Tensor& scores,
                          const torch::Tensor& targets) {
    const std::int64_t half = scores.size(0) / 2;
    metric.update(scores.narrow(0, 0, half), targets.narrow(0, 0, half),
                  torch::ones({half, scores.size(1)}));
    metric.update(scores.narrow(0, half, scores.size(0) - half),
                  targets.narrow(0, half, scores.size(0) - half),
                  torch::ones({scores.size(0) - half, scores.size(1)}));
    return metric.compute();
  }

  MetricResult map(const torch::Tensor& scores, const torch::Tensor& targets) {
    auto metric = host_.makeMetric(
        "map", Params({{"ap", std::string("voc_interpolated")}}), {});
    return run(*metric, scores, targets);
  }

  plugins::PluginHost host_;
  json fixture_;
};

void expectPerClassAp(const MetricResult& result, const json& reference) {
  ASSERT_EQ(result.per_class.size(), reference.size());
  double sum = 0;
  int defined = 0;
  for (std::size_t k = 0; k < reference.size(); ++k) {
    if (reference[k].is_null()) {
      EXPECT_TRUE(std::isnan(result.per_class[k])) << "class " << k;
      continue;
    }
    EXPECT_NEAR(result.per_class[k], 100 * reference[k].get<double>(), 1e-9)
        << "class " << k;
    sum += 100 * reference[k].get<double>();
    ++defined;
  }
  // labrun leaves classes without positives out of the mean.
  EXPECT_NEAR(scalar(result, "mAP"), sum / defined, 1e-9);
}

TEST_F(ReleasedEvaluation, MapOnLogitsMatchesSsgrl) {
  for (const json& c : fixture_["cases"]) {
    SCOPED_TRACE(c["name"].get<std::string>());
    const torch::Tensor logits = matrix(c["logits"]);
    const torch::Tensor targets = matrix(c["targets"]);
    expectPerClassAp(map(logits, targets), c["ssgrl_per_class_ap"]);
    // Released SSGRL's mean is NaN with a class without positives.
    EXPECT_TRUE(c["ssgrl_mAP_all_classes"].is_null());
  }
}

TEST_F(ReleasedEvaluation, ProbabilitiesWouldRankDifferently) {
  // Why the host passes logits: float32 sigmoids tie (at 1 above a logit of
  // about 16.6, at 0.5 just below 0), and those ties change the AP. The
  // metric itself agrees with SSGRL on either input.
  for (const json& c : fixture_["cases"]) {
    SCOPED_TRACE(c["name"].get<std::string>());
    ASSERT_NE(c["ssgrl_per_class_ap"],
              c["ssgrl_per_class_ap_on_probabilities"]);
    const torch::Tensor probabilities = torch::sigmoid(matrix(c["logits"]));
    expectPerClassAp(map(probabilities, matrix(c["targets"])),
                     c["ssgrl_per_class_ap_on_probabilities"]);
  }
}

TEST_F(ReleasedEvaluation, PrfDefaultsMatchMlGcn) {
  // top_k_threshold defaults to ML-GCN's rule (a top-k label must also
  // reach the threshold).
  const auto params = host_.find(PluginKind::kMetric, "prf").params();
  const auto declared =
      std::find_if(params.begin(), params.end(), [](const ParamSpec& p) {
        return std::strcmp(p.name, "top_k_threshold") == 0;
      });
  ASSERT_NE(declared, params.end());
  EXPECT_STREQ(declared->default_yaml, "true");
  const std::int64_t k = fixture_["top_k"];
  auto metric = host_.makeMetric(
      "prf",
      Params({{"threshold", 0.5}, {"top_k", k}, {"top_k_threshold", true}}),
      {});
  for (const json& c : fixture_["cases"]) {
    SCOPED_TRACE(c["name"].get<std::string>());
    metric->reset();
    const MetricResult result =
        run(*metric, matrix(c["logits"]), matrix(c["targets"]));
    const std::string top = "_top" + std::to_string(k);
    for (const auto& [suffix, key] :
         {std::pair{std::string(), std::string("overall")},
          {top, "overall" + top}}) {
      SCOPED_TRACE(key);
      const json& mlgcn = c["mlgcn"][key];
      for (const std::string name : {"OP", "OR", "OF1", "CP"}) {
        EXPECT_NEAR(scalar(result, name + suffix),
                    100 * mlgcn[name].get<double>(), 1e-9)
            << name;
      }
      // ML-GCN's CR is NaN with a class without positives (0 / 0); labrun
      // counts that class's recall as 0.
      EXPECT_TRUE(mlgcn["CR"].is_null());
      const json& zero = c["zero_recall_for_empty_classes"][key];
      EXPECT_NEAR(scalar(result, "CR" + suffix), 100 * zero["CR"].get<double>(),
                  1e-9);
      EXPECT_NEAR(scalar(result, "CF1" + suffix),
                  100 * zero["CF1"].get<double>(), 1e-9);
    }
  }
}

}  // namespace
}  // namespace labrun
