// What data-parallel training needs from the process group, as the training
// loop and the experiment see it (Group implements it on c10d). Every
// call is a collective: all ranks make it, in the same order. A failure
// (a rank lost, a timeout) throws std::runtime_error naming the lost rank
// when it is known.
#pragma once

#include <torch/types.h>

#include <cstdint>
#include <string>
#include <vector>

namespace labrun::dist {

class Collective {
 public:
  virtual ~Collective() = default;

  virtual int rank() const = 0;
  virtual int worldSize() const = 0;
  // This rank among those of its machine (its GPU; its share of the cores
  // is localShareOfCores(), dist/WorldInfo.h).
  virtual int localRank() const = 0;

  // Copies rank 0's values of `tensors` (parameters, buffers) to every rank.
  virtual void broadcast(const std::vector<torch::Tensor>& tensors) = 0;
  // Before the backward pass whose gradients averageGradients will average
  // (the last of an optimizer step's micro-batches): lets each bucket's
  // all-reduce start as soon as backward has produced all its gradients,
  // while backward goes on. The pass must end in averageGradients.
  virtual void prepareBackward(
      const std::vector<torch::Tensor>& parameters) = 0;
  // After backward: replaces the gradients of `parameters` (those that have
  // one; the same on every rank) by their mean over the ranks.
  virtual void averageGradients(
      const std::vector<torch::Tensor>& parameters) = 0;
  // Element-wise sum over the ranks of `values` [n] (float64, on the CPU).
  virtual torch::Tensor sum(const torch::Tensor& values) = 0;
  // Every rank's `local` rows [S, C] (its DistributedSampler shard of an
  // unshuffled set of `total` samples, S = ceil(total / world)) put back in
  // the set's order without the padding: [total, C] on the CPU, on every
  // rank.
  virtual torch::Tensor gatherShards(const torch::Tensor& local,
                                     std::int64_t total) = 0;

  // Rank 0 tells the others a value (the run id, the checkpoint to resume
  // from); fetch waits for it, or throws when a rank was lost meanwhile.
  virtual void publish(const std::string& key, const std::string& value) = 0;
  virtual std::string fetch(const std::string& key) = 0;
};

}  // namespace labrun::dist
