// `labrun prepare`: parses a spec's annotations into the label cache, or
// builds the fashion-mosaic image set. The labels need neither LibTorch nor
// plugins, so both executables run them; the set's builder needs OpenCV,
// whose loading every command of the front end would pay, so each
// executable says how `prepare fashion-mosaic` runs (buildFashionMosaic)
// and registers its own subclass.
#pragma once

#include <string>
#include <vector>

#include "cli/Command.h"
#include "data/FashionMosaic.h"

namespace labrun::cli {

class PrepareCommand : public Command {
 public:
  CLI::App* add(CLI::App& app) override;
  int run(const GlobalOptions& global) override;

 protected:
  // Runs `prepare fashion-mosaic` with `options`; returns the exit code.
  virtual int buildFashionMosaic(const data::FashionMosaicOptions& options) = 0;

 private:
  struct Args {
    std::string spec;
    std::vector<std::string> overrides;
    std::string split;  // "train" or "val"; empty: both
  };
  int prepareLabels() const;

  Args args_;
  data::FashionMosaicOptions mosaic_;
  CLI::App* mosaic_cmd_ = nullptr;
};

}  // namespace labrun::cli
