// The SSGRL head: the fast semantic decoupling and the GGNN's hand-written
// backward against the released-style direct computations (values and
// gradients, float64); the GGNN and the whole head against plain NumPy
// loops (tests/data/ssgrl/make_ssgrl_reference.py) with parameters under the
// released model's names; the reset-gate quirk of `compat: released`; and
// the checks on embeddings and the label graph.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>

#include "Ggnn.h"
#include "LowRankBilinearScore.h"
#include "SemanticDecoupling.h"
#include "fixtures/TestContext.h"
#include "io/Npy.h"
#include "plugins/PluginHost.h"
#include "train/Precision.h"

namespace labrun::ssgrl {
namespace {

using nlohmann::json;

const std::string kData = std::string(LABRUN_TEST_DATA) + "/ssgrl/";
const std::string kShared = std::string(LABRUN_SOURCE_DIR) + "/configs/data/";

json readJson(const std::string& path) {
  std::ifstream in(path);
  return json::parse(in);
}

void flattenInto(const json& value, std::size_t depth,
                 std::vector<double>& values,
                 std::vector<std::int64_t>& shape) {
  if (!value.is_array()) {
    values.push_back(value.get<double>());
    return;
  }
  if (shape.size() == depth) {
    shape.push_back(static_cast<std::int64_t>(value.size()));
  }
  for (const json& item : value) flattenInto(item, depth + 1, values, shape);
}

// A nested JSON list as a float64 tensor of the same shape.
torch::Tensor tensorOf(const json& nested) {
  std::vector<double> values;
  std::vector<std::int64_t> shape;
  flattenInto(nested, 0, values, shape);
  return torch::tensor(values, torch::kDouble).view(shape);
}

// Sets every parameter of `module` from `params` ({name: {shape, values}});
// the parameter names must be exactly the fixture's (the released model's).
void loadParams(torch::nn::Module& module, const json& params) {
  std::set<std::string> expected, found;
  for (const auto& item : params.items()) expected.insert(item.key());
  torch::NoGradGuard no_grad;
  for (auto& item : module.named_parameters()) {
    found.insert(item.key());
    if (!params.contains(item.key())) continue;
    const json& entry = params[item.key()];
    item.value().copy_(
        torch::tensor(entry["values"].get<std::vector<double>>(),
                      torch::kDouble)
            .view(entry["shape"].get<std::vector<std::int64_t>>()));
  }
  EXPECT_EQ(found, expected);
}

void expectClose(const torch::Tensor& got, const torch::Tensor& want,
                 double tolerance, const std::string& what) {
  ASSERT_TRUE(got.defined() && want.defined()) << what;
  ASSERT_EQ(got.sizes(), want.sizes()) << what;
  const double error = (got - want).abs().max().item<double>();
  EXPECT_LE(error, tolerance) << what << ": max |difference| " << error;
}

// Both computations give every input the same gradient for one random
// upstream gradient.
void expectSameGradients(
    const torch::Tensor& fast, const torch::Tensor& direct,
    const std::vector<std::pair<std::string, torch::Tensor>>& named_inputs,
    double tolerance) {
  std::vector<torch::Tensor> inputs;
  for (const auto& item : named_inputs) inputs.push_back(item.second);
  const torch::Tensor upstream = torch::randn_like(fast);
  const auto want = torch::autograd::grad({direct}, inputs, {upstream});
  const auto got = torch::autograd::grad({fast}, inputs, {upstream});
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    expectClose(got[i], want[i], tolerance,
                "gradient of " + named_inputs[i].first);
  }
}

TEST(LowRankBilinearScore, MatchesTheWholeTensorFormulaAndItsGradients) {
  torch::manual_seed(3);
  const auto options = torch::TensorOptions(torch::kDouble).requires_grad(true);
  const torch::Tensor u = torch::randn({2, 5, 4}, options);
  const torch::Tensor v = torch::randn({7, 4}, options);
  const torch::Tensor w = torch::randn({4}, options);
  // All (location, class) pairs at once: [B, S, K, D] -> [B, K, S].
  const torch::Tensor whole =
      (torch::tanh(u.unsqueeze(2) * v) * w).sum(-1).transpose(1, 2);
  const torch::Tensor upstream = torch::randn_like(whole);
  const auto want = torch::autograd::grad({whole}, {u, v, w}, {upstream});
  // One class per chunk; 3 per chunk (7 = 3 + 3 + 1); all in one chunk.
  for (std::int64_t chunk : {1, 2 * 5 * 4 * 3, 1 << 20}) {
    SCOPED_TRACE(chunk);
    const torch::Tensor fast = lowRankBilinearScore(u, v, w, chunk);
    expectClose(fast, whole, 1e-13, "scores");
    const auto got = torch::autograd::grad({fast}, {u, v, w}, {upstream});
    expectClose(got[0], want[0], 1e-12, "d/du");
    expectClose(got[1], want[1], 1e-12, "d/dv");
    expectClose(got[2], want[2], 1e-12, "d/dw");
  }
}

// The folded, chunked decoupling computes the released code's function, with
// the same gradients for every parameter (fc_3 and fc_a included) and input.
TEST(SemanticDecoupling, FastEqualsDirectInValueAndGradient) {
  torch::manual_seed(5);
  SemanticDecoupling module(/*image_dim=*/6, /*word_dim=*/3,
                            /*attention_dim=*/8);
  module->to(torch::kDouble);
  // Non-square map: the released code assumes h == w.
  const torch::Tensor features =
      torch::randn({2, 6, 3, 5}, torch::kDouble).requires_grad_();
  const torch::Tensor words = torch::randn({7, 3}, torch::kDouble) * 2;
  const torch::Tensor fast = module->forward(features, words);
  const torch::Tensor direct = module->forwardDirect(features, words);
  ASSERT_EQ(fast.sizes(), (std::vector<std::int64_t>{2, 7, 6}));
  expectClose(fast, direct, 1e-12, "class features");
  // The attention must not be uniform, or the test would prove little.
  EXPECT_GT(
      (direct - features.mean({2, 3}).unsqueeze(1)).abs().max().item<double>(),
      1e-2);

  std::vector<std::pair<std::string, torch::Tensor>> inputs = {
      {"features", features}};
  for (const auto& item : module->named_parameters()) {
    inputs.emplace_back(item.key(), item.value());
  }
  expectSameGradients(fast, direct, inputs, 1e-11);
}

TEST(Ggnn, ThreeNodeGraphMatchesNumPy) {
  const json fixture = readJson(kData + "ssgrl_reference.json")["ggnn"];
  for (bool released : {false, true}) {
    SCOPED_TRACE(released ? "released" : "paper");
    Ggnn ggnn(/*dim=*/2, fixture["steps"].get<std::int64_t>(),
              tensorOf(fixture["adjacency"]), released);
    ggnn->to(torch::kDouble);
    loadParams(*ggnn, fixture["params"]);
    const torch::Tensor out =
        ggnn->forward(tensorOf(fixture["nodes"]).unsqueeze(0));
    expectClose(out[0], tensorOf(fixture[released ? "released" : "paper"]),
                1e-13, "h^T");
  }
}

TEST(Ggnn, ReleasedDiffersFromPaperExactlyInTheResetGate) {
  torch::manual_seed(11);
  const torch::Tensor adjacency = torch::rand({4, 4}, torch::kDouble);
  Ggnn paper(/*dim=*/3, /*time_steps=*/2, adjacency.clone(),
             /*released_reset_gate=*/false);
  Ggnn released(/*dim=*/3, /*time_steps=*/2, adjacency.clone(),
                /*released_reset_gate=*/true);
  paper->to(torch::kDouble);
  released->to(torch::kDouble);
  auto paper_params = paper->named_parameters();
  auto released_params = released->named_parameters();
  {
    torch::NoGradGuard no_grad;
    for (auto& item : paper_params) {
      released_params[item.key()].copy_(item.value());
    }
  }
  const torch::Tensor nodes = torch::randn({2, 4, 3}, torch::kDouble);
  EXPECT_GT((paper->forward(nodes) - released->forward(nodes))
                .abs()
                .max()
                .item<double>(),
            1e-3);
  // With U_r := U_z the two agree: the reset gate is the only difference.
  {
    torch::NoGradGuard no_grad;
    paper_params["fc_eq4_u.weight"].copy_(paper_params["fc_eq3_u.weight"]);
    paper_params["fc_eq4_u.bias"].copy_(paper_params["fc_eq3_u.bias"]);
  }
  expectClose(paper->forward(nodes), released->forward(nodes), 1e-15,
              "paper with U_r = U_z vs released");
  // The released graph still holds fc_eq4_u (checkpoints load) but never
  // uses it.
  released->forward(nodes).sum().backward();
  EXPECT_FALSE(released_params["fc_eq4_u.weight"].grad().defined());
  EXPECT_TRUE(released_params["fc_eq3_u.weight"].grad().defined());
}

// The hand-written backward of the GGNN against autograd through the same
// steps, with both reset gates and both ways of computing the gates'
// products (CUDA's concatenated weights, the CPU's one product per gate):
// values and every gradient.
TEST(Ggnn, ForwardEqualsDirectInValueAndGradient) {
  for (const bool released : {false, true}) {
    for (const bool concatenated : {false, true}) {
      SCOPED_TRACE(::testing::Message()
                   << (released ? "released" : "paper")
                   << (concatenated ? ", concatenated" : ", per gate"));
      torch::manual_seed(13);
      Ggnn graph(/*dim=*/5, /*time_steps=*/3,
                 torch::rand({4, 4}, torch::kDouble), released);
      graph->to(torch::kDouble);
      graph->setConcatenatedGates(concatenated);
      const torch::Tensor nodes =
          torch::randn({2, 4, 5}, torch::kDouble).requires_grad_();
      const torch::Tensor fast = graph->forward(nodes);
      const torch::Tensor direct = graph->forwardDirect(nodes);
      expectClose(fast, direct, 1e-13, "h^T");
      std::vector<std::pair<std::string, torch::Tensor>> inputs = {
          {"nodes", nodes}};
      for (const auto& item : graph->named_parameters()) {
        // The released gate leaves fc_eq4_u unused: no gradient either way.
        if (released && item.key().rfind("fc_eq4_u.", 0) == 0) continue;
        inputs.emplace_back(item.key(), item.value());
      }
      expectSameGradients(fast, direct, inputs, 1e-12);
    }
  }
}

class SsgrlPluginTest : public ::testing::Test {
 protected:
  void SetUp() override {
    host_.loadFile(std::string(LABRUN_PLUGIN_DIR) + "/liblabrun_head_ssgrl.so");
  }

  static ModelContext context(std::int64_t classes, std::int64_t channels) {
    return fixtures::testContext(kData, classes, channels);
  }

  // The plugin's declared defaults, with `overrides` on top.
  std::shared_ptr<Head> make(const std::map<std::string, ParamValue>& overrides,
                             const ModelContext& context) {
    // Random embeddings: no file needed; every other option at its default.
    std::map<std::string, ParamValue> values = {
        {"embeddings", std::string("random")}};
    for (const auto& [key, value] : overrides) values[key] = value;
    return host_.makeHead(
        "ssgrl", host_.defaultParams(PluginKind::kHead, "ssgrl", values),
        context);
  }

  std::string errorOf(const std::map<std::string, ParamValue>& overrides,
                      const ModelContext& context) {
    try {
      make(overrides, context);
    } catch (const plugins::PluginError& error) {
      return error.what();
    }
    ADD_FAILURE() << "no error";
    return "";
  }

  // A fast and a direct head with the same initial weights (8-dimensional
  // random embeddings).
  std::vector<std::shared_ptr<Head>> fastAndDirect(std::int64_t attention_dim,
                                                   std::int64_t output_dim,
                                                   const ModelContext& ctx) {
    std::vector<std::shared_ptr<Head>> heads;
    for (const std::string impl : {"fast", "direct"}) {
      torch::manual_seed(17);
      heads.push_back(make({{"attention_dim", attention_dim},
                            {"output_dim", output_dim},
                            {"embedding_dim", std::int64_t{8}},
                            {"impl", impl}},
                           ctx));
    }
    return heads;
  }

  static torch::Tensor buffer(Head& head, const std::string& name) {
    return head.named_buffers()[name];
  }

  plugins::PluginHost host_;
};

// The whole head, as the NumPy loops compute it, with every parameter set
// under the released state_dict's name: released checkpoints map in.
// Without semantic decoupling (the paper's ablation) every node starts from
// the pooled feature: the loops' "pooled" logits, and the head has no
// word_semantic parameters at all.
TEST_F(SsgrlPluginTest, HeadMatchesNumPyUnderReleasedNames) {
  const json fixture = readJson(kData + "ssgrl_reference.json")["head"];
  const torch::Tensor features =
      tensorOf(fixture["features"])
          .view(fixture["features_shape"].get<std::vector<std::int64_t>>());
  json pooled_params = fixture["params"];
  for (const char* name :
       {"word_semantic.fc_1.weight", "word_semantic.fc_2.weight",
        "word_semantic.fc_3.weight", "word_semantic.fc_3.bias",
        "word_semantic.fc_a.weight", "word_semantic.fc_a.bias"}) {
    ASSERT_EQ(pooled_params.erase(name), 1u) << name;
  }
  for (const std::string logits : {"paper", "released", "pooled"}) {
    const bool decoupling = logits != "pooled";
    for (const std::string impl : {"fast", "direct"}) {
      SCOPED_TRACE(logits + ", " + impl);
      auto head =
          make({{"embeddings", std::string("head_words.npy")},
                {"adjacency", std::string("head_adjacency.npy")},
                {"time_steps", fixture["steps"].get<std::int64_t>()},
                {"attention_dim", fixture["attention_dim"].get<std::int64_t>()},
                {"output_dim", fixture["output_dim"].get<std::int64_t>()},
                {"compat", decoupling ? logits : std::string("paper")},
                {"decoupling", decoupling},
                {"impl", impl}},
               context(/*classes=*/3, /*channels=*/4));
      head->to(torch::kDouble);
      // Also checks that the head has exactly these parameters.
      loadParams(*head, decoupling ? fixture["params"] : pooled_params);
      expectClose(head->forward(features), tensorOf(fixture[logits]), 1e-12,
                  "logits");
    }
  }
}

TEST_F(SsgrlPluginTest, FastAndDirectHeadsTrainAlike) {
  ModelContext ctx = context(/*classes=*/5, /*channels=*/6);
  ctx.train_targets = (torch::rand({30, 5}) < 0.4).to(torch::kFloat);
  const auto heads = fastAndDirect(/*attention_dim=*/4, /*output_dim=*/3, ctx);
  for (const auto& head : heads) head->to(torch::kDouble);
  const torch::Tensor features = torch::randn({2, 6, 4, 4}, torch::kDouble);
  const torch::Tensor fast = heads[0]->forward(features);
  const torch::Tensor direct = heads[1]->forward(features);
  expectClose(fast, direct, 1e-12, "logits");
  (fast * fast).sum().backward();
  (direct * direct).sum().backward();
  auto direct_params = heads[1]->named_parameters();
  for (const auto& item : heads[0]->named_parameters()) {
    expectClose(item.value().grad(), direct_params[item.key()].grad(), 1e-11,
                "gradient of " + item.key());
  }
}

// train.precision: bf16 runs the head under CPU autocast. The hand-written
// backward functions then work in bfloat16 (AutocastExit.h) and agree with
// the autograd-derived direct head, and both stay near float32; the
// float32 parameters get float32 gradients.
TEST_F(SsgrlPluginTest, FastHeadTrainsUnderBf16AutocastLikeDirect) {
  ModelContext ctx = context(/*classes=*/5, /*channels=*/32);
  ctx.train_targets = (torch::rand({30, 5}) < 0.4).to(torch::kFloat);
  const auto heads = fastAndDirect(/*attention_dim=*/16, /*output_dim=*/8, ctx);
  const torch::Tensor features = torch::randn({2, 32, 4, 4});
  const torch::Tensor exact = heads[0]->forward(features).detach();
  std::vector<torch::Tensor> logits;
  for (const auto& head : heads) {
    {
      const train::AutocastScope autocast(train::Precision::kBf16, torch::kCPU);
      logits.push_back(head->forward(features));
    }
    logits.back().to(torch::kFloat).square().sum().backward();
  }
  // bfloat16 keeps 8 significant bits: about 2 decimal digits.
  const double scale = exact.abs().max().item<double>();
  EXPECT_LT((logits[0].to(torch::kFloat) - exact).abs().max().item<double>(),
            0.05 * scale);
  EXPECT_LT(
      (logits[0] - logits[1]).to(torch::kFloat).abs().max().item<double>(),
      0.05 * scale);
  // Against the largest gradient: some are zero in exact arithmetic (the
  // attention's bias before a softmax) and only rounding noise here.
  auto direct_params = heads[1]->named_parameters();
  double largest = 0;
  for (const auto& item : direct_params) {
    largest = std::max(largest, item.value().grad().abs().max().item<double>());
  }
  for (const auto& item : heads[0]->named_parameters()) {
    const torch::Tensor grad = item.value().grad();
    ASSERT_TRUE(grad.defined()) << item.key();
    EXPECT_EQ(grad.scalar_type(), torch::kFloat) << item.key();
    const torch::Tensor other = direct_params[item.key()].grad();
    EXPECT_LT((grad - other).abs().max().item<double>(), 0.02 * largest)
        << item.key();
  }
}

TEST_F(SsgrlPluginTest, GraphFromTrainingLabels) {
  ModelContext ctx = context(/*classes=*/4, /*channels=*/2);
  // Class counts 3, 2, 2, 0; pairs (0,1): 2, (0,2): 1, (1,2): 0.
  ctx.train_targets = torch::tensor({{1.f, 1.f, 0.f, 0.f},
                                     {1.f, 0.f, 1.f, 0.f},
                                     {1.f, 1.f, 0.f, 0.f},
                                     {0.f, 0.f, 1.f, 0.f}});
  const std::map<std::string, ParamValue> small = {
      {"attention_dim", std::int64_t{2}}, {"output_dim", std::int64_t{2}}};
  auto probabilities = buffer(*make(small, ctx), "graph_net.in_matrix");
  expectClose(probabilities.to(torch::kDouble),
              torch::tensor({{0., 2. / 3, 1. / 3, 0.},
                             {1., 0., 0., 0.},
                             {.5, 0., 0., 0.},
                             {0., 0., 0., 0.}},
                            torch::kDouble),
              1e-7, "P(j | i)");

  auto options = small;
  options["adjacency_threshold"] = 0.4;
  options["adjacency_reweight"] = 0.2;
  // Binarised at 0.4: 0 -> 1, 1 -> 0, 2 -> 0; then rows re-weighted.
  expectClose(
      buffer(*make(options, ctx), "graph_net.in_matrix").to(torch::kDouble),
      torch::tensor({{.8, .2, 0., 0.},
                     {.2, .8, 0., 0.},
                     {.2, 0., .8, 0.},
                     {0., 0., 0., .8}},
                    torch::kDouble),
      1e-7, "thresholded and re-weighted");
}

TEST_F(SsgrlPluginTest, GraphAndEmbeddingsFromTheSharedCocoFiles) {
  const std::string coco = kShared + "coco2014/";  // committed
  ModelContext ctx = context(/*classes=*/80, /*channels=*/2);
  ctx.train_targets = torch::ones({2, 80});
  auto head = make({{"embeddings", coco + "glove_300d.npy"},
                    {"adjacency", coco + "cooccurrence_counts.npy"},
                    {"class_counts", coco + "class_counts.npy"},
                    {"attention_dim", std::int64_t{2}},
                    {"output_dim", std::int64_t{2}}},
                   ctx);
  const torch::Tensor counts =
      io::readNpy(coco + "cooccurrence_counts.npy").to(torch::kDouble);
  const torch::Tensor classes =
      io::readNpy(coco + "class_counts.npy").to(torch::kDouble);
  expectClose(buffer(*head, "graph_net.in_matrix").to(torch::kDouble),
              counts / classes.unsqueeze(1), 1e-7, "P(j | i)");
  expectClose(buffer(*head, "word_features"),
              io::readNpy(coco + "glove_300d.npy"), 0, "embeddings");

  // Counts without class_counts are not probabilities.
  const std::string error =
      errorOf({{"adjacency", coco + "cooccurrence_counts.npy"}}, ctx);
  EXPECT_NE(error.find("adjacency: '" + coco +
                       "cooccurrence_counts.npy' holds values above 1"),
            std::string::npos)
      << error;
  EXPECT_NE(error.find("set class_counts"), std::string::npos) << error;
  // VOC's 20 embeddings for COCO's 80 classes.
  const std::string voc = kShared + "voc2007/glove_300d.npy";
  EXPECT_NE(errorOf({{"embeddings", voc}}, ctx)
                .find("embeddings: '" + voc +
                      "' has shape [20, 300], expected [80, E]"),
            std::string::npos);
}

TEST_F(SsgrlPluginTest, WrongSizesAreRefusedNamingFileAndExpectation) {
  ModelContext ctx = context(/*classes=*/4, /*channels=*/2);
  ctx.train_targets = torch::ones({2, 4});
  const std::string rows =
      errorOf({{"embeddings", std::string("head_words.npy")}}, ctx);
  EXPECT_NE(rows.find("head plugin 'ssgrl'"), std::string::npos) << rows;
  EXPECT_NE(rows.find("embeddings: '" + kData +
                      "head_words.npy' has shape [3, 3], expected [4, E]"),
            std::string::npos)
      << rows;
  const std::string square =
      errorOf({{"adjacency", std::string("head_adjacency.npy")}}, ctx);
  EXPECT_NE(square.find("adjacency: '" + kData +
                        "head_adjacency.npy' has shape [3, 3], expected [4, "
                        "4] (num_classes)"),
            std::string::npos)
      << square;
  EXPECT_NE(errorOf({{"embeddings", std::string("vectors.bin")}}, ctx)
                .find("embeddings: expected a .npy or .txt path, 'random' or "
                      "'onehot', found 'vectors.bin'"),
            std::string::npos);
  EXPECT_NE(errorOf({{"embeddings", std::string("missing.npy")}}, ctx)
                .find(kData + "missing.npy: cannot open for reading"),
            std::string::npos);
  ctx.train_targets = torch::Tensor();
  EXPECT_NE(
      errorOf({}, ctx).find("adjacency: 'labels' needs the training labels"),
      std::string::npos);
}

// A little-endian float32 .npy (format 1.0) of `rows` x `cols` values.
void writeFloatNpy(const std::string& path, int rows, int cols,
                   const std::vector<float>& values) {
  std::string header = "{'descr': '<f4', 'fortran_order': False, 'shape': (" +
                       std::to_string(rows) + ", " + std::to_string(cols) +
                       "), }";
  header.append(64 - (10 + header.size() + 1) % 64, ' ').push_back('\n');
  std::ofstream out(path, std::ios::binary);
  out << "\x93NUMPY\x01" << '\0' << static_cast<char>(header.size() & 0xFF)
      << static_cast<char>(header.size() >> 8) << header;
  out.write(reinterpret_cast<const char*>(values.data()),
            static_cast<std::streamsize>(values.size() * sizeof(float)));
}

TEST_F(SsgrlPluginTest, NonFiniteEmbeddingsAreRefusedNamingTheFile) {
  ModelContext ctx = context(/*classes=*/2, /*channels=*/2);
  ctx.train_targets = torch::ones({2, 2});
  const std::string path = ::testing::TempDir() + "/nan_words.npy";
  writeFloatNpy(path, 2, 2, {1.f, 2.f, NAN, 4.f});
  EXPECT_NE(errorOf({{"embeddings", path}}, ctx)
                .find("embeddings: '" + path + "' holds non-finite values"),
            std::string::npos);
  writeFloatNpy(path, 2, 2, {1.f, 2.f, 3.f, 4.f});  // the same file, finite
  auto head = make({{"embeddings", path},
                    {"attention_dim", std::int64_t{2}},
                    {"output_dim", std::int64_t{2}}},
                   ctx);
  expectClose(buffer(*head, "word_features"),
              torch::tensor({{1.f, 2.f}, {3.f, 4.f}}), 0, "embeddings");
}

TEST_F(SsgrlPluginTest, GloveTextAveragesMultiWordNamesAndListsMissingWords) {
  const std::string path = ::testing::TempDir() + "/glove_tiny.txt";
  std::ofstream(path) << "the 9 9\ntraffic 1 2\nlight 3 6\ncat 0.5 -0.5\n";
  ModelContext ctx = context(/*classes=*/2, /*channels=*/2);
  ctx.class_names = {"Traffic light", "cat"};
  ctx.train_targets = torch::ones({2, 2});
  auto head = make({{"embeddings", path},
                    {"attention_dim", std::int64_t{2}},
                    {"output_dim", std::int64_t{2}}},
                   ctx);
  expectClose(buffer(*head, "word_features"),
              torch::tensor({{2.f, 4.f}, {.5f, -.5f}}), 0, "embeddings");

  ctx = context(/*classes=*/3, /*channels=*/2);
  ctx.class_names = {"hair drier", "cat", "tvmonitor"};
  ctx.train_targets = torch::ones({2, 3});
  const std::string error = errorOf({{"embeddings", path}}, ctx);
  EXPECT_NE(error.find("embeddings: '" + path +
                       "' has no vector for: drier, hair, tvmonitor"),
            std::string::npos)
      << error;
}

TEST_F(SsgrlPluginTest, RandomEmbeddingsAreSeededAndOneHotIsTheIdentity) {
  ModelContext ctx = context(/*classes=*/3, /*channels=*/2);
  ctx.train_targets = torch::ones({2, 3});
  const auto words = [&](const std::string& source, std::int64_t seed) {
    return buffer(*make({{"embeddings", source},
                         {"embedding_seed", seed},
                         {"embedding_dim", std::int64_t{5}},
                         {"attention_dim", std::int64_t{2}},
                         {"output_dim", std::int64_t{2}}},
                        ctx),
                  "word_features");
  };
  EXPECT_TRUE(torch::equal(words("random", 1), words("random", 1)));
  EXPECT_FALSE(torch::equal(words("random", 1), words("random", 2)));
  EXPECT_EQ(words("random", 1).sizes(), (std::vector<std::int64_t>{3, 5}));
  EXPECT_TRUE(torch::equal(words("onehot", 0), torch::eye(3)));
}

}  // namespace
}  // namespace labrun::ssgrl
