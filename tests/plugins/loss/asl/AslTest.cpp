// The asymmetric loss through the real plugin: hand-computed single labels,
// and a float64 PyTorch rendering of the authors' formula
// (tests/data/asl/make_asl_reference.py) for the value and the gradient.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>

#include "fixtures/SlotValidation.h"
#include "plugins/PluginHost.h"

namespace labrun {
namespace {

using nlohmann::json;

class AslTest : public ::testing::Test {
 protected:
  void SetUp() override {
    host_.loadFile(std::string(LABRUN_PLUGIN_DIR) + "/liblabrun_loss_asl.so");
  }
  std::shared_ptr<Loss> make(double gamma_neg, double gamma_pos, double clip,
                             double eps = 1e-8, bool mean = false,
                             bool focusing_grad = true) {
    return host_.makeLoss(
        "asl",
        Params({{"gamma_neg", gamma_neg},
                {"gamma_pos", gamma_pos},
                {"clip", clip},
                {"eps", eps},
                {"reduction", std::string(mean ? "mean" : "sum")},
                {"focusing_grad", focusing_grad}}),
        ModelContext());
  }
  static double value(const std::shared_ptr<Loss>& loss, float logit,
                      float target) {
    return loss
        ->forward(torch::tensor({{logit}}), torch::tensor({{target}}),
                  torch::ones({1, 1}))
        .item<double>();
  }
  plugins::PluginHost host_;
};

TEST_F(AslTest, HandComputedSingleLabels) {
  const auto asl = make(/*gamma_neg=*/4, /*gamma_pos=*/0, /*clip=*/0.05);
  // logit 0: p = 0.5. Positive, gamma_pos 0: plain cross-entropy.
  EXPECT_NEAR(value(asl, 0.f, 1.f), std::log(2.0), 1e-6);
  // Negative: p_m = 0.5 - 0.05 = 0.45; -(0.45^4) log(0.55).
  EXPECT_NEAR(value(asl, 0.f, 0.f), -std::pow(0.45, 4) * std::log(0.55), 1e-7);
  // p = sigmoid(-3) = 0.0474 < clip: a discarded easy negative.
  EXPECT_EQ(value(asl, -3.f, 0.f), 0.0);
  // gamma_pos 1 at logit 1: -(1 - p) log p.
  const double p = 1 / (1 + std::exp(-1.0));
  EXPECT_NEAR(value(make(4, 1, 0.05), 1.f, 1.f), -(1 - p) * std::log(p), 1e-6);
  // Without clipping and focusing it is binary cross-entropy.
  EXPECT_NEAR(value(make(0, 0, 0), 1.f, 0.f), -std::log(1 - p), 1e-6);
}

TEST_F(AslTest, MaskedLabelsCountNeitherInSumNorInMean) {
  const torch::Tensor logits = torch::tensor({{0.f, 2.f}});
  const torch::Tensor targets = torch::tensor({{1.f, 0.f}});
  const torch::Tensor keep_first = torch::tensor({{1.f, 0.f}});
  for (bool mean : {false, true}) {
    const auto asl = make(4, 0, 0.05, 1e-8, mean);
    EXPECT_NEAR(asl->forward(logits, targets, keep_first).item<double>(),
                std::log(2.0), 1e-6);
  }
  const auto mean = make(4, 0, 0.05, 1e-8, /*mean=*/true);
  const auto sum = make(4, 0, 0.05, 1e-8, /*mean=*/false);
  const torch::Tensor all = torch::ones({1, 2});
  EXPECT_NEAR(mean->forward(logits, targets, all).item<double>(),
              sum->forward(logits, targets, all).item<double>() / 2, 1e-7);
}

TEST_F(AslTest, MatchesTheAuthorsFormulaInValueAndGradient) {
  std::ifstream in(std::string(LABRUN_TEST_DATA) + "/asl/asl_reference.json");
  const json fixture = json::parse(in);
  const auto tensor = [](const json& rows) {
    std::vector<double> values;
    for (const json& row : rows) {
      for (const json& v : row) values.push_back(v.get<double>());
    }
    return torch::tensor(values, torch::kDouble)
        .view({static_cast<std::int64_t>(rows.size()), -1});
  };
  const torch::Tensor targets = tensor(fixture["targets"]);
  const torch::Tensor mask = tensor(fixture["mask"]);
  ASSERT_EQ(fixture["cases"].size(), 4u);
  for (const json& entry : fixture["cases"]) {
    const json& o = entry["options"];
    SCOPED_TRACE(o.dump());
    const auto asl = make(o["gamma_neg"], o["gamma_pos"], o["clip"], o["eps"],
                          o["mean"], o["focusing_grad"]);
    const torch::Tensor logits = tensor(fixture["logits"]).requires_grad_(true);
    const torch::Tensor loss = asl->forward(logits, targets, mask);
    EXPECT_NEAR(loss.item<double>(), entry["loss"].get<double>(), 1e-12);
    loss.backward();
    EXPECT_LE(
        (logits.grad() - tensor(entry["grad"])).abs().max().item<double>(),
        1e-12);
  }
}

TEST_F(AslTest, FocusingGradChangesOnlyTheGradient) {
  const torch::Tensor targets = torch::tensor({{1.f, 0.f}});
  const torch::Tensor mask = torch::ones({1, 2});
  std::vector<torch::Tensor> grads;
  std::vector<double> values;
  for (bool focusing_grad : {true, false}) {
    const torch::Tensor logits = torch::tensor({{0.3f, 0.8f}}).requires_grad_();
    const torch::Tensor loss = make(4, 1, 0.05, 1e-8, false, focusing_grad)
                                   ->forward(logits, targets, mask);
    loss.backward();
    values.push_back(loss.item<double>());
    grads.push_back(logits.grad());
  }
  EXPECT_DOUBLE_EQ(values[0], values[1]);
  EXPECT_GT((grads[0] - grads[1]).abs().min().item<double>(), 1e-3);
}

TEST_F(AslTest, DeclaredRangesRefuseBadOptions) {
  const auto error = [this](const std::string& params) {
    return fixtures::slotError(host_, "loss", PluginKind::kLoss,
                               "loss: {name: asl, " + params + "}");
  };
  EXPECT_EQ(error("gamma_neg: 4, clip: 0.05"), "");
  EXPECT_EQ(error("gamma_neg: -1"),
            "test.yaml:1:30: loss.gamma_neg: expected a number >= 0, found -1");
  EXPECT_EQ(
      error("clip: 1.0"),
      "test.yaml:1:25: loss.clip: expected a number in [0, 1), found 1.0");
  EXPECT_EQ(error("eps: 0"),
            "test.yaml:1:24: loss.eps: expected a number in (0, 1), found 0");
}

}  // namespace
}  // namespace labrun
