// The mlgcn head against the Python transcription of the released ML-GCN
// code (tests/data/mlgcn/make_mlgcn_reference.py): the graph it builds from
// co-occurrence counts (as released and as the paper's eq. 8), its logits
// and gradients, and the import of a checkpoint in the released format.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "fixtures/ShapedJson.h"
#include "fixtures/SlotValidation.h"
#include "fixtures/TestContext.h"
#include "plugins/PluginHost.h"

namespace labrun {
namespace {

using fixtures::shapedTensor;

const std::string kData = std::string(LABRUN_TEST_DATA) + "/mlgcn/";

class MlGcnTest : public ::testing::Test {
 protected:
  void SetUp() override {
    host_.loadFile(std::string(LABRUN_PLUGIN_DIR) + "/liblabrun_head_mlgcn.so");
    reference_ = fixtures::readJsonFile(kData + "mlgcn_reference.json");
  }

  // The fixture's head (4 classes, 3 channels, its files), `overrides` on
  // top.
  std::shared_ptr<Head> make(std::map<std::string, ParamValue> overrides,
                             std::int64_t channels = 3) {
    std::map<std::string, ParamValue> values = {
        {"embeddings", std::string("words.npy")},
        {"adjacency", std::string("cooccurrence.npy")},
        {"class_counts", std::string("class_counts.npy")},
        {"hidden_dim", reference_["hidden_dim"].get<std::int64_t>()}};
    for (auto& [key, value] : overrides) values[key] = value;
    return host_.makeHead(
        "mlgcn", host_.defaultParams(PluginKind::kHead, "mlgcn", values),
        fixtures::testContext(kData, /*classes=*/4, channels));
  }

  std::string errorOf(std::map<std::string, ParamValue> overrides,
                      std::int64_t channels = 3) {
    try {
      make(std::move(overrides), channels);
    } catch (const plugins::PluginError& error) {
      return error.what();
    }
    return "";
  }

  plugins::PluginHost host_;
  nlohmann::json reference_;
};

// Defaults tau = 0.4, p = 0.25 (demo_coco_gcn.py, util.py gen_A); both
// graph constructions, then the whole forward and backward in float64.
TEST_F(MlGcnTest, GraphLogitsAndGradientsMatchTheReleasedCode) {
  for (const std::string compat : {"released", "paper"}) {
    SCOPED_TRACE(compat);
    auto head = make({{"compat", compat}});
    head->to(torch::kDouble);
    fixtures::expectNear(head->named_buffers()["A"],
                         shapedTensor(reference_[compat]["graph"]), 1e-12,
                         "graph A");
    fixtures::setParameters(*head, reference_["params"]);
    fixtures::expectForwardAndGradients(*head, reference_, reference_[compat],
                                        1e-12);
  }
}

// A checkpoint as the released engine saves it: {epoch, arch, state_dict,
// best_score}, legacy format, with backbone entries (ignored) and its own
// graph A (built at tau 0.3), which replaces the one from the options.
TEST_F(MlGcnTest, ReleasedCheckpointLoadsWithItsGraph) {
  auto head = make({{"weights", std::string("released_checkpoint.pth.tar")}});
  head->to(torch::kDouble);
  const torch::Tensor features = shapedTensor(reference_["features"]);
  fixtures::expectNear(head->forward(features),
                       shapedTensor(reference_["checkpoint"]["logits"]), 1e-12,
                       "logits");
}

TEST_F(MlGcnTest, BadOptionsAndMisfittingWeightsAreNamed) {
  EXPECT_EQ(fixtures::slotError(host_, "head", PluginKind::kHead,
                                "head: {name: mlgcn, embeddings: onehot, "
                                "hidden_dim: 0}"),
            "test.yaml:1:53: head.hidden_dim: expected an integer >= 1, "
            "found 0");
  const std::string reweight = errorOf({{"adjacency_reweight", 1.5}});
  EXPECT_NE(reweight.find("adjacency_reweight: expected a value in [0, 1]"),
            std::string::npos)
      << reweight;
  // 5 channels: the file's gc2.weight [6, 3] does not fit [6, 5].
  const std::string shape =
      errorOf({{"weights", std::string("released_checkpoint.pth.tar")}}, 5);
  EXPECT_NE(shape.find(kData + "released_checkpoint.pth.tar"),
            std::string::npos)
      << shape;
  EXPECT_NE(shape.find("gc2.weight"), std::string::npos) << shape;
}

}  // namespace
}  // namespace labrun
