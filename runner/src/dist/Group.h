// This process's membership of a data-parallel run on PyTorch's c10d: a
// TCPStore client of the rendezvous (node 0's launcher hosts the server)
// and a ProcessGroup (Gloo on CPU; NCCL on CUDA when LibTorch has it).
// Implements the training loop's view of it, Collective.
//
// A lost rank: the launcher that saw its worker end writes which rank and
// how into the store (failedKey()); a collective that fails (Gloo notices
// a closed connection at once, a silent peer after the timeout) throws an
// error quoting that note, so the message names the lost rank.
#pragma once

#include <chrono>
#include <cstdint>
#include <exception>
#include <memory>
#include <string>
#include <vector>

#include "dist/Collective.h"
#include "dist/GroupOptions.h"
#include "dist/WorldInfo.h"
#include "spec/Located.h"

namespace labrun::dist {

// The last optimizer step's gradient all-reduce: its buckets, and how many
// of them backward started before it ended.
struct GradientSyncStats {
  std::size_t buckets = 0;
  std::size_t started_in_backward = 0;
};

// The backend for `distributed.backend` (auto | gloo | nccl) on `cuda` or
// CPU: auto is NCCL on CUDA when this LibTorch has it, Gloo otherwise.
// Throws spec::SpecError, naming the key, for nccl on a LibTorch built
// without NCCL (USE_C10D_NCCL) or on the CPU.
std::string chooseBackend(const spec::Located<std::string>& backend, bool cuda);

class Group : public Collective {
 public:
  // Connects to the rendezvous and builds the process group; waits for
  // every rank (up to the timeout).
  Group(const WorldInfo& world, const GroupOptions& options);
  ~Group() override;

  // Store keys shared with the launcher.
  static std::string failedKey();                       // the first loss
  static std::string valueKey(const std::string& key);  // publish/fetch

  int rank() const override;
  int worldSize() const override;
  int localRank() const override;
  void broadcast(const std::vector<torch::Tensor>& tensors) override;
  void prepareBackward(const std::vector<torch::Tensor>& parameters) override;
  void averageGradients(const std::vector<torch::Tensor>& parameters) override;
  torch::Tensor sum(const torch::Tensor& values) override;
  torch::Tensor gatherShards(const torch::Tensor& local,
                             std::int64_t total) override;
  void publish(const std::string& key, const std::string& value) override;
  std::string fetch(const std::string& key) override;

  GradientSyncStats lastGradientSync() const;

 private:
  struct Impl;
  // Rethrows a failed collective's `error` as a message that names the lost
  // rank when a launcher reported one.
  [[noreturn]] void lost(const std::exception& error) const;

  std::unique_ptr<Impl> impl_;
};

}  // namespace labrun::dist
