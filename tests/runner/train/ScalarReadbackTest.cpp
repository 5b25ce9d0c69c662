// The trainer's loss readback (train/ScalarReadback.h) on the CPU and,
// where this LibTorch has a GPU, on CUDA, where the value must be the one
// queued even when later work changes its tensor. In the model-only build
// too, so the GPU machine's run of test_device checks the CUDA path.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <stdexcept>
#include <string>

#include "fixtures/OnEachDevice.h"
#include "train/ScalarReadback.h"

namespace labrun::train {
namespace {

class ScalarReadbackTest : public fixtures::OnEachDevice {};

TEST_P(ScalarReadbackTest, ReadsTheValueAsQueuedOncePerQueue) {
  ScalarReadback readback;
  // Products that keep a GPU busy for milliseconds before the loss exists:
  // a read that did not wait for the copy would find stale memory.
  const std::int64_t side = device().is_cuda() ? 2048 : 64;
  const torch::Tensor weight = torch::rand({side, side}, device()) / side;
  for (const auto dtype : {torch::kDouble, torch::kFloat}) {
    torch::Tensor busy = torch::rand({side, side}, device());
    for (int i = 0; i < 20; ++i) busy = torch::mm(busy, weight).tanh_();
    // A float64 sum of float32 losses, as the trainer queues it, and a
    // one-element [1] tensor.
    torch::Tensor loss = busy.mean().to(dtype).reshape({1}) * 0 + 0.1;
    readback.queue(loss);
    // In place, after the queue: the readback must not see it.
    loss.mul_(3);
    const double expected = torch::full({1}, 0.1, dtype).item<double>();
    EXPECT_EQ(readback.read(), expected);
    EXPECT_THROW(readback.read(), std::logic_error);
  }
}

TEST_P(ScalarReadbackTest, TheLastQueuedValueIsRead) {
  ScalarReadback readback;
  readback.queue(torch::tensor(1.5, torch::kDouble).to(device()));
  readback.queue(torch::tensor(-2.25, torch::kDouble).to(device()));
  EXPECT_EQ(readback.read(), -2.25);
}

TEST_P(ScalarReadbackTest, NonFiniteValuesArriveAsTheyAre) {
  ScalarReadback readback;
  readback.queue(torch::tensor(std::nan(""), torch::kDouble).to(device()));
  EXPECT_TRUE(std::isnan(readback.read()));
  readback.queue(
      torch::tensor(-INFINITY, torch::kFloat).to(device()).to(torch::kDouble));
  EXPECT_EQ(readback.read(), -INFINITY);
}

TEST_P(ScalarReadbackTest, RefusesMoreThanOneElementAndAnEmptyRead) {
  ScalarReadback readback;
  try {
    readback.queue(torch::zeros({2}, device()));
    FAIL() << "queued two elements";
  } catch (const std::invalid_argument& error) {
    EXPECT_STREQ(error.what(),
                 "ScalarReadback::queue: one element expected, got 2");
  }
  try {
    readback.read();
    FAIL() << "read with nothing queued";
  } catch (const std::logic_error& error) {
    EXPECT_STREQ(error.what(), "ScalarReadback::read: nothing queued");
  }
}

INSTANTIATE_TEST_SUITE_P(Devices, ScalarReadbackTest, fixtures::kDevices);

}  // namespace
}  // namespace labrun::train
