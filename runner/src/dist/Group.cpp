#include "dist/Group.h"

#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#ifdef USE_C10D_NCCL
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif

#include <fmt/format.h>
#include <torch/csrc/autograd/utils/lambda_post_hook.h>
#include <torch/torch.h>
#include <torch/version.h>

#include <algorithm>
#include <cstdlib>
#include <mutex>
#include <thread>
#include <utility>

#include "spec/SpecError.h"

namespace labrun::dist {
namespace {

std::vector<std::uint8_t> bytes(const std::string& text) {
  return {text.begin(), text.end()};
}

std::string text(const std::vector<std::uint8_t>& data) {
  return {data.begin(), data.end()};
}

std::string firstLine(const std::string& message) {
  return message.substr(0, message.find('\n'));
}

// Gloo's endpoint: GLOO_SOCKET_IFNAME when set (as in PyTorch), loopback
// for a one-machine run, else the address this host name resolves to.
std::shared_ptr<::gloo::transport::Device> glooDevice(const WorldInfo& world) {
  if (const char* name = std::getenv("GLOO_SOCKET_IFNAME"); name && *name) {
    return c10d::ProcessGroupGloo::createDeviceForInterface(name);
  }
  if (world.master_addr == "127.0.0.1" || world.master_addr == "localhost") {
    return c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1");
  }
  return c10d::ProcessGroupGloo::createDefaultDevice();
}

// Gradient buckets in reverse parameter order (the order backward makes
// them), each of one dtype and device and at most `cap` bytes (a larger
// tensor goes alone): indices into `parameters`, of those that have a
// gradient.
std::vector<std::vector<std::size_t>> planBuckets(
    const std::vector<torch::Tensor>& parameters, std::int64_t cap) {
  std::vector<std::vector<std::size_t>> buckets;
  std::int64_t filled = 0;
  for (std::size_t i = parameters.size(); i-- > 0;) {
    const torch::Tensor& grad = parameters[i].grad();
    if (!grad.defined()) continue;
    const std::int64_t size = grad.numel() * grad.element_size();
    const bool fits =
        !buckets.empty() && filled + size <= cap &&
        parameters[buckets.back().front()].grad().options().type_equal(
            grad.options());
    if (!fits) {
      buckets.emplace_back();
      filled = 0;
    }
    buckets.back().push_back(i);
    filled += size;
  }
  return buckets;
}

}  // namespace

std::string chooseBackend(const spec::Located<std::string>& backend,
                          bool cuda) {
#ifdef USE_C10D_NCCL
  constexpr bool kHasNccl = true;
#else
  constexpr bool kHasNccl = false;
#endif
  const std::string& requested = backend.value;
  if (requested == "nccl" && !kHasNccl) {
    throw spec::SpecError(fmt::format(
        "{}: distributed.backend: nccl, but this LibTorch was built without "
        "NCCL (USE_C10D_NCCL); use gloo or auto",
        backend.origin));
  }
  if (requested == "nccl" && !cuda) {
    throw spec::SpecError(fmt::format(
        "{}: distributed.backend: nccl needs device cuda; use gloo or auto "
        "on the CPU",
        backend.origin));
  }
  if (requested == "auto") return cuda && kHasNccl ? "nccl" : "gloo";
  return requested;
}

// Since LibTorch 2.0 the Gloo and NCCL classes implement c10d::Backend, of
// which a ProcessGroup holds one per device type; their collectives are the
// same calls.
#if TORCH_VERSION_MAJOR >= 2
using CollectiveBackend = c10d::Backend;
#else
using CollectiveBackend = c10d::ProcessGroup;
#endif

namespace {

c10::intrusive_ptr<CollectiveBackend> glooGroup(
    const c10::intrusive_ptr<c10d::Store>& store, const WorldInfo& world,
    const GroupOptions& options) {
  auto gloo_options = c10d::ProcessGroupGloo::Options::create();
  gloo_options->timeout = options.timeout;
  gloo_options->devices.push_back(glooDevice(world));
  return c10::make_intrusive<c10d::ProcessGroupGloo>(
      store, world.rank, world.world_size, gloo_options);
}

}  // namespace

struct Group::Impl {
  WorldInfo world;
  GroupOptions options;
  c10::intrusive_ptr<c10d::Store> store;
  c10::intrusive_ptr<CollectiveBackend> group;
  // Where the group's own tensors live: NCCL takes CUDA tensors only.
  torch::Device device = torch::kCPU;
  // sum's host values (every step: the ranks' loss and stop flag) when the
  // group is NCCL: Gloo beside it, as PyTorch users add one with
  // new_group(backend="gloo"). An NCCL all-reduce is queued behind the
  // step's device work, so reading its result would wait for all of it.
  // Null when `group` is Gloo.
  c10::intrusive_ptr<CollectiveBackend> host_group;

  // The gradient buckets (indices into the trainer's parameters), planned
  // from the first step's gradients, and the parameters they cover.
  std::vector<std::vector<std::size_t>> buckets;
  std::vector<bool> planned;

  // One step's all-reduce: a flat tensor and its work per bucket started.
  std::vector<torch::Tensor> flats;
  std::vector<c10::intrusive_ptr<c10d::Work>> works;
  GradientSyncStats last_sync;

  // Started during backward (prepareBackward): the autograd hooks on the
  // parameters' gradient accumulators count each bucket's gradients still
  // to come and start the buckets in order (every rank must hand them to
  // the process group in the same order) as they complete. On a GPU the
  // hooks run on autograd's device thread, hence the lock.
  std::mutex mutex;
  bool armed = false;
  std::vector<std::size_t> pending;
  std::vector<torch::Tensor> hooked;  // the parameters, as prepareBackward saw
  std::vector<std::size_t> bucket_of;
  std::vector<std::pair<std::shared_ptr<torch::autograd::Node>, std::uintptr_t>>
      hooks;
  std::exception_ptr hook_error;

  ~Impl() { unhook(); }

  void unhook() {
    for (auto& [accumulator, key] : hooks) accumulator->del_post_hook(key);
    hooks.clear();
  }

  // Whether the hooks sit on these very tensors.
  bool hooksOn(const std::vector<torch::Tensor>& parameters) const {
    if (hooks.empty() || parameters.size() != hooked.size()) {
      return false;
    }
    for (std::size_t i = 0; i < parameters.size(); ++i) {
      if (!parameters[i].is_same(hooked[i])) return false;
    }
    return true;
  }

  // A new optimizer step's all-reduce: no bucket started yet.
  void resetStep() {
    flats.clear();
    works.clear();
    last_sync = {buckets.size(), 0};
  }

  // Flattens bucket `b`'s gradients and hands them to the process group.
  void start(const std::vector<torch::Tensor>& parameters, std::size_t b) {
    std::vector<torch::Tensor> pieces;
    for (std::size_t i : buckets[b]) {
      pieces.push_back(parameters[i].grad().reshape({-1}));
    }
    std::vector<at::Tensor> flat = {torch::cat(pieces)};
    works.push_back(group->allreduce(flat));
    flats.push_back(flat[0]);
  }

  // Hook of parameter `i`: its gradient is final for this backward pass.
  void ready(std::size_t i) {
    std::lock_guard<std::mutex> lock(mutex);
    if (!armed) return;  // a micro-batch that only accumulates
    try {
      --pending[bucket_of[i]];
      while (works.size() < buckets.size() && pending[works.size()] == 0) {
        start(hooked, works.size());
        ++last_sync.started_in_backward;
      }
    } catch (...) {
      hook_error = std::current_exception();
      armed = false;
    }
  }

  void hook(const std::vector<torch::Tensor>& parameters) {
    unhook();
    hooked = parameters;
    bucket_of.assign(parameters.size(), 0);
    for (std::size_t b = 0; b < buckets.size(); ++b) {
      for (std::size_t i : buckets[b]) {
        bucket_of[i] = b;
        auto accumulator =
            torch::autograd::impl::grad_accumulator(parameters[i]);
        const auto key = accumulator->add_post_hook(
            std::make_unique<torch::autograd::utils::LambdaPostHook>(
                [this, i](const torch::autograd::variable_list& outputs,
                          const torch::autograd::variable_list&) {
                  ready(i);
                  return outputs;
                }));
        hooks.emplace_back(std::move(accumulator), key);
      }
    }
  }
};

Group::Group(const WorldInfo& world, const GroupOptions& options)
    : impl_(std::make_unique<Impl>()) {
  impl_->world = world;
  impl_->options = options;
  c10d::TCPStoreOptions store_options;
  store_options.port = static_cast<std::uint16_t>(world.master_port);
  store_options.isServer = false;
  store_options.waitWorkers = false;
  store_options.timeout = options.timeout;
  try {
    impl_->store =
        c10::make_intrusive<c10d::TCPStore>(world.master_addr, store_options);
  } catch (const std::exception& error) {
    throw std::runtime_error(fmt::format(
        "rank {}: cannot reach the rendezvous at {}:{}: {}", world.rank,
        world.master_addr, world.master_port, firstLine(error.what())));
  }
  // The process group's own keys stay apart from labrun's.
  auto prefixed = c10::make_intrusive<c10d::PrefixStore>(
      "c10d/" + options.backend, impl_->store);
  try {
    if (options.backend == "nccl") {
#ifdef USE_C10D_NCCL
      auto nccl_options = c10d::ProcessGroupNCCL::Options::create();
      nccl_options->timeout = options.timeout;
      impl_->device = torch::Device(torch::kCUDA, world.local_rank);
      impl_->group = c10::make_intrusive<c10d::ProcessGroupNCCL>(
          prefixed, world.rank, world.world_size, nccl_options);
      impl_->host_group = glooGroup(
          c10::make_intrusive<c10d::PrefixStore>("c10d/host", impl_->store),
          world, options);
#else
      throw std::logic_error("nccl: checked by chooseBackend");
#endif
    } else {
      impl_->group = glooGroup(prefixed, world, options);
    }
  } catch (const std::logic_error&) {
    throw;
  } catch (const std::exception& error) {
    lost(error);
  }
}

Group::~Group() = default;

std::string Group::failedKey() { return "labrun/failed"; }

std::string Group::valueKey(const std::string& key) {
  return "labrun/value/" + key;
}

int Group::rank() const { return impl_->world.rank; }
int Group::worldSize() const { return impl_->world.world_size; }
int Group::localRank() const { return impl_->world.local_rank; }
void Group::lost(const std::exception& error) const {
  const std::string cause = firstLine(error.what());
  const int rank = impl_->world.rank;
  try {
    // The launcher polls its workers; give its note time to arrive, on a
    // loaded machine too: up to 20 s, inside the grace after which the
    // launcher kills the workers that are left (LaunchOptions::grace, 30 s).
    for (int i = 0; i < 200; ++i) {
      if (impl_->store->check({failedKey()})) {
        throw std::runtime_error(
            fmt::format("rank {}: lost {}; stopping ({})", rank,
                        text(impl_->store->get(failedKey())), cause));
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  } catch (const c10::Error& store_error) {
    throw std::runtime_error(fmt::format(
        "rank {}: lost the rendezvous at {}:{} (node 0's launcher) after a "
        "failed collective ({}): {}",
        rank, impl_->world.master_addr, impl_->world.master_port, cause,
        firstLine(store_error.what())));
  }
  throw std::runtime_error(fmt::format(
      "rank {}: a collective failed and no launcher reported a lost rank "
      "(a hung or unreachable peer?): {}",
      rank, cause));
}

void Group::broadcast(const std::vector<torch::Tensor>& tensors) {
  torch::NoGradGuard no_grad;
  try {
    for (const torch::Tensor& tensor : tensors) {
      std::vector<at::Tensor> one = {tensor.detach()};
      impl_->group->broadcast(one)->wait();
    }
  } catch (const std::exception& error) {
    lost(error);
  }
}

void Group::prepareBackward(const std::vector<torch::Tensor>& parameters) {
  // The first step plans the buckets from the gradients it makes, after
  // its backward pass.
  if (!impl_->options.overlap_backward || impl_->buckets.empty()) return;
  std::lock_guard<std::mutex> lock(impl_->mutex);
  if (!impl_->hooksOn(parameters)) impl_->hook(parameters);
  impl_->pending.clear();
  for (const auto& bucket : impl_->buckets) {
    impl_->pending.push_back(bucket.size());
  }
  impl_->resetStep();
  impl_->armed = true;
}

void Group::averageGradients(const std::vector<torch::Tensor>& parameters) {
  std::unique_lock<std::mutex> lock(impl_->mutex);
  const bool overlapped = impl_->armed;
  impl_->armed = false;
  if (impl_->hook_error) {
    const std::exception_ptr error = std::exchange(impl_->hook_error, nullptr);
    try {
      std::rethrow_exception(error);
    } catch (const std::exception& failure) {
      lost(failure);
    }
  }
  if (impl_->buckets.empty()) {
    impl_->buckets = planBuckets(parameters, impl_->options.bucket_bytes);
    impl_->planned.assign(parameters.size(), false);
    for (const auto& bucket : impl_->buckets) {
      for (std::size_t i : bucket) impl_->planned[i] = true;
    }
  }
  std::size_t with_grad = 0;
  bool same = parameters.size() == impl_->planned.size();
  for (std::size_t i = 0; i < parameters.size(); ++i) {
    const bool has = parameters[i].grad().defined();
    with_grad += has;
    same = same && has == impl_->planned[i];
  }
  if (!same) {
    // The ranks would exchange buckets of different layouts.
    throw std::runtime_error(fmt::format(
        "rank {}: {} parameters have a gradient in this step, {} in the "
        "first; data-parallel runs need the same ones every step",
        rank(), with_grad,
        std::count(impl_->planned.begin(), impl_->planned.end(), true)));
  }
  if (!overlapped) impl_->resetStep();
  try {
    // The buckets backward did not start are handed to the process group
    // before the first wait, so their transfers overlap one another.
    while (impl_->works.size() < impl_->buckets.size()) {
      impl_->start(parameters, impl_->works.size());
    }
    for (std::size_t b = 0; b < impl_->works.size(); ++b) {
      impl_->works[b]->wait();
      torch::Tensor& flat = impl_->flats[b];
      flat.div_(worldSize());
      std::int64_t offset = 0;
      for (std::size_t i : impl_->buckets[b]) {
        torch::Tensor grad = parameters[i].grad();
        grad.copy_(flat.slice(0, offset, offset + grad.numel()).view_as(grad));
        offset += grad.numel();
      }
    }
  } catch (const std::exception& error) {
    lost(error);
  }
  // The flat copies are not kept from one step to the next.
  impl_->flats.clear();
  impl_->works.clear();
}

GradientSyncStats Group::lastGradientSync() const {
  std::lock_guard<std::mutex> lock(impl_->mutex);
  return impl_->last_sync;
}

torch::Tensor Group::sum(const torch::Tensor& values) {
  const bool on_host = static_cast<bool>(impl_->host_group);
  std::vector<at::Tensor> one = {
      values.to(on_host ? torch::Device(torch::kCPU) : impl_->device,
                /*non_blocking=*/false, /*copy=*/true)};
  try {
    (on_host ? impl_->host_group : impl_->group)->allreduce(one)->wait();
  } catch (const std::exception& error) {
    lost(error);
  }
  return one[0].cpu();
}

torch::Tensor Group::gatherShards(const torch::Tensor& local,
                                  std::int64_t total) {
  const int world = worldSize();
  std::vector<std::vector<at::Tensor>> outputs(1);
  for (int r = 0; r < world; ++r)
    outputs[0].push_back(torch::empty_like(local, impl_->device));
  std::vector<at::Tensor> input = {local.to(impl_->device).contiguous()};
  try {
    impl_->group->allgather(outputs, input)->wait();
  } catch (const std::exception& error) {
    lost(error);
  }
  // Row i of rank r is position i * world + r of the padded order.
  const torch::Tensor all = torch::stack(outputs[0]).cpu();  // [W, S, C]
  return all.transpose(0, 1)
      .reshape({all.size(0) * all.size(1), all.size(2)})
      .slice(0, 0, total);
}

void Group::publish(const std::string& key, const std::string& value) {
  impl_->store->set(valueKey(key), bytes(value));
}

std::string Group::fetch(const std::string& key) {
  const auto deadline =
      std::chrono::steady_clock::now() + impl_->options.timeout;
  try {
    while (!impl_->store->check({valueKey(key)})) {
      if (impl_->store->check({failedKey()}) ||
          std::chrono::steady_clock::now() > deadline) {
        throw std::runtime_error("no '" + key + "' from rank 0");
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return text(impl_->store->get(valueKey(key)));
  } catch (const std::exception& error) {
    lost(error);
  }
}

}  // namespace labrun::dist
