// labrun's side of the training-step benchmark
// (tools/bench/train_step/bench_train_step.py): the resnet backbone and fc
// head plugins, loaded through PluginHost as `labrun run` does, in labrun's
// Model, with the bce loss plugin and Adam, the forward pass in the
// precision `labrun run` gives it (train.precision: fp32 or bf16, the loss
// in float32 as the trainer computes it). Prints "ready", then runs one
// training step (forward, backward, optimizer step) per "step" line on
// stdin and prints its duration in seconds, so that the driver can
// interleave the steps with PyTorch's.
//   yes step | head -5 | bench_train_step --plugins DIR [--depth 101]
//       [--size 448] [--batch 2] [--classes 80] [--threads 2]
//       [--precision fp32|bf16] [--memory-format contiguous|channels_last]
#include <torch/torch.h>

#include <chrono>
#include <iostream>
#include <map>
#include <string>

#include "plugins/PluginHost.h"
#include "train/FusedAdam.h"
#include "train/Model.h"
#include "train/Precision.h"
#include "util/HostMemory.h"

int main(int argc, char** argv) {
  std::string plugin_dir;
  std::string precision_name = "fp32";
  std::string memory_format = "contiguous";  // model.memory_format
  std::map<std::string, std::int64_t> options = {{"--depth", 101},
                                                 {"--size", 448},
                                                 {"--batch", 2},
                                                 {"--classes", 80},
                                                 {"--threads", 2}};
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    if (flag == "--plugins") {
      plugin_dir = argv[i + 1];
    } else if (flag == "--precision") {
      precision_name = argv[i + 1];
    } else if (flag == "--memory-format") {
      memory_format = argv[i + 1];
    } else if (options.count(flag)) {
      options[flag] = std::stoll(argv[i + 1]);
    } else {
      std::cerr << "bench_train_step: unknown option " << flag << "\n";
      return 2;
    }
  }
  if (plugin_dir.empty()) {
    std::cerr << "bench_train_step: --plugins DIR is required\n";
    return 2;
  }
  const labrun::train::Precision precision = labrun::train::parsePrecision(
      {precision_name, "--precision"}, torch::kCPU);
  // As labrun-torch's main does (util/HostMemory.h).
  labrun::util::keepFreedHostMemory();
  torch::set_num_threads(static_cast<int>(options["--threads"]));
  torch::manual_seed(0);

  labrun::plugins::PluginHost host;
  host.loadDirectories({plugin_dir});
  labrun::ModelContext context;
  context.num_classes = options["--classes"];
  auto backbone = host.makeBackbone(
      "resnet",
      host.defaultParams(labrun::PluginKind::kBackbone, "resnet",
                         {{"depth", options["--depth"]}}),
      context);
  context.in_channels = backbone->outChannels();
  auto head = host.makeHead(
      "fc", host.defaultParams(labrun::PluginKind::kHead, "fc"), context);
  auto loss =
      host.makeLoss("bce", labrun::Params({{"pos_weight", 1.0}}), context);
  labrun::train::Model model(backbone, head);
  model->train();
  if (memory_format == "channels_last") {
    model->setMemoryFormat(torch::MemoryFormat::ChannelsLast);
  } else if (memory_format != "contiguous") {
    std::cerr << "bench_train_step: --memory-format: contiguous or "
                 "channels_last\n";
    return 2;
  }
  // labrun's Adam, as `labrun run` makes it (train/FusedAdam.h).
  labrun::train::FusedAdam optimizer(model->parameters(),
                                     torch::optim::AdamOptions(1e-4));

  const std::int64_t batch = options["--batch"];
  const torch::Tensor images =
      torch::randn({batch, 3, options["--size"], options["--size"]});
  const torch::Tensor targets =
      (torch::rand({batch, options["--classes"]}) < 0.1).to(torch::kFloat);
  const torch::Tensor mask = torch::ones_like(targets);

  std::cout << "ready" << std::endl;
  std::string command;
  while (std::getline(std::cin, command) && command == "step") {
    const auto start = std::chrono::steady_clock::now();
    optimizer.zero_grad();
    loss->forward(labrun::train::trainingLogits(model, images, precision,
                                                torch::kCPU),
                  targets, mask)
        .backward();
    optimizer.step();
    const std::chrono::duration<double> took =
        std::chrono::steady_clock::now() - start;
    std::cout << took.count() << std::endl;
  }
  return 0;
}
