// Released SSGRL checkpoints (legacy torch.save, Python 2 pickles,
// {'epoch', 'state_dict', 'best_mAP'}) imported through the plugins'
// `weights` options, against the logits of the released model as
// tests/fixtures/released_ssgrl.py re-implements it: a small head-only
// checkpoint (committed, tests/data/ssgrl_released) and a whole ResNet-101
// model (written into the build dir by make_model_fixtures.py).
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <map>
#include <string>

#include "fixtures/ErrorOf.h"
#include "fixtures/ReferenceTensors.h"
#include "fixtures/TestContext.h"
#include "io/Npy.h"
#include "io/TorchCheckpoint.h"
#include "plugins/PluginHost.h"

namespace labrun::ssgrl {
namespace {

using fixtures::errorOf;

const std::string kHeadDir = std::string(LABRUN_TEST_DATA) + "/ssgrl_released";
const std::string kWholeDir =
    std::string(LABRUN_MODEL_FIXTURES) + "/released_ssgrl";
constexpr float kTolerance = 1e-4f;

const plugins::PluginHost& host() {
  static const plugins::PluginHost* const instance = [] {
    auto* loaded = new plugins::PluginHost;
    for (const char* plugin : {"backbone_resnet", "head_ssgrl"}) {
      loaded->loadFile(std::string(LABRUN_PLUGIN_DIR) + "/liblabrun_" + plugin +
                       ".so");
    }
    return loaded;
  }();
  return *instance;
}

using fixtures::testContext;

// The head of released_ssgrl.py's write_head, with `overrides`.
std::shared_ptr<Head> makeSmallHead(
    const std::map<std::string, ParamValue>& overrides,
    const ModelContext& ctx = testContext(kHeadDir, 5, 16)) {
  std::map<std::string, ParamValue> values = {
      {"embeddings", std::string("words.npy")},
      {"adjacency", std::string("adjacency.npy")},
      {"attention_dim", std::int64_t{8}},
      {"output_dim", std::int64_t{12}},
      {"time_steps", std::int64_t{3}},
      {"compat", std::string("released")},
      {"weights", std::string("released_head.pth.tar")}};
  for (const auto& [key, value] : overrides) values[key] = value;
  return host().makeHead(
      "ssgrl", host().defaultParams(PluginKind::kHead, "ssgrl", values), ctx);
}

float maxDifference(const torch::Tensor& got, const torch::Tensor& want) {
  EXPECT_EQ(got.sizes(), want.sizes());
  return (got - want).abs().max().item<float>();
}

TEST(ReleasedSsgrl, HeadCheckpointGivesTheReleasedLogits) {
  const torch::Tensor features = io::readNpy(kHeadDir + "/features.npy");
  const torch::Tensor logits = io::readNpy(kHeadDir + "/logits.npy");
  torch::NoGradGuard no_grad;
  for (const std::string impl : {"fast", "direct"}) {
    SCOPED_TRACE(impl);
    auto head = makeSmallHead({{"impl", impl}});
    head->eval();
    EXPECT_LE(maxDifference(head->forward(features), logits), kTolerance);
  }
  // The same weights with the paper's reset gate compute something else:
  // `compat: released` is what reproduces the checkpoint.
  auto paper = makeSmallHead({{"compat", std::string("paper")}});
  EXPECT_GT(maxDifference(paper->forward(features), logits), 1e-3f);
}

TEST(ReleasedSsgrl, WholeModelImportsThroughTheBackboneAndHeadPlugins) {
  const auto reference =
      fixtures::readReferenceTensors(kWholeDir + "/reference");
  const std::string file = "ssgrl_r101.pth.tar";
  const ModelContext backbone_context = testContext(kWholeDir, 20, 0);
  auto backbone = host().makeBackbone(
      "resnet",
      host().defaultParams(PluginKind::kBackbone, "resnet",
                           {{"depth", std::int64_t{101}},
                            {"extra_pool", std::int64_t{2}},
                            {"weights", file},
                            {"weights_prefix", std::string("resnet_101.")}}),
      backbone_context);
  auto head = host().makeHead(
      "ssgrl",
      host().defaultParams(PluginKind::kHead, "ssgrl",
                           {{"embeddings", std::string("words.npy")},
                            {"adjacency", std::string("adjacency.npy")},
                            {"compat", std::string("released")},
                            {"weights", file}}),
      testContext(kWholeDir, 20, backbone->outChannels()));
  backbone->eval();
  head->eval();
  torch::NoGradGuard no_grad;
  const torch::Tensor features = backbone->forward(reference.at("images"));
  EXPECT_LE(maxDifference(features, reference.at("features")), kTolerance);
  EXPECT_LE(maxDifference(head->forward(features), reference.at("logits")),
            kTolerance);
}

TEST(ReleasedSsgrl, HeadWeightErrorsListTheKeys) {
  const StateDict good = io::loadStateDict(kHeadDir + "/released_head.pth.tar");
  // Twice the attention size of the file's.
  const std::string shapes = errorOf([] {
    makeSmallHead({{"attention_dim", std::int64_t{16}}});
  });
  EXPECT_NE(shapes.find("weights '" + kHeadDir +
                        "/released_head.pth.tar' do not fit the ssgrl head: "
                        "mis-shaped keys (5): word_semantic.fc_1.weight "
                        "[8, 16] in the file, [16, 16] in the model"),
            std::string::npos)
      << shapes;

  ModelContext edited = testContext(kHeadDir, 5, 16);
  edited.load_state_dict = [&good](const std::string&) {
    StateDict state = good;
    state.erase("graph_net.fc_eq4_u.bias");
    state["graph_net.fc_eq6_w.weight"] = torch::zeros({16, 32});
    state["resnet_101.conv1.weight"] = torch::zeros({64, 3, 7, 7});
    return state;
  };
  const std::string keys = errorOf([&] { makeSmallHead({}, edited); });
  // Other parts of the model (resnet_101.*) are no concern of the head's.
  EXPECT_NE(keys.find("do not fit the ssgrl head: missing keys (1): "
                      "graph_net.fc_eq4_u.bias; unexpected keys (1): "
                      "graph_net.fc_eq6_w.weight"),
            std::string::npos)
      << keys;

  const std::string prefix = errorOf([] {
    makeSmallHead({{"weights_prefix", std::string("module.")}});
  });
  EXPECT_NE(prefix.find("no key starts with weights_prefix 'module.'; the "
                        "file's keys start with: classifiers. (2 keys), "
                        "fc_output. (2 keys), graph_net. (12 keys), "
                        "word_semantic. (6 keys)"),
            std::string::npos)
      << prefix;
}

}  // namespace
}  // namespace labrun::ssgrl
