// A loss plugin compiled once per failure mode of the plugin host
// (see tests/CMakeLists.txt): TEST_PLUGIN_OK, _MISMATCH, _NOSYMBOL,
// _THROWING and _DUPLICATE (same name as _OK, built into another folder).
#include <torch/torch.h>

#include "labrun/PluginDescriptor.h"

namespace {

// Scales the mean of the logits: enough to prove the object's code runs.
class ScaleLossImpl : public labrun::Loss {
 public:
  explicit ScaleLossImpl(double scale) : scale_(scale) {}
  torch::Tensor forward(torch::Tensor logits, torch::Tensor,
                        torch::Tensor) override {
    return logits.mean() * scale_;
  }

 private:
  double scale_;
};

const labrun::ParamSpec kParams[] = {
    {"scale", labrun::ParamType::kFloat, "2.0", "factor on the mean logit"},
};

std::shared_ptr<labrun::Loss> make(const labrun::Params& params,
                                   const labrun::ModelContext&) {
#ifdef TEST_PLUGIN_THROWING
  (void)params;
  throw std::runtime_error("cannot build: test failure");
#else
  return std::make_shared<ScaleLossImpl>(params.getFloat("scale"));
#endif
}

#ifdef TEST_PLUGIN_MISMATCH
constexpr std::uint32_t kBuiltFor = labrun::kPluginApiVersion + 1;
#else
constexpr std::uint32_t kBuiltFor = labrun::kPluginApiVersion;
#endif

#ifdef TEST_PLUGIN_THROWING
constexpr const char* kName = "throwing";
#else
constexpr const char* kName = "testloss";
#endif

const labrun::PluginDescriptor kDescriptor = {
    /*api_version=*/kBuiltFor,
    /*kind=*/labrun::PluginKind::kLoss,
    /*name=*/kName,
    /*version=*/"0.0.1",
    /*summary=*/"test plugin",
    /*params=*/kParams,
    /*num_params=*/std::size(kParams),
    /*make_backbone=*/nullptr,
    /*make_head=*/nullptr,
    /*make_loss=*/&make,
    /*make_metric=*/nullptr,
};

}  // namespace

#ifndef TEST_PLUGIN_NOSYMBOL
LABRUN_PLUGIN(kDescriptor)
#else
// Keeps the descriptor referenced although no entry point exports it.
extern "C" LABRUN_PLUGIN_EXPORT const void* labrun_something_else() {
  return &kDescriptor;
}
#endif
