// FusedAdam/FusedAdamW against LibTorch's Adam/AdamW on the CPU (the
// one-pass loop) and, where this LibTorch has a GPU, on CUDA (torch's
// multi-tensor kernel). Needs only labrun_optim, so the model-only build
// runs it on a GPU machine too (tools/bench/ssgrl/device.sh).
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <sstream>
#include <string>
#include <vector>

#include "fixtures/OnEachDevice.h"
#include "train/FusedAdam.h"

namespace labrun::train {
namespace {

// Two parameter groups (different learning rates, weight decay) over a
// weight large enough to be split between threads, a bias, and a parameter
// without a gradient; the same random gradients for both optimizers.
struct AdamCase {
  std::vector<torch::Tensor> params;

  AdamCase(torch::Dtype dtype, const torch::Device& device) {
    torch::manual_seed(7);
    for (auto shape :
         {std::vector<std::int64_t>{300, 257}, std::vector<std::int64_t>{257},
          std::vector<std::int64_t>{5}}) {
      params.push_back(torch::randn(shape, dtype).to(device).requires_grad_());
    }
  }
  std::vector<torch::Tensor> clones() const {
    std::vector<torch::Tensor> copies;
    for (const auto& p : params) {
      copies.push_back(p.detach().clone().requires_grad_());
    }
    return copies;
  }
  template <typename Options>
  static std::vector<torch::optim::OptimizerParamGroup> groups(
      const std::vector<torch::Tensor>& params, Options options) {
    std::vector<torch::optim::OptimizerParamGroup> groups;
    groups.emplace_back(std::vector<torch::Tensor>{params[0], params[2]},
                        std::make_unique<Options>(Options(options).lr(0.01)));
    groups.emplace_back(std::vector<torch::Tensor>{params[1]},
                        std::make_unique<Options>(options));
    return groups;
  }
  // Gives every parameter but the last the step's random gradient (drawn on
  // the CPU, so every device sees the same numbers), laid out like the
  // parameter as autograd lays it out.
  static void setGradients(std::vector<torch::Tensor>& params, int step) {
    torch::manual_seed(100 + step);
    for (std::size_t i = 0; i + 1 < params.size(); ++i) {
      params[i].mutable_grad() =
          (torch::randn(params[i].sizes(), params[i].scalar_type()) *
           static_cast<double>(i + 1))
              .to(params[i].device())
              .contiguous(params[i].suggest_memory_format());
    }
  }
};

// Steps [first, last) of both optimizers, on the same gradients.
void stepBoth(torch::optim::Optimizer& mine,
              std::vector<torch::Tensor>& mine_params,
              torch::optim::Optimizer& theirs,
              std::vector<torch::Tensor>& theirs_params, int first, int last) {
  for (int step = first; step < last; ++step) {
    AdamCase::setGradients(mine_params, step);
    AdamCase::setGradients(theirs_params, step);
    mine.step();
    theirs.step();
  }
}

// Equal up to rounding: LibTorch's vectorised kernels fuse some of the
// multiply-adds that its scalar loops (and FusedAdam) round separately; the
// differences seen are one or two float ulps.
void expectSameParams(const std::vector<torch::Tensor>& mine,
                      const std::vector<torch::Tensor>& theirs) {
  ASSERT_EQ(mine.size(), theirs.size());
  for (std::size_t i = 0; i < theirs.size(); ++i) {
    const double scale = theirs[i].abs().max().item<double>();
    EXPECT_LE((mine[i] - theirs[i]).abs().max().item<double>(), 1e-6 * scale)
        << "parameter " << i << ", largest value " << scale;
  }
}

// The state of the [300, 257] weight (state keys differ between LibTorch
// versions; the shapes do not).
template <typename State>
State& weightState(torch::optim::Optimizer& optimizer) {
  for (auto& [key, state] : optimizer.state()) {
    auto& adam_state = static_cast<State&>(*state);
    if (adam_state.exp_avg().dim() == 2) return adam_state;
  }
  throw std::runtime_error("no state for the weight");
}

class FusedAdamTest : public fixtures::OnEachDevice {
 protected:
  template <typename Mine, typename Theirs, typename Options, typename State>
  void expectSameSteps(Options options, torch::Dtype dtype, int steps) {
    AdamCase mine_case(dtype, device());
    auto theirs_params = mine_case.clones();
    Mine mine(AdamCase::groups(mine_case.params, options), options);
    Theirs theirs(AdamCase::groups(theirs_params, options), options);
    stepBoth(mine, mine_case.params, theirs, theirs_params, 0, steps);
    expectSameParams(mine_case.params, theirs_params);
    // The same state, in LibTorch's format, so checkpoints are
    // interchangeable.
    torch::serialize::OutputArchive mine_archive, theirs_archive;
    mine.save(mine_archive);
    theirs.save(theirs_archive);
    std::ostringstream mine_bytes, theirs_bytes;
    mine_archive.save_to(mine_bytes);
    theirs_archive.save_to(theirs_bytes);
    EXPECT_EQ(mine_bytes.str().size(), theirs_bytes.str().size());
    EXPECT_EQ(mine.state().size(), 2u);  // no gradient, no state
    const State& mine_state = weightState<State>(mine);
    const State& theirs_state = weightState<State>(theirs);
    EXPECT_EQ(mine_state.step(), steps);
    expectSameParams({mine_state.exp_avg(), mine_state.exp_avg_sq()},
                     {theirs_state.exp_avg(), theirs_state.exp_avg_sq()});
  }

  // `Second` loads a checkpoint of `First` after 3 steps and takes steps 3
  // to 6 as `First` itself does: checkpoints go both ways.
  template <typename First, typename Second>
  void expectContinuesFromCheckpoint() {
    const auto options = torch::optim::AdamOptions(0.003).weight_decay(0.05);
    AdamCase first_case(torch::kFloat, device());
    auto second_params = first_case.clones();
    First first(AdamCase::groups(first_case.params, options), options);
    for (int step = 0; step < 3; ++step) {
      AdamCase::setGradients(first_case.params, step);
      first.step();
    }
    torch::serialize::OutputArchive archive;
    first.save(archive);
    std::stringstream bytes;
    archive.save_to(bytes);
    for (std::size_t i = 0; i < second_params.size(); ++i) {
      torch::NoGradGuard no_grad;
      second_params[i].copy_(first_case.params[i]);
    }
    Second second(AdamCase::groups(second_params, options), options);
    torch::serialize::InputArchive loaded;
    loaded.load_from(bytes, device());
    second.load(loaded);
    stepBoth(second, second_params, first, first_case.params, 3, 6);
    expectSameParams(second_params, first_case.params);
  }

  // The Adam and AdamW comparisons, (options, dtype, steps).
  void expectAdamLikeLibTorch(torch::optim::AdamOptions options,
                              torch::Dtype dtype, int steps) {
    expectSameSteps<FusedAdam, torch::optim::Adam, torch::optim::AdamOptions,
                    torch::optim::AdamParamState>(options, dtype, steps);
  }
  void expectAdamWLikeLibTorch(torch::optim::AdamWOptions options,
                               torch::Dtype dtype, int steps) {
    expectSameSteps<FusedAdamW, torch::optim::AdamW, torch::optim::AdamWOptions,
                    torch::optim::AdamWParamState>(options, dtype, steps);
  }
};

TEST_P(FusedAdamTest, EqualsLibTorchAdam) {
  expectAdamLikeLibTorch(torch::optim::AdamOptions(0.003).weight_decay(0.05),
                         torch::kFloat, 6);
  expectAdamLikeLibTorch(
      torch::optim::AdamOptions(0.003).betas({0.8, 0.99}).eps(1e-6),
      torch::kFloat, 3);
}

TEST_P(FusedAdamTest, AdamWEqualsLibTorchAdamW) {
  expectAdamWLikeLibTorch(torch::optim::AdamWOptions(0.003).weight_decay(0.05),
                          torch::kFloat, 6);
  expectAdamWLikeLibTorch(torch::optim::AdamWOptions(0.003).weight_decay(0),
                          torch::kFloat, 2);
}

TEST_P(FusedAdamTest, TakesLibTorchsStepWhereItCannotFuse) {
  // Double parameters and amsgrad go through LibTorch's own step.
  expectAdamLikeLibTorch(torch::optim::AdamOptions(0.003).weight_decay(0.05),
                         torch::kDouble, 3);
  expectAdamLikeLibTorch(torch::optim::AdamOptions(0.003).amsgrad(true),
                         torch::kFloat, 3);
}

TEST_P(FusedAdamTest, TakesLibTorchsStepForStateLaidOutOtherwise) {
  // Moments that are not contiguous (as a checkpoint might hold them) are
  // not read through raw pointers: LibTorch's step handles them.
  const auto options = torch::optim::AdamOptions(0.003).weight_decay(0.05);
  AdamCase mine_case(torch::kFloat, device());
  auto theirs_params = mine_case.clones();
  FusedAdam mine(AdamCase::groups(mine_case.params, options), options);
  torch::optim::Adam theirs(AdamCase::groups(theirs_params, options), options);
  stepBoth(mine, mine_case.params, theirs, theirs_params, 0, 2);
  auto& state = weightState<torch::optim::AdamParamState>(mine);
  state.exp_avg(state.exp_avg().t().contiguous().t());
  ASSERT_FALSE(state.exp_avg().is_contiguous());
  stepBoth(mine, mine_case.params, theirs, theirs_params, 2, 4);
  EXPECT_FALSE(mine.lastStepFused());
  expectSameParams(mine_case.params, theirs_params);
}

TEST_P(FusedAdamTest, EqualsLibTorchAdamOnChannelsLastWeights) {
  // Convolution weights laid out NHWC (model.memory_format: channels_last)
  // take the fused step in their own layout, 1x1 ones too, whose gradients
  // autograd may leave with other strides along the dimensions of size 1.
  const auto options = torch::optim::AdamOptions(0.003).weight_decay(0.05);
  AdamCase mine_case(torch::kFloat, device());
  mine_case.params[0] = torch::randn({64, 32, 3, 3})
                            .to(device())
                            .contiguous(torch::MemoryFormat::ChannelsLast)
                            .requires_grad_();
  // NHWC strides of a 1x1 weight (contiguous(ChannelsLast) keeps a
  // contiguous one as it is: both layouts hold it alike).
  mine_case.params.insert(
      mine_case.params.begin() + 1,
      torch::empty_strided({16, 8, 1, 1}, {8, 1, 8, 8}, device())
          .copy_(torch::randn({16, 8, 1, 1}))
          .requires_grad_());
  ASSERT_FALSE(mine_case.params[0].is_contiguous());
  auto theirs_params = mine_case.clones();
  FusedAdam mine(AdamCase::groups(mine_case.params, options), options);
  torch::optim::Adam theirs(AdamCase::groups(theirs_params, options), options);
  for (int step = 0; step < 4; ++step) {
    AdamCase::setGradients(mine_case.params, step);
    AdamCase::setGradients(theirs_params, step);
    // The 1x1 weight's gradient as a convolution's backward leaves it.
    mine_case.params[1].mutable_grad() =
        mine_case.params[1].grad().clone(torch::MemoryFormat::Contiguous);
    ASSERT_NE(mine_case.params[1].grad().strides(),
              mine_case.params[1].strides());
    mine.step();
    theirs.step();
    EXPECT_TRUE(mine.lastStepFused()) << "step " << step;
  }
  expectSameParams(mine_case.params, theirs_params);
  EXPECT_TRUE(
      mine_case.params[0].is_contiguous(torch::MemoryFormat::ChannelsLast));
}

TEST_P(FusedAdamTest, ContinuesFromACheckpointOfLibTorchsAdam) {
  expectContinuesFromCheckpoint<torch::optim::Adam, FusedAdam>();
}

TEST_P(FusedAdamTest, LibTorchsAdamContinuesFromACheckpointOfFusedAdam) {
  expectContinuesFromCheckpoint<FusedAdam, torch::optim::Adam>();
}

TEST(FusedAdam, TakesLibTorchsStepForParametersOnTwoDevices) {
  if (!torch::cuda::is_available()) {
    GTEST_SKIP() << "this LibTorch has no CUDA device";
  }
  const auto options = torch::optim::AdamOptions(0.003);
  AdamCase mine_case(torch::kFloat, torch::kCPU);
  mine_case.params[1] = mine_case.params[1].detach().cuda().requires_grad_();
  auto theirs_params = mine_case.clones();
  FusedAdam mine(AdamCase::groups(mine_case.params, options), options);
  torch::optim::Adam theirs(AdamCase::groups(theirs_params, options), options);
  stepBoth(mine, mine_case.params, theirs, theirs_params, 0, 3);
  expectSameParams(mine_case.params, theirs_params);
}

INSTANTIATE_TEST_SUITE_P(Devices, FusedAdamTest, fixtures::kDevices);

}  // namespace
}  // namespace labrun::train
