// labrun's side of the mAP benchmark (tools/bench/map/bench_map.py): the
// map metric plugin, loaded through PluginHost as `labrun run` does, fed a
// whole score matrix in evaluation-sized batches and computed `--repeat`
// times with the AP definition `--ap`. Prints one JSON line:
// {"ap": ..., "mAP": ..., "seconds": [...]} (update + compute each; the
// first in a fresh process, the later ones with glibc's heap warmed up).
//   bench_map --plugins DIR --scores S.npy --targets T.npy
//       [--ap voc_interpolated|sklearn] [--repeat 7] [--batch 64]
//       [--threads 2]
#include <torch/torch.h>

#include <chrono>
#include <iostream>
#include <map>
#include <string>

#include "io/Npy.h"
#include "plugins/PluginHost.h"

int main(int argc, char** argv) {
  std::map<std::string, std::string> options = {
      {"--plugins", ""}, {"--scores", ""},
      {"--targets", ""}, {"--ap", "voc_interpolated"},
      {"--repeat", "7"}, {"--batch", "64"},
      {"--threads", "2"}};
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!options.count(argv[i])) {
      std::cerr << "bench_map: unknown option " << argv[i] << "\n";
      return 2;
    }
    options[argv[i]] = argv[i + 1];
  }
  for (const char* required : {"--plugins", "--scores", "--targets"}) {
    if (options[required].empty()) {
      std::cerr << "bench_map: " << required << " is required\n";
      return 2;
    }
  }
  torch::set_num_threads(std::stoi(options["--threads"]));
  const torch::Tensor scores =
      labrun::io::readNpy(options["--scores"]).to(torch::kFloat);
  const torch::Tensor targets =
      labrun::io::readNpy(options["--targets"]).to(torch::kFloat);
  const torch::Tensor mask = torch::ones_like(targets);
  const std::int64_t batch = std::stoll(options["--batch"]);

  labrun::plugins::PluginHost host;
  host.loadDirectories({options["--plugins"]});
  labrun::ModelContext context;
  context.num_classes = scores.size(1);
  for (std::int64_t k = 0; k < context.num_classes; ++k) {
    context.class_names.push_back("class" + std::to_string(k));
  }
  const std::string& ap = options["--ap"];
  const auto metric = host.makeMetric(
      "map",
      host.defaultParams(labrun::PluginKind::kMetric, "map", {{"ap", ap}}),
      context);
  double map = 0;
  std::string seconds;
  for (int r = 0; r < std::stoi(options["--repeat"]); ++r) {
    metric->reset();
    const auto start = std::chrono::steady_clock::now();
    for (std::int64_t i = 0; i < scores.size(0); i += batch) {
      const std::int64_t end = std::min(i + batch, scores.size(0));
      metric->update(scores.slice(0, i, end), targets.slice(0, i, end),
                     mask.slice(0, i, end));
    }
    const labrun::MetricResult result = metric->compute();
    const std::chrono::duration<double> took =
        std::chrono::steady_clock::now() - start;
    map = result.scalars.front().second;
    seconds += (seconds.empty() ? "" : ", ") + std::to_string(took.count());
  }
  std::cout << "{\"ap\": \"" << ap << "\", \"mAP\": " << std::to_string(map)
            << ", \"seconds\": [" << seconds << "]}" << std::endl;
  return 0;
}
