// AccumulatingMetric, the plugin API's base for whole-split metrics, keeps
// its batches on the device they come from (so that evaluation never waits
// for the device per batch) and hands them back on the CPU, by sample and
// by class, the same values whichever the device.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <string>
#include <vector>

#include "fixtures/OnEachDevice.h"
#include "labrun/AccumulatingMetric.h"

namespace labrun {
namespace {

// Opens the base's views to the test.
class Collected : public AccumulatingMetric {
 public:
  MetricResult compute() const override { return {}; }
  std::vector<std::string> keys() const override { return {}; }
  using AccumulatingMetric::allMasks;
  using AccumulatingMetric::allMasksByClass;
  using AccumulatingMetric::allScores;
  using AccumulatingMetric::allScoresByClass;
  using AccumulatingMetric::allTargets;
  using AccumulatingMetric::allTargetsByClass;
  using AccumulatingMetric::empty;
};

void expectOnCpu(const torch::Tensor& actual, const torch::Tensor& expected) {
  EXPECT_TRUE(actual.device().is_cpu());
  EXPECT_EQ(actual.scalar_type(), torch::kFloat);
  EXPECT_TRUE(actual.is_contiguous());
  EXPECT_TRUE(torch::equal(actual, expected)) << actual << "\n" << expected;
}

class AccumulatingMetricTest : public fixtures::OnEachDevice {};

TEST_P(AccumulatingMetricTest, HandsBackEveryBatchOnTheCpuBySampleAndClass) {
  torch::manual_seed(0);
  // Scores in float64, as a head might give them, made float32 here.
  const torch::Tensor scores = torch::randn({7, 3}, torch::kDouble);
  const torch::Tensor targets = (torch::rand({7, 3}) < 0.5).to(torch::kFloat);
  const torch::Tensor mask = (torch::rand({7, 3}) < 0.8).to(torch::kFloat);
  Collected metric;
  EXPECT_TRUE(metric.empty());
  for (const auto& [start, rows] : {std::pair{0, 4}, std::pair{4, 3}}) {
    metric.update(scores.narrow(0, start, rows).to(device()),
                  targets.narrow(0, start, rows).to(device()),
                  mask.narrow(0, start, rows).to(device()));
  }
  EXPECT_FALSE(metric.empty());
  const torch::Tensor expected_scores = scores.to(torch::kFloat);
  expectOnCpu(metric.allScores(), expected_scores);
  expectOnCpu(metric.allTargets(), targets);
  expectOnCpu(metric.allMasks(), mask);
  expectOnCpu(metric.allScoresByClass(), expected_scores.t());
  expectOnCpu(metric.allTargetsByClass(), targets.t());
  expectOnCpu(metric.allMasksByClass(), mask.t());
  metric.reset();
  EXPECT_TRUE(metric.empty());
}

INSTANTIATE_TEST_SUITE_P(Devices, AccumulatingMetricTest, fixtures::kDevices);

}  // namespace
}  // namespace labrun
