// labrun-torch's `labrun prepare`: the front end's, plus the fashion-mosaic
// set built here (OpenCV).
#include <fmt/format.h>

#include <iostream>
#include <stdexcept>

#include "cli/PrepareCommand.h"

namespace labrun::cli {
namespace {

class PrepareMosaicCommand final : public PrepareCommand {
 protected:
  // Builds data/fashion-mosaic (or finds it complete) and prints its paths.
  int buildFashionMosaic(const data::FashionMosaicOptions& options) override {
    try {
      const auto made = data::buildFashionMosaic(options);
      fmt::print(
          "fashion-mosaic: {} train images in {}, {} val images in {}\n  {}\n"
          "  {}\n",
          made.train_count, made.train_images, made.val_count, made.val_images,
          made.train_json, made.val_json);
      return kOk;
    } catch (const std::invalid_argument& error) {  // sizes, --source
      std::cerr << "labrun: error: " << error.what() << "\n";
      return kUsageError;
    }
  }
};

}  // namespace

LABRUN_COMMAND(PrepareMosaicCommand, "prepare", 20)

}  // namespace labrun::cli
