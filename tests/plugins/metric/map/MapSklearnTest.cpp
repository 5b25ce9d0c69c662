// The `map` metric's `ap: sklearn` mode against scikit-learn's
// average_precision_score per class (tests/data/metric/
// make_sklearn_fixtures.py): tied scores, ignored labels, a class without
// positives, several batches.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>

#include "plugins/PluginHost.h"

namespace labrun {
namespace {

torch::Tensor matrix(const nlohmann::json& rows) {
  std::vector<torch::Tensor> list;
  for (const auto& row : rows.get<std::vector<std::vector<float>>>()) {
    list.push_back(torch::tensor(row));
  }
  return torch::stack(list);
}

TEST(MapSklearn, PerClassApMatchesScikitLearn) {
  std::ifstream in(std::string(LABRUN_TEST_DATA) +
                   "/metric/sklearn_fixtures.json");
  const nlohmann::json fixture = nlohmann::json::parse(in);
  const torch::Tensor scores = matrix(fixture["scores"]);
  const torch::Tensor targets = matrix(fixture["targets"]);
  const torch::Tensor mask = matrix(fixture["mask"]);
  // The fixture must exercise ties and ignored labels.
  ASSERT_LT(std::get<0>(torch::_unique(scores.flatten())).numel(),
            scores.numel() / 4);
  ASSERT_GT((mask == 0).sum().item<std::int64_t>(), 0);

  plugins::PluginHost host;
  host.loadFile(std::string(LABRUN_PLUGIN_DIR) + "/liblabrun_metric_map.so");
  auto metric = host.makeMetric("map", Params({{"ap", std::string("sklearn")}}),
                                ModelContext());
  for (std::int64_t start = 0; start < scores.size(0); start += 15) {
    const std::int64_t size =
        std::min<std::int64_t>(15, scores.size(0) - start);
    metric->update(scores.narrow(0, start, size),
                   targets.narrow(0, start, size), mask.narrow(0, start, size));
  }
  const MetricResult result = metric->compute();
  const nlohmann::json& reference = fixture["map"]["per_class_ap"];
  ASSERT_EQ(result.per_class.size(), reference.size());
  for (std::size_t k = 0; k < reference.size(); ++k) {
    if (reference[k].is_null()) {
      EXPECT_TRUE(std::isnan(result.per_class[k])) << k;
    } else {
      EXPECT_NEAR(result.per_class[k], reference[k].get<double>(), 1e-9) << k;
    }
  }
  ASSERT_FALSE(result.scalars.empty());
  EXPECT_EQ(result.scalars[0].first, "mAP");
  EXPECT_NEAR(result.scalars[0].second, fixture["map"]["mAP"].get<double>(),
              1e-9);
}

}  // namespace
}  // namespace labrun
