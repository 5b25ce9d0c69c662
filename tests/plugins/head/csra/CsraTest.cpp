// The csra head against the Python transcription of the released CSRA code
// (tests/data/csra/make_csra_reference.py): logits and gradients for 1, 2
// and 4 heads (softmax temperatures and the max-pooling head), and the
// import of a checkpoint in the released format.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <functional>

#include "fixtures/ShapedJson.h"
#include "fixtures/SlotValidation.h"
#include "fixtures/TestContext.h"
#include "plugins/PluginHost.h"

namespace labrun {
namespace {

const std::string kData = std::string(LABRUN_TEST_DATA) + "/csra/";

class CsraTest : public ::testing::Test {
 protected:
  void SetUp() override {
    host_.loadFile(std::string(LABRUN_PLUGIN_DIR) + "/liblabrun_head_csra.so");
    reference_ = fixtures::readJsonFile(kData + "csra_reference.json");
  }

  // 3 classes, 4 channels, the fixture's lambda.
  std::shared_ptr<Head> make(std::int64_t heads,
                             const std::string& weights = "",
                             const std::string& prefix = "") {
    return host_.makeHead(
        "csra",
        host_.defaultParams(PluginKind::kHead, "csra",
                            {{"num_heads", heads},
                             {"lam", reference_["lam"].get<double>()},
                             {"weights", weights},
                             {"weights_prefix", prefix}}),
        fixtures::testContext(kData, /*classes=*/3, /*channels=*/4));
  }

  plugins::PluginHost host_;
  nlohmann::json reference_;
};

TEST_F(CsraTest, LogitsAndGradientsMatchTheReleasedCode) {
  for (const std::int64_t heads : {1, 2, 4}) {
    SCOPED_TRACE(heads);
    const nlohmann::json& want = reference_[std::to_string(heads)];
    auto head = make(heads);
    head->to(torch::kDouble);
    fixtures::setParameters(*head, want["params"]);
    fixtures::expectForwardAndGradients(*head, reference_, want, 1e-12);
  }
}

// The released state dict: backbone keys at the top level (ignored), the
// classifier's under classifier.
TEST_F(CsraTest, ReleasedCheckpointLoadsUnderItsPrefix) {
  auto head = make(4, "released_checkpoint.pth", "classifier.");
  head->to(torch::kDouble);
  fixtures::expectNear(
      head->forward(fixtures::shapedTensor(reference_["features"])),
      fixtures::shapedTensor(reference_["checkpoint"]["logits"]), 1e-12,
      "logits");
}

TEST_F(CsraTest, BadHeadCountsAndPrefixesAreNamed) {
  const auto errorOf = [&](const std::function<void()>& action) {
    try {
      action();
    } catch (const plugins::PluginError& error) {
      return std::string(error.what());
    }
    return std::string();
  };
  EXPECT_EQ(fixtures::slotError(host_, "head", PluginKind::kHead,
                                "head: {name: csra, num_heads: 3}"),
            "test.yaml:1:31: head.num_heads: expected one of 1|2|4|6|8, found "
            "integer 3");
  // Without the prefix no key is the head's: the file's prefixes are listed.
  const std::string prefix =
      errorOf([&] { make(4, "released_checkpoint.pth"); });
  EXPECT_NE(prefix.find(kData + "released_checkpoint.pth"), std::string::npos)
      << prefix;
  EXPECT_NE(prefix.find("classifier."), std::string::npos) << prefix;
  // Two heads' worth of entries for a 4-head model.
  const std::string fit =
      errorOf([&] { make(2, "released_checkpoint.pth", "classifier."); });
  EXPECT_NE(fit.find("multi_head.2.head.weight"), std::string::npos) << fit;
}

}  // namespace
}  // namespace labrun
