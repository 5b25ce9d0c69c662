// Loads the built plugin the way labrun does (its one exported symbol),
// checks its descriptor, and compares the loss and its gradient with
// torchvision.ops.sigmoid_focal_loss on the cases of focal_reference.txt
// (written by make_reference.py).
#include <dlfcn.h>
#include <gtest/gtest.h>
#include <labrun/PluginDescriptor.h>
#include <torch/torch.h>

#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

namespace {

using labrun::PluginDescriptor;

const PluginDescriptor& descriptor() {
  static const PluginDescriptor* loaded = [] {
    void* library = dlopen(FOCAL_PLUGIN_FILE, RTLD_NOW | RTLD_LOCAL);
    if (!library) throw std::runtime_error(dlerror());
    using Entry = const PluginDescriptor* (*)();
    auto entry =
        reinterpret_cast<Entry>(dlsym(library, LABRUN_PLUGIN_ENTRY_SYMBOL));
    if (!entry) throw std::runtime_error("no " LABRUN_PLUGIN_ENTRY_SYMBOL);
    return entry();
  }();
  return *loaded;
}

std::shared_ptr<labrun::Loss> makeLoss(double alpha, double gamma,
                                       const std::string& reduction) {
  const labrun::Params params(
      {{"alpha", alpha}, {"gamma", gamma}, {"reduction", reduction}});
  return descriptor().make_loss(params, labrun::ModelContext{});
}

struct Reference {
  std::vector<std::int64_t> shape;
  torch::Tensor logits, targets, mask;
  struct Case {
    double alpha, gamma;
    std::string reduction;
    double loss;
    torch::Tensor grad;
  };
  std::vector<Case> cases;
};

torch::Tensor readTensor(std::istream& in,
                         const std::vector<std::int64_t>& shape) {
  std::vector<float> values(shape[0] * shape[1]);
  for (float& value : values) in >> value;
  return torch::tensor(values).reshape(shape);
}

Reference readReference() {
  std::ifstream file(FOCAL_REFERENCE);
  if (!file) throw std::runtime_error("cannot read " FOCAL_REFERENCE);
  Reference ref;
  for (std::string line; std::getline(file, line);) {
    std::istringstream in(line);
    std::string tag;
    in >> tag;
    if (tag == "shape") {
      ref.shape.resize(2);
      in >> ref.shape[0] >> ref.shape[1];
    } else if (tag == "logits") {
      ref.logits = readTensor(in, ref.shape);
    } else if (tag == "targets") {
      ref.targets = readTensor(in, ref.shape);
    } else if (tag == "mask") {
      ref.mask = readTensor(in, ref.shape);
    } else if (tag == "case") {
      Reference::Case c;
      in >> c.alpha >> c.gamma >> c.reduction >> c.loss;
      c.grad = readTensor(in, ref.shape);
      ref.cases.push_back(c);
    }
  }
  return ref;
}

TEST(FocalLossPlugin, Descriptor) {
  const PluginDescriptor& d = descriptor();
  EXPECT_EQ(d.api_version, labrun::kPluginApiVersion);
  EXPECT_EQ(d.kind, labrun::PluginKind::kLoss);
  EXPECT_STREQ(d.name, "focal");
  ASSERT_NE(d.make_loss, nullptr);
  EXPECT_EQ(d.num_params, 3u);
}

TEST(FocalLossPlugin, MatchesTorchvision) {
  const Reference ref = readReference();
  ASSERT_EQ(ref.cases.size(), 4u);
  for (const Reference::Case& c : ref.cases) {
    SCOPED_TRACE("alpha " + std::to_string(c.alpha) + " gamma " +
                 std::to_string(c.gamma) + " " + c.reduction);
    const torch::Tensor logits = ref.logits.clone().requires_grad_(true);
    const torch::Tensor loss = makeLoss(c.alpha, c.gamma, c.reduction)
                                   ->forward(logits, ref.targets, ref.mask);
    ASSERT_EQ(loss.dim(), 0);
    EXPECT_NEAR(loss.item<double>(), c.loss, 1e-5 * std::abs(c.loss));
    loss.backward();
    EXPECT_TRUE(torch::allclose(logits.grad(), c.grad, 1e-4, 1e-7))
        << logits.grad() << "\nexpected\n"
        << c.grad;
  }
}

TEST(FocalLossPlugin, DeclaresTheRangesTheHostChecks) {
  const PluginDescriptor& d = descriptor();
  std::map<std::string, std::string> ranges;
  for (std::size_t i = 0; i < d.num_params; ++i) {
    if (d.params[i].range != nullptr) {
      ranges[d.params[i].name] = d.params[i].range;
    }
  }
  EXPECT_EQ(ranges, (std::map<std::string, std::string>{{"alpha", "<= 1"},
                                                        {"gamma", ">= 0"}}));
}

}  // namespace
