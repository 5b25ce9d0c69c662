// labrun's learning-rate schedules against PyTorch's own schedulers, step by
// step (tests/data/schedule/make_schedule_reference.py): StepLR and
// MultiStepLR stepped once per epoch, CosineAnnealingLR, OneCycleLR and a
// LinearLR warm-up once per step, ReduceLROnPlateau once per evaluation.
// Through attach/apply on an optimizer with two parameter groups, the
// second at 10x the base rate (as optim.lr_mult makes them): each group
// keeps its own base.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "train/LrSchedule.h"

namespace labrun::train {
namespace {

using nlohmann::json;

json reference() {
  std::ifstream in(std::string(LABRUN_TEST_DATA) +
                   "/schedule/schedule_reference.json");
  return json::parse(in);
}

class LrScheduleReference : public ::testing::Test {
 protected:
  void SetUp() override {
    ref_ = reference();
    base_ = ref_.at("base_lr").get<double>();
    std::vector<torch::optim::OptimizerParamGroup> groups;
    groups.emplace_back(std::vector<torch::Tensor>{weights_[0]},
                        std::make_unique<torch::optim::SGDOptions>(base_));
    groups.emplace_back(std::vector<torch::Tensor>{weights_[1]},
                        std::make_unique<torch::optim::SGDOptions>(10 * base_));
    optimizer_ = std::make_unique<torch::optim::SGD>(
        std::move(groups), torch::optim::SGDOptions(base_));
  }

  // A schedule attached to the groups at their base rates.
  LrSchedule schedule(const ScheduleOptions& options) {
    auto& groups = optimizer_->param_groups();
    groups[0].options().set_lr(base_);
    groups[1].options().set_lr(10 * base_);
    LrSchedule made(options, ref_.at("steps_per_epoch").get<std::int64_t>(),
                    ref_.at("steps").get<std::int64_t>());
    made.attach(*optimizer_);
    return made;
  }

  // Both groups' rates at optimizer step `step` equal PyTorch's `expected`
  // (and 10x it).
  void expectRates(const LrSchedule& schedule, std::int64_t step,
                   double expected) {
    schedule.apply(*optimizer_, step);
    const auto& groups = optimizer_->param_groups();
    for (std::size_t g = 0; g < 2; ++g) {
      const double want = expected * (g == 0 ? 1.0 : 10.0);
      EXPECT_NEAR(groups[g].options().get_lr(), want, 1e-12 + 1e-9 * want)
          << "step " << step << ", group " << g;
    }
  }

  void expectSameCourse(const ScheduleOptions& options, const char* key) {
    SCOPED_TRACE(key);
    const LrSchedule made = schedule(options);
    const auto rates = ref_.at(key).get<std::vector<double>>();
    ASSERT_EQ(rates.size(), ref_.at("steps").get<std::size_t>());
    for (std::size_t step = 0; step < rates.size(); ++step) {
      expectRates(made, static_cast<std::int64_t>(step), rates[step]);
    }
  }

  json ref_;
  double base_ = 0;
  std::vector<torch::Tensor> weights_{torch::zeros({1}), torch::zeros({1})};
  std::unique_ptr<torch::optim::SGD> optimizer_;
};

TEST_F(LrScheduleReference, EpochSchedulesFollowStepLrAndMultiStepLr) {
  ScheduleOptions step;
  step.name = "step";
  step.step_size = 2;
  expectSameCourse(step, "step");
  ScheduleOptions multistep;
  multistep.name = "multistep";
  multistep.milestones = {3, 5};
  multistep.gamma = 0.5;
  expectSameCourse(multistep, "multistep");
}

TEST_F(LrScheduleReference, StepSchedulesFollowCosineOneCycleAndLinearLr) {
  ScheduleOptions cosine;
  cosine.name = "cosine";
  cosine.min_factor = 0.2;
  expectSameCourse(cosine, "cosine");
  ScheduleOptions onecycle;
  onecycle.name = "onecycle";  // pct_start 0.3, div 25, final div 1e4
  expectSameCourse(onecycle, "onecycle");
  ScheduleOptions warmup;
  warmup.warmup_steps = 7;
  warmup.warmup_start = 0.01;
  expectSameCourse(warmup, "warmup");
}

TEST_F(LrScheduleReference, PlateauFollowsReduceLrOnPlateau) {
  ScheduleOptions options;
  options.name = "plateau";  // max, factor 0.1, patience 2, threshold 1e-4
  LrSchedule plateau = schedule(options);
  const auto values = ref_.at("plateau_values").get<std::vector<double>>();
  const auto rates = ref_.at("plateau").get<std::vector<double>>();
  ASSERT_EQ(values.size(), rates.size());
  const auto per_epoch = ref_.at("steps_per_epoch").get<std::int64_t>();
  for (std::size_t epoch = 0; epoch < values.size(); ++epoch) {
    plateau.observe("val/mAP", values[epoch]);
    expectRates(plateau, static_cast<std::int64_t>(epoch + 1) * per_epoch,
                rates[epoch]);
  }
}

}  // namespace
}  // namespace labrun::train
