// labrun's side of the loader benchmark (tools/bench/loader/bench_loader.py):
// ImageLoader with the SSGRL train transform over a folder of JPEGs. Prints
// {"images_per_s": ...} on stdout, timed like the Python side (from the
// first batch on, so thread start-up is not counted).
//   bench_loader --images DIR [--workers 2] [--batch 32] [--epochs 2]
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <iostream>
#include <string>

#include "data/ImageLoader.h"

namespace fs = std::filesystem;
using labrun::data::Batch;
using labrun::data::ImageLoader;
using labrun::data::LabelSet;
using labrun::data::LoaderOptions;
using labrun::data::TransformPipeline;

int main(int argc, char** argv) {
  std::string folder;
  LoaderOptions options;
  options.workers = 2;
  std::int64_t epochs = 2;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    const std::string value = argv[i + 1];
    if (flag == "--images") {
      folder = value;
    } else if (flag == "--workers") {
      options.workers = std::stoi(value);
    } else if (flag == "--batch") {
      options.batch_size = std::stoll(value);
    } else if (flag == "--epochs") {
      epochs = std::stoll(value);
    } else {
      std::cerr << "bench_loader: unknown flag " << flag << "\n";
      return 2;
    }
  }
  if (folder.empty() || !fs::is_directory(folder)) {
    std::cerr << "usage: bench_loader --images DIR [--workers N] [--batch B] "
                 "[--epochs E]\n";
    return 2;
  }
  LabelSet labels;
  labels.class_names = {"any"};
  for (const auto& entry : fs::directory_iterator(folder)) {
    if (entry.path().extension() == ".jpg") {
      labels.image_paths.push_back(entry.path().string());
    }
  }
  std::sort(labels.image_paths.begin(), labels.image_paths.end());
  const auto n = static_cast<std::int64_t>(labels.image_paths.size());
  labels.targets = torch::zeros({n, 1});
  labels.mask = torch::ones({n, 1});
  const TransformPipeline transforms = TransformPipeline::parse(
      {{"ssgrl_train", "bench_loader"}}, "transforms", "bench_loader");

  ImageLoader loader(std::move(labels), transforms, options);
  Batch batch;
  std::int64_t images = 0;
  std::chrono::steady_clock::time_point start;
  bool first = true;
  for (std::int64_t epoch = 1; epoch <= epochs; ++epoch) {
    loader.startEpoch(epoch, /*skip_batches=*/0);
    while (loader.next(batch)) {
      if (first) {
        start = std::chrono::steady_clock::now();
        first = false;
        continue;
      }
      images += batch.images.size(0);
    }
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
          .count();
  std::cout << "{\"images_per_s\": " << images / seconds
            << ", \"images\": " << images << ", \"seconds\": " << seconds
            << ", \"workers\": " << loader.workers() << "}\n";
  return 0;
}
