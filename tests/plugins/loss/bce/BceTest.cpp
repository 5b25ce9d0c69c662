// The default loss through the real plugin, against hand-computed values:
// the labels that count (mask 1) are averaged, ignored ones add neither
// loss nor gradient, and pos_weight scales the positive term.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>

#include "plugins/PluginHost.h"

namespace labrun {
namespace {

class BceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    host_.loadFile(std::string(LABRUN_PLUGIN_DIR) + "/liblabrun_loss_bce.so");
  }
  std::shared_ptr<Loss> make(double pos_weight) {
    return host_.makeLoss("bce", Params({{"pos_weight", pos_weight}}),
                          ModelContext());
  }
  plugins::PluginHost host_;
};

double sigmoid(double x) { return 1 / (1 + std::exp(-x)); }

TEST_F(BceTest, AveragesTheLabelsThatCount) {
  const auto bce = make(/*pos_weight=*/1.0);
  const torch::Tensor logits =
      torch::tensor({{0.0, 2.0}, {-1.0, 3.0}}, torch::kFloat64)
          .requires_grad_();
  const torch::Tensor targets =
      torch::tensor({{1.0, 0.0}, {0.0, 1.0}}, torch::kFloat64);
  // The second sample's second label is ignored.
  const torch::Tensor mask =
      torch::tensor({{1.0, 1.0}, {1.0, 0.0}}, torch::kFloat64);
  const torch::Tensor loss = bce->forward(logits, targets, mask);
  // -log s(0), -log(1 - s(2)), -log(1 - s(-1)) over 3 labels.
  const double expected =
      (std::log(2.0) - std::log(1 - sigmoid(2)) - std::log(1 - sigmoid(-1))) /
      3;
  EXPECT_NEAR(loss.item<double>(), expected, 1e-12);
  loss.backward();
  // d/dx = (s(x) - t) / 3 where counted, 0 where ignored.
  const torch::Tensor grad =
      torch::tensor({{(0.5 - 1) / 3, sigmoid(2) / 3}, {sigmoid(-1) / 3, 0.0}},
                    torch::kFloat64);
  EXPECT_TRUE(torch::allclose(logits.grad(), grad, /*rtol=*/0,
                              /*atol=*/1e-12))
      << logits.grad();
}

TEST_F(BceTest, PosWeightScalesThePositiveTermOnly) {
  const auto bce = make(/*pos_weight=*/3.0);
  const torch::Tensor ones = torch::ones({1, 1}, torch::kFloat64);
  const auto value = [&](double logit, double target) {
    return bce
        ->forward(torch::tensor({{logit}}, torch::kFloat64),
                  torch::tensor({{target}}, torch::kFloat64), ones)
        .item<double>();
  };
  EXPECT_NEAR(value(0.0, 1.0), 3 * std::log(2.0), 1e-12);
  EXPECT_NEAR(value(1.0, 0.0), -std::log(1 - sigmoid(1)), 1e-12);
}

// A batch whose labels are all ignored (e.g. unannotated images kept with
// data.drop_unannotated: false) gives 0 and no gradient, not NaN.
TEST_F(BceTest, AllIgnoredIsZeroNotNan) {
  const auto bce = make(/*pos_weight=*/1.0);
  const torch::Tensor logits = torch::randn({2, 3}).requires_grad_();
  const torch::Tensor loss =
      bce->forward(logits, torch::ones({2, 3}), torch::zeros({2, 3}));
  EXPECT_EQ(loss.item<double>(), 0.0);
  loss.backward();
  EXPECT_TRUE(torch::equal(logits.grad(), torch::zeros({2, 3})));
}

}  // namespace
}  // namespace labrun
