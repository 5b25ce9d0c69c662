// dist::Group's gradient all-reduce, two ranks in one process (a thread
// each, Gloo on loopback): the averaged gradients against each rank's own
// gradients averaged by hand, with the buckets started after backward and
// during it.
// Also the cores `auto` gives one worker of a machine (WorldInfo.h).
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <functional>
#include <thread>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>

#include "dist/Group.h"
#include "dist/WorldInfo.h"
#include "util/UsableCores.h"

namespace {
using labrun::dist::GradientSyncStats;
using labrun::dist::Group;
using labrun::dist::GroupOptions;
using labrun::dist::localShareOfCores;
using labrun::dist::WorldInfo;
using labrun::util::usableCores;

// Draws from its own generator: the two ranks' threads share the global
// one.
torch::Tensor draw(at::IntArrayRef shape, std::uint64_t seed) {
  return torch::randn(shape, at::detail::createCPUGenerator(seed));
}

// Three linear layers, the same weights on every rank; with a 512-byte
// bucket cap its six parameters make three buckets.
torch::nn::Sequential makeModel() {
  torch::nn::Sequential model(torch::nn::Linear(16, 12), torch::nn::Tanh(),
                              torch::nn::Linear(12, 8), torch::nn::Tanh(),
                              torch::nn::Linear(8, 3));
  torch::NoGradGuard no_grad;
  std::uint64_t seed = 7;
  for (auto& p : model->parameters()) p.copy_(draw(p.sizes(), seed++) / 4);
  return model;
}

// Rank `rank`'s micro-batch `micro`: its own inputs.
torch::Tensor lossOf(torch::nn::Sequential& model, int rank, int micro) {
  return model->forward(draw({5, 16}, 100 + 10 * rank + micro)).pow(2).mean();
}

std::vector<torch::Tensor> gradsOf(torch::nn::Sequential& model) {
  std::vector<torch::Tensor> grads;
  for (const auto& p : model->parameters()) grads.push_back(p.grad().clone());
  return grads;
}

// The gradients one process gets from `micros` micro-batches of both ranks,
// averaged over the ranks: what every rank must hold after the all-reduce.
std::vector<torch::Tensor> expectedMean(int micros) {
  std::vector<torch::Tensor> sum;
  for (int rank = 0; rank < 2; ++rank) {
    auto model = makeModel();
    for (int micro = 0; micro < micros; ++micro) {
      lossOf(model, rank, micro).backward();
    }
    const auto grads = gradsOf(model);
    if (sum.empty()) {
      sum = grads;
    } else {
      for (std::size_t i = 0; i < sum.size(); ++i) sum[i] += grads[i];
    }
  }
  for (auto& grad : sum) grad /= 2;
  return sum;
}

struct RankResult {
  std::vector<std::vector<torch::Tensor>> grads;  // per optimizer step
  std::vector<GradientSyncStats> stats;
  std::string error;
};

class GroupTest : public ::testing::Test {
 protected:
  // Runs `body` as ranks 0 and 1, each with its own Group, in two threads,
  // around a rendezvous of their own (as a launcher hosts it).
  std::vector<RankResult> runRanks(
      const GroupOptions& options,
      const std::function<void(Group&, RankResult&, int)>& body) {
    c10d::TCPStoreOptions store_options;
    store_options.port = 0;
    store_options.isServer = true;
    store_options.waitWorkers = false;
    const auto server =
        c10::make_intrusive<c10d::TCPStore>("127.0.0.1", store_options);
    std::vector<RankResult> results(2);
    std::vector<std::thread> threads;
    for (int rank = 0; rank < 2; ++rank) {
      threads.emplace_back([&, rank] {
        try {
          WorldInfo world;
          world.rank = rank;
          world.world_size = 2;
          world.local_rank = rank;
          world.local_world_size = 2;
          world.master_port = server->getPort();
          Group group(world, options);
          body(group, results[rank], rank);
        } catch (const std::exception& error) {
          results[rank].error = error.what();
        }
      });
    }
    for (auto& thread : threads) thread.join();
    return results;
  }

  // Three optimizer steps of `micros` micro-batches each on a fresh model
  // per step (so each step's expected mean is the same).
  std::vector<RankResult> train(const GroupOptions& options, int micros) {
    return runRanks(options,
                    [micros](Group& group, RankResult& result, int rank) {
                      for (int step = 0; step < 3; ++step) {
                        auto model = makeModel();
                        const auto parameters = model->parameters();
                        for (int micro = 0; micro < micros; ++micro) {
                          if (micro + 1 == micros)
                            group.prepareBackward(parameters);
                          lossOf(model, rank, micro).backward();
                        }
                        group.averageGradients(parameters);
                        result.grads.push_back(gradsOf(model));
                        result.stats.push_back(group.lastGradientSync());
                      }
                    });
  }
};

GroupOptions smallBuckets(bool overlap) {
  GroupOptions options;
  options.timeout = std::chrono::seconds(30);
  options.bucket_bytes = 512;
  options.overlap_backward = overlap;
  return options;
}

void expectMean(const std::vector<RankResult>& results, int micros) {
  const auto expected = expectedMean(micros);
  for (const auto& result : results) {
    ASSERT_EQ(result.error, "");
    ASSERT_EQ(result.grads.size(), 3u);
    for (const auto& grads : result.grads) {
      ASSERT_EQ(grads.size(), expected.size());
      for (std::size_t i = 0; i < grads.size(); ++i) {
        EXPECT_TRUE(torch::allclose(grads[i], expected[i], /*rtol=*/1e-6,
                                    /*atol=*/1e-7))
            << "parameter " << i;
      }
    }
  }
}

TEST_F(GroupTest, BucketsStartDuringBackwardAndAverageLikeAfterIt) {
  for (const int micros : {1, 2}) {
    SCOPED_TRACE("micro-batches per step: " + std::to_string(micros));
    const auto overlapped = train(smallBuckets(/*overlap=*/true), micros);
    expectMean(overlapped, micros);
    const auto after = train(smallBuckets(/*overlap=*/false), micros);
    expectMean(after, micros);
    for (int rank = 0; rank < 2; ++rank) {
      const auto& stats = overlapped[rank].stats;
      ASSERT_EQ(stats.size(), 3u);
      EXPECT_GE(stats[0].buckets, 3u);
      // The first step plans the buckets once its gradients exist; from
      // the second on, backward starts every bucket.
      EXPECT_EQ(stats[0].started_in_backward, 0u);
      EXPECT_EQ(stats[1].started_in_backward, stats[1].buckets);
      EXPECT_EQ(stats[2].started_in_backward, stats[2].buckets);
      for (const auto& step : after[rank].stats) {
        EXPECT_EQ(step.started_in_backward, 0u);
      }
      // Both ways sum the same buckets in the same order.
      for (int step = 0; step < 3; ++step) {
        for (std::size_t i = 0; i < after[rank].grads[step].size(); ++i) {
          EXPECT_TRUE(torch::equal(overlapped[rank].grads[step][i],
                                   after[rank].grads[step][i]));
        }
      }
    }
  }
}

TEST_F(GroupTest, AParameterWithoutAGradientInALaterStepIsAnError) {
  const auto results = runRanks(
      smallBuckets(/*overlap=*/true), [](Group& group, RankResult&, int rank) {
        auto model = makeModel();
        const auto parameters = model->parameters();
        group.prepareBackward(parameters);
        lossOf(model, rank, 0).backward();
        group.averageGradients(parameters);
        // The last layer's bias loses its gradient.
        model->zero_grad();
        group.prepareBackward(parameters);
        lossOf(model, rank, 0).backward();
        parameters.back().mutable_grad() = torch::Tensor();
        group.averageGradients(parameters);
      });
  for (const auto& result : results) {
    EXPECT_NE(result.error.find("5 parameters have a gradient in this step, "
                                "6 in the first"),
              std::string::npos)
        << result.error;
  }
}

TEST_F(GroupTest, BackwardWorksAfterTheGroupIsGone) {
  auto model = makeModel();
  const auto parameters = model->parameters();
  runRanks(smallBuckets(/*overlap=*/true),
           [&](Group& group, RankResult&, int rank) {
             if (rank == 0) {
               // Hooks on rank 0's model, then the group ends.
               for (int step = 0; step < 2; ++step) {
                 model->zero_grad();
                 group.prepareBackward(parameters);
                 lossOf(model, rank, 0).backward();
                 group.averageGradients(parameters);
               }
             } else {
               auto own = makeModel();
               const auto own_parameters = own->parameters();
               for (int step = 0; step < 2; ++step) {
                 own->zero_grad();
                 group.prepareBackward(own_parameters);
                 lossOf(own, rank, 0).backward();
                 group.averageGradients(own_parameters);
               }
             }
           });
  model->zero_grad();
  lossOf(model, 0, 0).backward();
  auto alone = makeModel();
  lossOf(alone, 0, 0).backward();
  const auto grads = gradsOf(model), expected = gradsOf(alone);
  for (std::size_t i = 0; i < grads.size(); ++i) {
    EXPECT_TRUE(torch::equal(grads[i], expected[i]));
  }
}

// `auto` threads and loader workers: the process's cores, divided among
// the workers of its machine when the launcher made it one of them.
TEST(WorldInfo, LocalShareOfCoresDividesAmongTheMachinesWorkers) {
  const int cores = usableCores();
  EXPECT_EQ(localShareOfCores(), cores);  // not a worker
  WorldInfo world;
  world.rank = 1;
  world.world_size = 6;
  world.local_rank = 1;
  world.local_world_size = 3;
  world.master_port = 29500;
  for (const std::string& entry : world.environment()) {
    const std::size_t equals = entry.find('=');
    ::setenv(entry.substr(0, equals).c_str(), entry.c_str() + equals + 1, 1);
  }
  const int share = localShareOfCores();
  for (const std::string& entry : world.environment()) {
    ::unsetenv(entry.substr(0, entry.find('=')).c_str());
  }
  EXPECT_EQ(share, std::max(1, cores / 3));
}

}  // namespace
