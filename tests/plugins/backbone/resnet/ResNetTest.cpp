#include <gtest/gtest.h>
#include <torch/torch.h>

#include <fstream>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "fixtures/ErrorOf.h"
#include "fixtures/ReferenceTensors.h"
#include "fixtures/SlotValidation.h"
#include "io/TorchCheckpoint.h"
#include "plugins/PluginHost.h"

namespace labrun::resnet {
namespace {

using fixtures::errorOf;

const std::string kDir = std::string(LABRUN_MODEL_FIXTURES) + "/resnet";

const plugins::PluginHost& host() {
  static const plugins::PluginHost* const instance = [] {
    auto* loaded = new plugins::PluginHost;
    loaded->loadFile(std::string(LABRUN_PLUGIN_DIR) +
                     "/liblabrun_backbone_resnet.so");
    return loaded;
  }();
  return *instance;
}

const std::map<std::string, torch::Tensor>& forwardReference() {
  static const auto tensors = fixtures::readReferenceTensors(kDir + "/forward");
  return tensors;
}

// {"18": [[name, shape], ...], ...}: torchvision's state-dict entries
// (fc.* left out) of every depth.
const nlohmann::json& torchvisionNames() {
  static const nlohmann::json names = [] {
    std::ifstream in(kDir + "/names.json");
    if (!in) throw std::runtime_error(kDir + "/names.json: missing");
    return nlohmann::json::parse(in);
  }();
  return names;
}

ModelContext fixtureContext() {
  ModelContext context;
  context.spec_dir = kDir;
  context.load_state_dict = io::loadStateDict;
  return context;
}

// The plugin's declared defaults, a resnet18, then `overrides`.
Params resnetParams(const std::map<std::string, ParamValue>& overrides) {
  std::map<std::string, ParamValue> values = {{"depth", std::int64_t{18}}};
  for (const auto& [key, value] : overrides) values[key] = value;
  return host().defaultParams(PluginKind::kBackbone, "resnet", values);
}

std::shared_ptr<Backbone> makeResNet(
    const std::map<std::string, ParamValue>& overrides,
    const ModelContext& context = fixtureContext()) {
  return host().makeBackbone("resnet", resnetParams(overrides), context);
}

// Parameter and buffer names with shapes in state_dict() order (each
// module's own parameters, then its buffers, modules in pre-order).
std::vector<std::pair<std::string, std::vector<std::int64_t>>> stateEntries(
    const torch::nn::Module& model) {
  std::vector<std::pair<std::string, std::vector<std::int64_t>>> entries;
  for (const auto& module : model.named_modules()) {
    const std::string prefix = module.key().empty() ? "" : module.key() + ".";
    for (const auto& parameter : module.value()->named_parameters(false)) {
      entries.emplace_back(prefix + parameter.key(),
                           parameter.value().sizes().vec());
    }
    for (const auto& buffer : module.value()->named_buffers(false)) {
      entries.emplace_back(prefix + buffer.key(), buffer.value().sizes().vec());
    }
  }
  return entries;
}

std::vector<torch::Tensor> batchNormStatistics(torch::nn::Module& model) {
  std::vector<torch::Tensor> statistics;
  for (const auto& buffer : model.named_buffers()) {
    if (buffer.key().find("running_") != std::string::npos) {
      statistics.push_back(buffer.value().clone());
    }
  }
  return statistics;
}

struct ForwardCase {
  std::int64_t depth;
  std::string file;
};

void PrintTo(const ForwardCase& param, std::ostream* out) {
  *out << param.file;
}

class ResNetForward : public ::testing::TestWithParam<ForwardCase> {};

TEST_P(ResNetForward, MatchesTorchvisionOutput) {
  const ForwardCase& param = GetParam();
  // A relative path: resolved against the spec's folder.
  auto backbone = makeResNet({{"depth", param.depth}, {"weights", param.file}});
  backbone->eval();
  torch::NoGradGuard no_grad;
  const std::string name = "resnet" + std::to_string(param.depth);
  const torch::Tensor output =
      backbone->forward(forwardReference().at(name + ".input"));
  const torch::Tensor& expected = forwardReference().at(name + ".output");
  ASSERT_EQ(output.sizes(), expected.sizes());
  EXPECT_EQ(output.size(1), backbone->outChannels());
  EXPECT_LE((output - expected).abs().max().item<float>(), 1e-4f);
}

INSTANTIATE_TEST_SUITE_P(
    Torchvision, ResNetForward,
    ::testing::Values(ForwardCase{18, "resnet18_zip.pt"},
                      ForwardCase{18, "resnet18_legacy.pt"},
                      ForwardCase{50, "resnet50_zip.pt"},
                      ForwardCase{50, "resnet50_legacy.pt"}),
    [](const auto& info) {
      return info.param.file.substr(0, info.param.file.size() - 3);
    });

TEST(ResNet, ExtraPoolAveragesTwoByTwo) {
  auto backbone = makeResNet({{"weights", std::string("resnet18_zip.pt")},
                              {"extra_pool", std::int64_t{2}}});
  backbone->eval();
  torch::NoGradGuard no_grad;
  const torch::Tensor output =
      backbone->forward(forwardReference().at("resnet18.input"));
  const torch::Tensor& expected =
      forwardReference().at("resnet18.output_pool2");
  ASSERT_EQ(output.sizes(), (std::vector<std::int64_t>{2, 512, 2, 2}));
  EXPECT_LE((output - expected).abs().max().item<float>(), 1e-4f);
}

TEST(ResNet, NamesAndShapesMatchTorchvision) {
  const nlohmann::json& names = torchvisionNames();
  for (const std::int64_t depth : {18, 34, 50, 101, 152}) {
    SCOPED_TRACE("resnet" + std::to_string(depth));
    auto backbone = makeResNet({{"depth", depth}});
    std::vector<std::pair<std::string, std::vector<std::int64_t>>> expected;
    for (const auto& entry : names.at(std::to_string(depth))) {
      expected.emplace_back(entry.at(0).get<std::string>(),
                            entry.at(1).get<std::vector<std::int64_t>>());
    }
    EXPECT_EQ(stateEntries(*backbone), expected);
    EXPECT_EQ(backbone->outChannels(), depth < 50 ? 512 : 2048);
  }
}

TEST(ResNet, FrozenModulesStayFixedThroughAnOptimizerStep) {
  auto backbone = makeResNet(
      {{"freeze", std::vector<std::string>{"conv1", "bn1", "layer1"}}});
  std::map<std::string, torch::Tensor> before;
  for (const auto& item : backbone->named_parameters()) {
    before[item.key()] = item.value().clone();
  }
  torch::optim::Adam optimizer(backbone->parameters(),
                               torch::optim::AdamOptions(0.1));
  backbone->forward(torch::randn({2, 3, 64, 64})).sum().backward();
  optimizer.step();
  for (const auto& item : backbone->named_parameters()) {
    SCOPED_TRACE(item.key());
    const std::string& key = item.key();
    const bool frozen = key.rfind("conv1.", 0) == 0 ||
                        key.rfind("bn1.", 0) == 0 ||
                        key.rfind("layer1.", 0) == 0;
    EXPECT_EQ(item.value().requires_grad(), !frozen);
    EXPECT_EQ(torch::equal(item.value(), before.at(key)), frozen);
  }
}

TEST(ResNet, FrozenBatchNormKeepsStatisticsInTraining) {
  // Holds the backbone as labrun's Model does: train() reaches it from a
  // parent module.
  struct Parent : torch::nn::Module {
    explicit Parent(std::shared_ptr<Backbone> child)
        : backbone(register_module("backbone", std::move(child))) {}
    std::shared_ptr<Backbone> backbone;
  };
  for (const bool frozen : {true, false}) {
    SCOPED_TRACE(frozen ? "frozen_bn" : "trained BatchNorm");
    Parent parent(makeResNet({{"frozen_bn", frozen}}));
    parent.train();
    const std::vector<torch::Tensor> before =
        batchNormStatistics(*parent.backbone);
    parent.backbone->forward(torch::randn({2, 3, 64, 64}));
    const std::vector<torch::Tensor> after =
        batchNormStatistics(*parent.backbone);
    ASSERT_EQ(before.size(), after.size());
    for (std::size_t i = 0; i < before.size(); ++i) {
      EXPECT_EQ(torch::equal(before[i], after[i]), frozen);
    }
    for (const auto& item : parent.backbone->named_parameters()) {
      const bool batch_norm =
          item.key().find("bn") != std::string::npos ||
          item.key().find("downsample.1") != std::string::npos;
      EXPECT_EQ(item.value().requires_grad(), !(frozen && batch_norm))
          << item.key();
    }
    EXPECT_TRUE(parent.backbone->is_training());
  }
}

// The released SSGRL regime (main.py: every backbone parameter but layer4's
// frozen, the backbone in eval mode but layer4): only layer4's BatchNorms
// update their statistics and only layer4 trains.
TEST(ResNet, FrozenBatchNormByPrefixLeavesTheOthersTraining) {
  struct Parent : torch::nn::Module {
    explicit Parent(std::shared_ptr<Backbone> child)
        : backbone(register_module("backbone", std::move(child))) {}
    std::shared_ptr<Backbone> backbone;
  };
  Parent parent(makeResNet(
      {{"freeze",
        std::vector<std::string>{"conv1", "bn1", "layer1", "layer2", "layer3"}},
       {"frozen_bn",
        std::vector<std::string>{"bn1", "layer1", "layer2", "layer3"}}}));
  parent.eval();
  parent.train();  // train() after eval() must bring back layer4's only
  std::map<std::string, torch::Tensor> before;
  for (const auto& item : parent.backbone->named_buffers()) {
    before[item.key()] = item.value().clone();
  }
  parent.backbone->forward(torch::randn({2, 3, 64, 64}));
  const auto inLayer4 = [](const std::string& key) {
    return key.rfind("layer4.", 0) == 0;
  };
  std::size_t statistics = 0;
  for (const auto& item : parent.backbone->named_buffers()) {
    if (item.key().find("running_") == std::string::npos) continue;
    ++statistics;
    EXPECT_EQ(torch::equal(item.value(), before.at(item.key())),
              !inLayer4(item.key()))
        << item.key();
  }
  EXPECT_EQ(statistics, 2u * 20);  // resnet18: bn1, 2 a block, 3 downsamples
  for (const auto& item : parent.backbone->named_parameters()) {
    EXPECT_EQ(item.value().requires_grad(), inLayer4(item.key())) << item.key();
  }
  for (const auto& item : parent.backbone->named_modules()) {
    if (item.value()->as<torch::nn::BatchNorm2d>()) {
      EXPECT_EQ(item.value()->is_training(), inLayer4(item.key()))
          << item.key();
    }
  }
  // A prefix must hold a BatchNorm; false and [] freeze none.
  const std::string error = errorOf([] {
    makeResNet({{"frozen_bn", std::vector<std::string>{"bn1", "conv1"}}});
  });
  EXPECT_NE(error.find("frozen_bn: 'conv1' holds no BatchNorm; expected "
                       "module prefixes such as bn1, layer1 ... layer4"),
            std::string::npos)
      << error;
  for (const ParamValue& none :
       {ParamValue(false), ParamValue(std::vector<std::string>{})}) {
    auto backbone = makeResNet({{"frozen_bn", none}});
    backbone->train();
    for (const auto& item : backbone->named_parameters()) {
      EXPECT_TRUE(item.value().requires_grad()) << item.key();
    }
  }
}

TEST(ResNet, WeightErrorsListKeysAndShapes) {
  const StateDict good = io::loadStateDict(kDir + "/resnet18_zip.pt");
  ModelContext context = fixtureContext();
  context.load_state_dict = [&good](const std::string&) {
    StateDict state = good;
    state.erase("layer1.0.conv1.weight");
    state["layer5.0.conv1.weight"] = torch::zeros({1});
    state["conv1.weight"] = torch::zeros({64, 3, 3, 3});
    return state;
  };
  const std::string error = errorOf([&] {
    makeResNet({{"weights", std::string("bad.pt")}}, context);
  });
  EXPECT_NE(error.find("weights '" + kDir +
                       "/bad.pt' do not fit resnet18: missing keys (1): "
                       "layer1.0.conv1.weight; unexpected keys (1): "
                       "layer5.0.conv1.weight; mis-shaped keys (1): "
                       "conv1.weight [64, 3, 3, 3] in the file, "
                       "[64, 3, 7, 7] in the model"),
            std::string::npos)
      << error;
  // A resnet50 file for a resnet18: long lists are cut short.
  std::set<std::string> keys18, keys50;
  for (const auto& entry : torchvisionNames().at("18")) keys18.insert(entry[0]);
  for (const auto& entry : torchvisionNames().at("50")) keys50.insert(entry[0]);
  std::size_t unexpected = 0;
  for (const std::string& key : keys50) unexpected += keys18.count(key) == 0;
  ASSERT_GT(unexpected, 10u);
  const std::string mismatch = errorOf([] {
    makeResNet({{"weights", std::string("resnet50_zip.pt")}});
  });
  EXPECT_NE(
      mismatch.find("unexpected keys (" + std::to_string(unexpected) + "): "),
      std::string::npos)
      << mismatch;
  EXPECT_NE(mismatch.find(" and " + std::to_string(unexpected - 10) + " more"),
            std::string::npos)
      << mismatch;
}

TEST(ResNet, LoadsFilesWithoutBatchCountersOrPathsAsGiven) {
  const StateDict good = io::loadStateDict(kDir + "/resnet18_zip.pt");
  std::string asked;
  ModelContext context = fixtureContext();
  context.load_state_dict = [&](const std::string& path) {
    asked = path;
    StateDict state;
    // As torchvision's classic files: no num_batches_tracked.
    for (const auto& [key, tensor] : good) {
      if (key.find("num_batches_tracked") == std::string::npos) {
        state.emplace(key, tensor);
      }
    }
    return state;
  };
  auto backbone = makeResNet({{"weights", std::string("sub/w.pt")}}, context);
  EXPECT_EQ(asked, kDir + "/sub/w.pt");
  EXPECT_TRUE(torch::equal(backbone->named_parameters()["conv1.weight"],
                           good.at("conv1.weight")));
  makeResNet({{"weights", std::string("/abs/w.pt")}}, context);
  EXPECT_EQ(asked, "/abs/w.pt");
}

// A checkpoint of a whole model (the released SSGRL files: the backbone
// under "resnet_101.", the head beside it): `weights_prefix` picks the
// backbone's entries.
TEST(ResNet, WeightsPrefixTakesTheBackboneOfAWholeModel) {
  const StateDict good = io::loadStateDict(kDir + "/resnet18_zip.pt");
  ModelContext context = fixtureContext();
  context.load_state_dict = [&good](const std::string&) {
    StateDict state;
    for (const auto& [key, tensor] : good) {
      state.emplace("resnet_101." + key, tensor * 2);
    }
    state["word_semantic.fc_1.weight"] = torch::zeros({4, 512});
    state["classifiers.bias"] = torch::zeros({4});
    return state;
  };
  auto backbone = makeResNet({{"weights", std::string("whole.pth.tar")},
                              {"weights_prefix", std::string("resnet_101.")}},
                             context);
  for (const auto& item : backbone->named_parameters()) {
    EXPECT_TRUE(torch::equal(item.value(), good.at(item.key()) * 2))
        << item.key();
  }
  EXPECT_TRUE(torch::equal(backbone->named_buffers()["bn1.running_var"],
                           good.at("bn1.running_var") * 2));

  // No key under the prefix: the file's prefixes are listed.
  const std::string wrong = errorOf([&] {
    makeResNet({{"weights", std::string("whole.pth.tar")},
                {"weights_prefix", std::string("backbone.")}},
               context);
  });
  EXPECT_NE(wrong.find("weights '" + kDir +
                       "/whole.pth.tar': no key starts with weights_prefix "
                       "'backbone.'; the file's keys start with: "
                       "classifiers. (1 key), resnet_101. (" +
                       std::to_string(good.size()) +
                       " keys), word_semantic. (1 key)"),
            std::string::npos)
      << wrong;
  // Without the prefix nothing fits: the error says so and lists them too.
  const std::string unset = errorOf([&] {
    makeResNet({{"weights", std::string("whole.pth.tar")}}, context);
  });
  EXPECT_NE(unset.find("none of the file's keys is the model's (a "
                       "whole-model checkpoint? set weights_prefix); its "
                       "keys start with: classifiers. (1 key), resnet_101."),
            std::string::npos)
      << unset;
}

// The resnet18 of the forward reference as ML-GCN's and CSRA's released
// checkpoints hold their backbones (make_model_fixtures.py
// released_layouts): the same layer4 output once imported.
void expectTorchvisionOutput(Backbone& backbone) {
  backbone.eval();
  torch::NoGradGuard no_grad;
  const torch::Tensor output =
      backbone.forward(forwardReference().at("resnet18.input"));
  const torch::Tensor& expected = forwardReference().at("resnet18.output");
  ASSERT_EQ(output.sizes(), expected.sizes());
  EXPECT_LE((output - expected).abs().max().item<float>(), 1e-4f);
}

TEST(ResNet, ImportsTheBackboneOfAReleasedMlGcnCheckpoint) {
  auto backbone =
      makeResNet({{"weights", std::string("resnet18_mlgcn.pth.tar")},
                  {"weights_prefix", std::string("features.")},
                  {"weights_layout", std::string("sequential")}});
  expectTorchvisionOutput(*backbone);
  // Read under torchvision's names, the Sequential's indices do not fit.
  const std::string unmapped = errorOf([] {
    makeResNet({{"weights", std::string("resnet18_mlgcn.pth.tar")},
                {"weights_prefix", std::string("features.")}});
  });
  EXPECT_NE(unmapped.find("unexpected keys (120): 0.weight, 1.bias"),
            std::string::npos)
      << unmapped;
  EXPECT_NE(unmapped.find("its keys start with: 0. (1 key), 1. (5 keys), 4. "
                          "(24 keys)"),
            std::string::npos)
      << unmapped;
}

TEST(ResNet, SequentialLayoutNamesTheKeyItCannotMap) {
  ModelContext context = fixtureContext();
  context.load_state_dict = [](const std::string&) {
    StateDict state;
    state["0.weight"] = torch::zeros({64, 3, 7, 7});
    state["3.weight"] = torch::zeros({1});  // maxpool: no parameters
    return state;
  };
  const std::string error = errorOf([&] {
    makeResNet({{"weights", std::string("features.pth")},
                {"weights_layout", std::string("sequential")}},
               context);
  });
  EXPECT_NE(
      error.find(
          "weights '" + kDir +
          "/features.pth': weights_layout sequential expects keys '<child "
          "index>.<name>' with the index of a torchvision ResNet child "
          "holding parameters (0 conv1, 1 bn1, 4 layer1, 5 layer2, 6 layer3, "
          "7 layer4), found '3.weight'"),
      std::string::npos)
      << error;
}

TEST(ResNet, ImportsTheBackboneOfAReleasedCsraCheckpoint) {
  auto backbone =
      makeResNet({{"weights", std::string("resnet18_csra.pth")},
                  {"weights_ignore", std::vector<std::string>{"classifier."}}});
  expectTorchvisionOutput(*backbone);
  // Without weights_ignore the head's keys are unexpected.
  const std::string strict = errorOf([] {
    makeResNet({{"weights", std::string("resnet18_csra.pth")}});
  });
  EXPECT_NE(strict.find("unexpected keys (2): "
                        "classifier.multi_head.0.head.weight, "
                        "classifier.multi_head.1.head.weight"),
            std::string::npos)
      << strict;
}

TEST(ResNet, RefusesBadOptions) {
  EXPECT_NE(errorOf([] {
              makeResNet({{"depth", std::int64_t{42}}});
            }).find("depth: expected 18, 34, 50, 101 or 152, found 42"),
            std::string::npos);
  // Declared choices: the validator refuses them with the spec's position.
  EXPECT_EQ(
      fixtures::slotError(host(), "backbone", PluginKind::kBackbone,
                          "backbone: {name: resnet, depth: 18, extra_pool: 3}"),
      "test.yaml:1:49: backbone.extra_pool: expected one of 0|2, found "
      "integer 3");
  EXPECT_NE(errorOf([] {
              makeResNet({{"freeze", std::vector<std::string>{"layer5"}}});
            }).find("freeze: 'layer5' names no module"),
            std::string::npos);
}

}  // namespace
}  // namespace labrun::resnet
