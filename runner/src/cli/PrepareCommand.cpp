// `labrun prepare`: parses a spec's annotations into the label cache, or
// builds the fashion-mosaic image set.
#include <fmt/format.h>

#include <CLI/CLI.hpp>
#include <filesystem>
#include <iostream>

#include "cli/Training.h"
#include "data/FashionMosaic.h"
#include "data/LabelSource.h"

namespace labrun::cli {
namespace {

namespace fs = std::filesystem;

struct PrepareArgs {
  std::string spec;
  std::vector<std::string> overrides;
  std::string split;  // "train" or "val"; empty: both
};

int prepareLabels(const GlobalOptions& global, const PrepareArgs& args) {
  const plugins::PluginHost host = loadPlugins(global);
  const train::ResolvedSpec spec =
      train::resolveSpec(args.spec, args.overrides, host);
  const std::string spec_dir = fs::path(spec.path).parent_path().string();
  const data::LabelSourceOptions source = train::bindLabelSource(spec.tree);
  for (const std::string split : {"train", "val"}) {
    if (!args.split.empty() && args.split != split) continue;
    data::LabelLoadReport report;
    const data::LabelSet labels =
        data::loadLabels(source, split, spec_dir, &report);
    const std::string took = fmt::format("{:.3f} s ({:.3f} s cpu)",
                                         report.seconds, report.cpu_seconds);
    const std::string how =
        report.cache_file.empty()
            ? fmt::format("parsed in {} (cache off)", took)
        : report.cache_hit
            ? fmt::format("read from the cache in {}: {}", took,
                          report.cache_file)
            : fmt::format("parsed in {}, cached: {}", took, report.cache_file);
    std::cout << fmt::format(
        "{}: {} images, {} classes, {} positive and {} ignored labels from "
        "{}; {}\n",
        split, labels.image_paths.size(), labels.class_names.size(),
        report.positives, report.ignored, report.annotations, how);
  }
  return kOk;
}

// Builds data/fashion-mosaic (or finds it complete) and prints its paths.
int prepareFashionMosaic(const data::FashionMosaicOptions& options) {
  try {
    const auto made = data::buildFashionMosaic(options);
    fmt::print(
        "fashion-mosaic: {} train images in {}, {} val images in {}\n  {}\n"
        "  {}\n",
        made.train_count, made.train_images, made.val_count, made.val_images,
        made.train_json, made.val_json);
    return kOk;
  } catch (const std::invalid_argument& error) {  // sizes out of range
    std::cerr << "labrun: error: " << error.what() << "\n";
    return kUsageError;
  }
}

class PrepareCommand : public Command {
 public:
  CLI::App* add(CLI::App& app) override {
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
    prepare->footer(kExitCodes);

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
    mosaic_cmd_->add_option("--seed", mosaic_.seed)->capture_default_str();
    mosaic_cmd_->footer(kExitCodes);
    return prepare;
  }

  int run(const GlobalOptions& global) override {
    if (*mosaic_cmd_) return prepareFashionMosaic(mosaic_);
    if (args_.spec.empty()) {
      std::cerr << "labrun: error: prepare needs a SPEC or the "
                   "fashion-mosaic command (see labrun prepare --help)\n";
      return kUsageError;
    }
    return prepareLabels(global, args_);
  }

 private:
  PrepareArgs args_;
  data::FashionMosaicOptions mosaic_;
  CLI::App* mosaic_cmd_ = nullptr;
};

}  // namespace

LABRUN_COMMAND(PrepareCommand, "prepare", 20)

}  // namespace labrun::cli
