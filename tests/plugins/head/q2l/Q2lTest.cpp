// The Query2Label head against the released model as
// tests/data/q2l/make_q2l_reference.py transcribes it (operation by
// operation, float64, checked there against the released module tree):
// logits and the gradients of the features and of every parameter, set
// under the released names; a checkpoint in the released layout imported
// through `weights`; dropout following train()/eval(); and the option checks.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <string>

#include "fixtures/ErrorOf.h"
#include "fixtures/ReferenceTensors.h"
#include "fixtures/SlotValidation.h"
#include "fixtures/TestContext.h"
#include "io/Npy.h"
#include "io/TorchCheckpoint.h"
#include "plugins/PluginHost.h"
#include "train/Precision.h"

namespace labrun::q2l {
namespace {

using fixtures::errorOf;
using fixtures::testContext;

const std::string kData = std::string(LABRUN_TEST_DATA) + "/q2l/";
const std::string kReleased = std::string(LABRUN_TEST_DATA) + "/q2l_released";

const plugins::PluginHost& host() {
  static const plugins::PluginHost* const instance = [] {
    auto* loaded = new plugins::PluginHost;
    loaded->loadFile(std::string(LABRUN_PLUGIN_DIR) + "/liblabrun_head_q2l.so");
    return loaded;
  }();
  return *instance;
}

const std::map<std::string, torch::Tensor>& reference() {
  static const auto* const tensors = new std::map<std::string, torch::Tensor>(
      fixtures::readReferenceTensors(kData + "q2l_reference"));
  return *tensors;
}

nlohmann::json cases() {
  std::ifstream in(kData + "q2l_cases.json");
  return nlohmann::json::parse(in);
}

std::shared_ptr<Head> makeHead(const std::map<std::string, ParamValue>& values,
                               const ModelContext& context) {
  return host().makeHead(
      "q2l", host().defaultParams(PluginKind::kHead, "q2l", values), context);
}

// The plugin's options of a case of q2l_cases.json.
std::map<std::string, ParamValue> caseOptions(const nlohmann::json& c) {
  std::map<std::string, ParamValue> values;
  for (const char* key : {"hidden_dim", "num_heads", "enc_layers", "dec_layers",
                          "dim_feedforward"}) {
    values[key] = c.at(key).get<std::int64_t>();
  }
  for (const char* key : {"pre_norm", "keep_first_self_attn",
                          "keep_other_self_attn", "input_proj"}) {
    values[key] = c.at(key).get<bool>();
  }
  return values;
}

double maxDifference(const torch::Tensor& got, const torch::Tensor& want) {
  EXPECT_EQ(got.sizes(), want.sizes());
  return (got - want).abs().max().item<double>();
}

// Every case: the head's parameters set from the fixture (the names must be
// exactly the released ones), eval mode, float64.
TEST(Q2lHead, MatchesTheTranscribedReleasedModelWithGradients) {
  const nlohmann::json all = cases();
  for (const auto& [name, c] : all.items()) {
    SCOPED_TRACE(name);
    auto head = makeHead(caseOptions(c),
                         testContext(kData, c.at("classes").get<std::int64_t>(),
                                     c.at("channels").get<std::int64_t>()));
    head->to(torch::kDouble);
    head->eval();
    const std::string prefix = name + "/param/";
    std::set<std::string> expected, found;
    for (const auto& item : reference()) {
      if (item.first.rfind(prefix, 0) == 0) {
        expected.insert(item.first.substr(prefix.size()));
      }
    }
    auto parameters = head->named_parameters();
    {
      torch::NoGradGuard no_grad;
      for (auto& item : parameters) {
        found.insert(item.key());
        const auto it = reference().find(prefix + item.key());
        if (it != reference().end()) item.value().copy_(it->second);
      }
    }
    ASSERT_EQ(found, expected);

    const torch::Tensor features =
        reference().at(name + "/features").clone().requires_grad_();
    const torch::Tensor logits = head->forward(features);
    EXPECT_LE(maxDifference(logits, reference().at(name + "/logits")), 1e-12);
    logits.backward(reference().at(name + "/upstream"));
    EXPECT_LE(
        maxDifference(features.grad(), reference().at(name + "/grad/features")),
        1e-12);
    if (!c.at("param_grads").get<bool>()) continue;
    for (const auto& item : parameters) {
      SCOPED_TRACE(item.key());
      EXPECT_LE(maxDifference(item.value().grad(),
                              reference().at(name + "/grad/" + item.key())),
                1e-12);
    }
  }
}

// main_mlc.py's checkpoint ({'epoch', 'arch', 'state_dict', 'best_mAP',
// 'optimizer'}, DistributedDataParallel's module. prefixes, the backbone's
// keys beside the head's) gives the released module's float32 logits.
TEST(Q2lHead, ReleasedCheckpointGivesTheReleasedLogits) {
  const nlohmann::json c = cases().at("released");
  std::map<std::string, ParamValue> values = caseOptions(c);
  values["weights"] = std::string("released_head.pth.tar");
  auto head = makeHead(values, testContext(kReleased, 3, 8));
  head->eval();
  torch::NoGradGuard no_grad;
  const torch::Tensor logits =
      head->forward(io::readNpy(kReleased + "/features.npy"));
  EXPECT_LE(maxDifference(logits, io::readNpy(kReleased + "/logits.npy")),
            1e-5);

  // The same file without the head's keys: the message lists the file's.
  values["weights_prefix"] = std::string("backbone.");
  const std::string error =
      errorOf([&] { makeHead(values, testContext(kReleased, 3, 8)); });
  EXPECT_NE(error.find("do not fit the q2l head: missing keys"),
            std::string::npos)
      << error;
  EXPECT_NE(error.find("its keys start with: 0. (1 key), 1. (1 key)"),
            std::string::npos)
      << error;
}

TEST(Q2lHead, ReleasedCheckpointRefusesAnotherArchitecture) {
  const nlohmann::json c = cases().at("released");
  std::map<std::string, ParamValue> values = caseOptions(c);
  values["weights"] = std::string("released_head.pth.tar");
  values["keep_first_self_attn"] = true;
  const std::string error =
      errorOf([&] { makeHead(values, testContext(kReleased, 3, 8)); });
  EXPECT_NE(error.find("weights '" + kReleased +
                       "/released_head.pth.tar' do not fit the q2l head: "
                       "missing keys (6): transformer.decoder.layers.0.norm1"),
            std::string::npos)
      << error;
}

TEST(Q2lHead, DropoutFollowsTrainMode) {
  const std::map<std::string, ParamValue> small = {
      {"hidden_dim", std::int64_t{8}},
      {"num_heads", std::int64_t{2}},
      {"dim_feedforward", std::int64_t{16}},
      {"dropout", 0.5}};
  torch::manual_seed(3);
  auto head = makeHead(small, testContext(kData, 4, 8));
  const torch::Tensor features = torch::randn({2, 8, 3, 3});
  head->eval();
  const torch::Tensor eval = head->forward(features);
  EXPECT_TRUE(torch::equal(eval, head->forward(features)));
  head->train();
  EXPECT_GT(maxDifference(head->forward(features), eval), 1e-3);
}

// train.precision: bf16 on the CPU. The backbone's map arrives in
// bfloat16; the LayerNorms run in float32 (LayerBlocks.h normalize), and
// the logits stay near float32's, with float32 gradients.
TEST(Q2lHead, TrainsUnderBf16Autocast) {
  torch::manual_seed(5);
  auto head = makeHead({{"hidden_dim", std::int64_t{16}},
                        {"num_heads", std::int64_t{2}},
                        {"dim_feedforward", std::int64_t{32}},
                        {"dropout", 0.0}},
                       testContext(kData, 4, 16));
  const torch::Tensor features = torch::randn({2, 16, 3, 3});
  const torch::Tensor exact = head->forward(features).detach();
  torch::Tensor logits;
  {
    const train::AutocastScope autocast(train::Precision::kBf16, torch::kCPU);
    logits = head->forward(features.to(torch::kBFloat16));
  }
  logits.to(torch::kFloat).sum().backward();
  EXPECT_LT(maxDifference(logits.to(torch::kFloat), exact),
            0.05 * exact.abs().max().item<double>());
  for (const auto& item : head->named_parameters()) {
    ASSERT_TRUE(item.value().grad().defined()) << item.key();
    EXPECT_EQ(item.value().grad().scalar_type(), torch::kFloat) << item.key();
  }
}

TEST(Q2lHead, RefusesInconsistentOptions) {
  const ModelContext context = testContext(kData, 4, 12);
  const auto error = [&](const std::map<std::string, ParamValue>& values) {
    return errorOf([&] { makeHead(values, context); });
  };
  EXPECT_NE(error({{"hidden_dim", std::int64_t{16}}})
                .find("hidden_dim: 16 differs from the backbone's 12 "
                      "channels; set input_proj: true or hidden_dim: 12"),
            std::string::npos);
  EXPECT_NE(
      error({{"hidden_dim", std::int64_t{12}}, {"num_heads", std::int64_t{8}}})
          .find("hidden_dim: expected a multiple of 4 and of "
                "num_heads (8), found 12"),
      std::string::npos);
  EXPECT_NE(error({{"hidden_dim", std::int64_t{12}}, {"pre_norm", true}})
                .find("pre_norm: the released pre-norm decoder layer always "
                      "runs its self-attention"),
            std::string::npos);
  // Bounds are declared: the validator refuses them with the position.
  EXPECT_EQ(fixtures::slotError(host(), "head", PluginKind::kHead,
                                "head: {name: q2l, dec_layers: 0}"),
            "test.yaml:1:31: head.dec_layers: expected an integer >= 1, found "
            "0");
  EXPECT_EQ(fixtures::slotError(host(), "head", PluginKind::kHead,
                                "head: {name: q2l, dropout: 1.0}"),
            "test.yaml:1:28: head.dropout: expected a number in [0, 1), found "
            "1.0");
  // With the projection, any backbone width.
  EXPECT_EQ(error({{"hidden_dim", std::int64_t{16}},
                   {"dim_feedforward", std::int64_t{8}},
                   {"input_proj", true}}),
            "");
}

}  // namespace
}  // namespace labrun::q2l
