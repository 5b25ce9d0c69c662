// labrun's side of the SSGRL head benchmark (tools/bench/ssgrl/
// bench_ssgrl.py): one training step (forward, backward, Adam) of a backbone
// and a head built through the plugins, as `labrun run` builds them. Prints
// one JSON line: {"step_s": [...], "step_cpu_s": [...], "optimizer_s":
// [...], "loss": [...], "first_loss": ..., "start_rss_mib": ...,
// "peak_rss_mib": ...}: wall and process CPU seconds, the optimizer step's
// wall seconds and the loss of each timed step (CPU time is the
// steadier measure on a shared machine), and the loss of the very first
// step, before any update (equal for impl fast and direct: Adam soon
// amplifies their rounding differences); peak RSS is the process's
// high-water mark, so run one configuration per process. On --device cuda
// each step ends with a device synchronisation (--loss-read sync; with wait
// or readback a step is timed from its start to its loss read, which in a
// steady stream of steps is their period), and "cuda_peak_mib" /
// "cuda_reserved_mib" give the CUDA caching allocator's peak of allocated
// and of reserved memory over the whole run (parameters included).
//   bench_ssgrl --plugins DIR [--head fc|ssgrl] [--impl fast|direct]
//               [--compat paper|released] [--backbone resnet|features]
//               [--depth 101] [--extra-pool 0] [--size 448] [--batch 2]
//               [--classes 80] [--threads 2] [--warmup 1] [--steps 3]
//               [--device cpu|cuda] [--adam fused|libtorch] [--trace FILE]
//               [--precision fp32|tf32|bf16|fp16]
//               [--memory-format contiguous|channels_last]
//               [--loss-read sync|wait|readback]
// --backbone features skips the backbone: the head trains on a fixed
// [batch, 2048, size/32, size/32] tensor that requires grad (head cost only).
// --trace FILE runs one more step under LibTorch's profiler (after the timed
// ones) and writes its operators as a Chrome trace (tools/bench/ssgrl/
// trace_summary.py sums them up).
#include <torch/csrc/autograd/profiler_legacy.h>
#include <torch/cuda.h>
#include <torch/torch.h>

#include <chrono>
#include <ctime>
#include <iomanip>
#include <iostream>
#include <map>
#include <optional>
#include <sstream>
#include <string>

#include "plugins/PluginHost.h"
#include "train/FusedAdam.h"
#include "train/LossScaler.h"
#include "train/Model.h"
#include "train/Precision.h"
#include "train/ScalarReadback.h"
#include "util/DeviceMemory.h"
#include "util/HostMemory.h"
#include "util/ProcessMemory.h"

namespace {

double cpuSeconds() {
  timespec now{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &now);
  return static_cast<double>(now.tv_sec) +
         1e-9 * static_cast<double>(now.tv_nsec);
}

std::string jsonList(const std::vector<double>& values) {
  std::ostringstream text;
  text << std::setprecision(9) << "[";
  for (std::size_t i = 0; i < values.size(); ++i) {
    text << (i ? ", " : "") << values[i];
  }
  return text.str() + "]";
}

// Passes features through unchanged: the head-only configuration.
class FeatureSource : public labrun::Backbone {
 public:
  torch::Tensor forward(torch::Tensor features) override { return features; }
  std::int64_t outChannels() const override { return 2048; }
};

// The CUDA caching allocator's peaks in MiB as JSON fields ("" on CPU).
std::string cudaMemoryFields(const torch::Device& device) {
  const auto peak = labrun::util::devicePeakMemory(device);
  if (!peak) return "";
  return ", \"cuda_peak_mib\": " + std::to_string(peak->allocated_mib) +
         ", \"cuda_reserved_mib\": " + std::to_string(peak->reserved_mib);
}

}  // namespace

int main(int argc, char** argv) {
  std::map<std::string, std::string> text = {
      {"--plugins", ""},        {"--head", "ssgrl"},
      {"--impl", "fast"},       {"--compat", "paper"},
      {"--backbone", "resnet"}, {"--trace", ""},
      {"--device", "cpu"},      {"--adam", "fused"},
      {"--precision", "fp32"},  {"--memory-format", "contiguous"},
      {"--loss-read", "sync"}};
  std::map<std::string, std::int64_t> numbers = {
      {"--depth", 101},  {"--extra-pool", 0}, {"--size", 448}, {"--batch", 2},
      {"--classes", 80}, {"--threads", 2},    {"--warmup", 1}, {"--steps", 3}};
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    if (text.count(flag)) {
      text[flag] = argv[i + 1];
    } else if (numbers.count(flag)) {
      numbers[flag] = std::stoll(argv[i + 1]);
    } else {
      std::cerr << "bench_ssgrl: unknown option " << flag << "\n";
      return 2;
    }
  }
  if (text["--plugins"].empty()) {
    std::cerr << "bench_ssgrl: --plugins DIR is required\n";
    return 2;
  }
  // As labrun-torch's main does (util/HostMemory.h).
  labrun::util::keepFreedHostMemory();
  torch::set_num_threads(static_cast<int>(numbers["--threads"]));
  torch::Device device(text["--device"]);
  // The allocator's statistics are per device: name the one in use.
  if (device.is_cuda() && !device.has_index()) {
    device = torch::Device(torch::kCUDA, 0);
  }
  if (device.is_cuda() && !torch::cuda::is_available()) {
    std::cerr << "bench_ssgrl: --device cuda, but this LibTorch has no CUDA "
                 "or no GPU is visible\n";
    return 2;
  }
  // As `labrun run` trains with train.precision (train/Trainer.cpp): the
  // forward pass under autocast, the loss in float32, fp16 with a scaled
  // loss whose overflowing steps are skipped.
  const labrun::train::Precision precision = labrun::train::parsePrecision(
      {text["--precision"], "--precision"}, device);
  labrun::train::applyMathMode(precision, device);
  std::optional<labrun::train::LossScaler> scaler;
  if (precision == labrun::train::Precision::kFp16) scaler.emplace();
  torch::manual_seed(0);

  labrun::plugins::PluginHost host;
  host.loadDirectories({text["--plugins"]});
  const std::int64_t batch = numbers["--batch"], size = numbers["--size"];
  const std::int64_t classes = numbers["--classes"];
  labrun::ModelContext context;
  context.num_classes = classes;
  // Label statistics only shape the graph's values, not the cost.
  context.train_targets =
      (torch::rand({1000, classes}) < 0.05).to(torch::kFloat);
  const double start_rss = labrun::util::procStatusMiB("VmRSS").value_or(0);

  std::shared_ptr<labrun::Backbone> backbone;
  torch::Tensor inputs;
  if (text["--backbone"] == "resnet") {
    backbone = host.makeBackbone(
        "resnet",
        host.defaultParams(labrun::PluginKind::kBackbone, "resnet",
                           {{"depth", numbers["--depth"]},
                            {"extra_pool", numbers["--extra-pool"]}}),
        context);
    inputs = torch::randn({batch, 3, size, size});
  } else {
    backbone = std::make_shared<FeatureSource>();
    const std::int64_t side = size / (numbers["--extra-pool"] ? 64 : 32);
    inputs = torch::randn({batch, 2048, side, side}).requires_grad_();
  }
  context.in_channels = backbone->outChannels();
  std::shared_ptr<labrun::Head> head;
  if (text["--head"] == "fc") {
    head = host.makeHead(
        "fc", host.defaultParams(labrun::PluginKind::kHead, "fc"), context);
  } else {
    head =
        host.makeHead("ssgrl",
                      host.defaultParams(labrun::PluginKind::kHead, "ssgrl",
                                         {{"embeddings", std::string("random")},
                                          {"compat", text["--compat"]},
                                          {"impl", text["--impl"]}}),
                      context);
  }
  auto loss = host.makeLoss(
      "bce", host.defaultParams(labrun::PluginKind::kLoss, "bce"), context);
  labrun::train::Model model(backbone, head);
  model->to(device);
  // As model.memory_format lays the model out (the images follow it).
  if (text["--memory-format"] == "channels_last") {
    model->setMemoryFormat(torch::MemoryFormat::ChannelsLast);
  } else if (text["--memory-format"] != "contiguous") {
    std::cerr << "bench_ssgrl: --memory-format: contiguous or channels_last\n";
    return 2;
  }
  inputs = inputs.to(device).detach().requires_grad_(inputs.requires_grad());
  model->train();
  // labrun's Adam, as `labrun run` makes it (train/FusedAdam.h), or
  // LibTorch's (--adam libtorch) to compare the two.
  std::unique_ptr<torch::optim::Optimizer> optimizer;
  if (text["--adam"] == "libtorch") {
    optimizer = std::make_unique<torch::optim::Adam>(
        model->parameters(), torch::optim::AdamOptions(1e-4));
  } else {
    optimizer = std::make_unique<labrun::train::FusedAdam>(
        model->parameters(), torch::optim::AdamOptions(1e-4));
  }
  const torch::Tensor targets =
      (torch::rand({batch, classes}) < 0.1).to(device, torch::kFloat);
  const torch::Tensor mask = torch::ones_like(targets);

  // The step's loss as a number: holding its tensor into the next step
  // would keep the graph's nodes, and what custom functions keep in them.
  double step_loss = 0;
  double optimizer_s = 0;  // of the last step
  // --loss-read sync: the loss read after backward and the update timed
  // between device synchronisations. wait: the loss read once the update
  // is queued, which waits for the whole step (the trainer before
  // ScalarReadback); readback: as the trainer reads it now, waiting for the
  // forward pass only. Loss scaling reads it before the update in all three.
  const std::string loss_read = text["--loss-read"];
  if (loss_read != "sync" && loss_read != "wait" && loss_read != "readback") {
    std::cerr << "bench_ssgrl: --loss-read: sync, wait or readback\n";
    return 2;
  }
  const bool timed_update = loss_read == "sync";
  labrun::train::ScalarReadback readback;
  const auto train_step = [&] {
    optimizer->zero_grad();
    const torch::Tensor value = loss->forward(
        labrun::train::trainingLogits(model, inputs, precision, device),
        targets, mask);
    if (loss_read == "readback") readback.queue(value.detach());
    const auto read_loss = [&] {
      step_loss =
          loss_read == "readback" ? readback.read() : value.item<double>();
    };
    (scaler ? scaler->scale(value) : value).backward();
    if (timed_update || scaler) read_loss();
    bool update = true;
    if (scaler) {
      update = scaler->unscale(model->parameters());
      scaler->update(update);
    }
    const bool sync = timed_update && device.is_cuda();
    if (sync) torch::cuda::synchronize(device.index());
    const auto start = std::chrono::steady_clock::now();
    if (update) optimizer->step();
    if (sync) torch::cuda::synchronize(device.index());
    optimizer_s =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
            .count();
    if (!timed_update && !scaler) read_loss();
  };
  std::vector<double> step_s, step_cpu_s, losses, optimizer_step_s;
  double first_loss = 0;
  for (std::int64_t step = 0; step < numbers["--warmup"] + numbers["--steps"];
       ++step) {
    const auto start = std::chrono::steady_clock::now();
    const double start_cpu = cpuSeconds();
    train_step();
    const std::chrono::duration<double> took =
        std::chrono::steady_clock::now() - start;
    if (step == 0) first_loss = step_loss;
    if (step >= numbers["--warmup"]) {
      step_s.push_back(took.count());
      step_cpu_s.push_back(cpuSeconds() - start_cpu);
      losses.push_back(step_loss);
      optimizer_step_s.push_back(optimizer_s);
    }
  }
  if (!text["--trace"].empty()) {
    torch::autograd::profiler::RecordProfile profile(text["--trace"]);
    train_step();
  }
  std::cout << "{\"step_s\": " << jsonList(step_s)
            << ", \"step_cpu_s\": " << jsonList(step_cpu_s)
            << ", \"optimizer_s\": " << jsonList(optimizer_step_s)
            << ", \"loss\": " << jsonList(losses)
            << ", \"first_loss\": " << std::setprecision(9) << first_loss
            << ", \"start_rss_mib\": " << start_rss
            << ", \"peak_rss_mib\": " << labrun::util::peakRssMiB()
            << cudaMemoryFields(device) << "}\n";
  return 0;
}
