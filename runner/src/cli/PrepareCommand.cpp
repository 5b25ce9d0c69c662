#include "cli/PrepareCommand.h"

#include <fmt/format.h>

#include <CLI/CLI.hpp>
#include <filesystem>
#include <iostream>

#include "cli/CommandFlags.h"
#include "data/LabelSource.h"
#include "train/LabelSourceBinding.h"
#include "train/ResolvedSpec.h"

namespace labrun::cli {

namespace fs = std::filesystem;

CLI::App* PrepareCommand::add(CLI::App& app) {
  auto* prepare = app.add_subcommand(
      "prepare",
      "Parse the annotations of SPEC's train and val splits into the label "
      "cache (a run does it on first use)");
  prepare
      ->add_option("spec", args_.spec,
                   "Experiment spec (YAML); or the fashion-mosaic command")
      ->check(CLI::ExistingFile);
  prepare->add_option("overrides", args_.overrides, "Overrides, as for run");
  prepare->add_option("--split", args_.split, "Only this split")
      ->check(CLI::IsMember({"train", "val"}));

  mosaic_cmd_ = prepare->add_subcommand(
      "fashion-mosaic",
      "Build the fashion-mosaic image set from Debian's Fashion-MNIST "
      "(docs/DATASETS.md)");
  mosaic_cmd_->add_option("--out", mosaic_.out_dir, "Output folder")
      ->capture_default_str();
  mosaic_cmd_
      ->add_option("--source", mosaic_.source_dir,
                   "Folder of the *-idx?-ubyte.gz files")
      ->capture_default_str();
  mosaic_cmd_->add_option("--train", mosaic_.train_images,
                          "Train images (0: 2000)");
  mosaic_cmd_->add_option("--val", mosaic_.val_images, "Val images (0: 500)");
  mosaic_cmd_->add_option("--size", mosaic_.canvas_size,
                          "Canvas side in pixels, 64..1024 (0: 96)");
  mosaic_cmd_
      ->add_option("--seed", mosaic_.seed,
                   "Random seed: the same options and seed make the same "
                   "set")
      ->capture_default_str();
  return prepare;
}

int PrepareCommand::run(const GlobalOptions&) {
  if (*mosaic_cmd_) return buildFashionMosaic(mosaic_);
  if (args_.spec.empty()) {
    std::cerr << "labrun: error: prepare needs a SPEC or the "
                 "fashion-mosaic command (see labrun prepare --help)\n";
    return kUsageError;
  }
  return prepareLabels();
}

// The labels read no plugin: the spec is resolved without looking inside
// its plugin slots, so none is loaded (--plugin-path is not needed).
int PrepareCommand::prepareLabels() const {
  const train::ResolvedSpec spec =
      train::resolveSpec(args_.spec, args_.overrides, /*plugin_params=*/{});
  const std::string spec_dir = fs::path(spec.path).parent_path().string();
  const data::LabelSourceOptions source = train::bindLabelSource(spec.tree);
  for (const std::string split : {"train", "val"}) {
    if (!args_.split.empty() && args_.split != split) continue;
    data::LabelLoadReport report;
    const data::LabelTable labels = train::labelsOrSpecError(
        [&] { return data::loadLabelTable(source, split, spec_dir, &report); });
    const std::string took = fmt::format("{:.3f} s ({:.3f} s cpu)",
                                         report.seconds, report.cpu_seconds);
    const std::string how =
        report.cache_file.empty()
            ? fmt::format("parsed in {} (cache off)", took)
        : report.cache_hit ? fmt::format("read from the cache in {}: {}", took,
                                         report.cache_file)
        : report.cache_stored
            ? fmt::format("parsed in {}, cached: {}", took, report.cache_file)
            : fmt::format("parsed in {}, not cached (see the warning)", took);
    std::cout << fmt::format(
        "{}: {} images, {} classes, {} positive and {} ignored labels from "
        "{}; {}\n",
        split, labels.numImages(), labels.numClasses(), report.positives,
        report.ignored, report.annotations, how);
  }
  return kOk;
}

}  // namespace labrun::cli
