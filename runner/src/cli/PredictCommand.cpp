// `labrun predict`: labels image files with a run's model (or a spec's),
// through the validation split's pipeline.
#include <fmt/format.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <numeric>
#include <set>
#include <sstream>

#include "cli/JsonText.h"
#include "cli/OutputFiles.h"
#include "cli/StoreAccess.h"
#include "cli/TablePrinter.h"
#include "cli/Training.h"
#include "spec/SpecError.h"
#include "train/ClassThresholds.h"
#include "util/AtomicFile.h"

namespace labrun::cli {
namespace {

namespace fs = std::filesystem;

struct PredictArgs {
  std::string target;               // a run reference, or a spec file
  std::vector<std::string> inputs;  // image files and folders
  std::vector<std::string> lists;   // files listing images
  std::string checkpoint;           // "" = best for a run, init for a spec
  double threshold = 0.5;
  bool threshold_given = false;
  std::int64_t top_k = 3;
  std::string format = "table";
  std::string output;  // "" = stdout
  bool quiet = false;
};

// What a folder contributes: files with these extensions (any case).
bool isImageName(const fs::path& path) {
  std::string ext = path.extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(),
                 [](unsigned char c) { return std::tolower(c); });
  static const std::set<std::string> kImages = {".jpg", ".jpeg", ".png", ".bmp",
                                                ".tif", ".tiff", ".webp"};
  return kImages.count(ext) > 0;
}

// The images to score, in order: each input file as given, each folder's
// image files (recursively, sorted by path), then each list file's lines
// (blank lines and # comments skipped; relative paths resolve against the
// list's folder). A missing input or list is a usage error; a listed file
// that is missing is reported and skipped like any unusable image.
std::vector<std::string> collectImages(const PredictArgs& args) {
  std::vector<std::string> images;
  for (const std::string& input : args.inputs) {
    std::error_code error;
    if (fs::is_directory(input, error)) {
      std::vector<std::string> found;
      try {
        for (const auto& entry : fs::recursive_directory_iterator(
                 input, fs::directory_options::follow_directory_symlink)) {
          if (entry.is_regular_file() && isImageName(entry.path())) {
            found.push_back(entry.path().string());
          }
        }
      } catch (const fs::filesystem_error& walk) {
        // A link that loops, a folder that cannot be read.
        throw spec::SpecError(
            fmt::format("predict: {}: cannot search the folder: {}: {}", input,
                        walk.path1().string(), walk.code().message()));
      }
      std::sort(found.begin(), found.end());
      images.insert(images.end(), found.begin(), found.end());
    } else if (fs::exists(input, error)) {
      images.push_back(input);
    } else {
      throw spec::SpecError(fmt::format(
          "predict: {}: no such file or folder (expected images, folders of "
          "images, or --list FILE)",
          input));
    }
  }
  for (const std::string& list : args.lists) {
    std::error_code error;
    std::ifstream in(list);
    if (fs::is_directory(list, error) || !in) {
      throw spec::SpecError(fmt::format(
          "predict: --list {}: {}; expected a file naming one image a line",
          list, fs::is_directory(list, error) ? "a folder" : "cannot read it"));
    }
    const fs::path base = fs::path(list).parent_path();
    std::string line;
    for (std::int64_t number = 1; std::getline(in, line); ++number) {
      if (line.find('\0') != std::string::npos) {
        throw spec::SpecError(fmt::format(
            "predict: --list {}:{}: binary data; expected a file naming one "
            "image a line",
            list, number));
      }
      const auto first = line.find_first_not_of(" \t\r");
      if (first == std::string::npos || line[first] == '#') continue;
      const auto last = line.find_last_not_of(" \t\r");
      const fs::path path = line.substr(first, last - first + 1);
      images.push_back(path.is_absolute() ? path.string()
                                          : (base / path).string());
    }
  }
  return images;
}

// One image's result: the labels predicted and the top-k, best first.
struct Row {
  std::string image;
  std::vector<std::string> labels;
  std::vector<std::pair<std::string, float>> top;  // class, probability
};

std::vector<Row> rows(const train::Predictions& predictions,
                      const std::vector<std::string>& classes,
                      const std::vector<double>& cut, std::int64_t top_k) {
  const torch::Tensor probabilities = torch::sigmoid(predictions.logits);
  const auto logit = predictions.logits.accessor<float, 2>();
  const auto probability = probabilities.accessor<float, 2>();
  const auto k = static_cast<std::int64_t>(classes.size());
  std::vector<Row> out;
  std::vector<std::int64_t> order(static_cast<std::size_t>(k));
  for (std::int64_t i = 0; i < predictions.logits.size(0); ++i) {
    Row row;
    row.image = predictions.images[static_cast<std::size_t>(i)];
    for (std::int64_t c = 0; c < k; ++c) {
      if (logit[i][c] >= cut[c]) row.labels.push_back(classes[c]);
    }
    // Ties go to the lower class index.
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(),
                     [&](std::int64_t a, std::int64_t b) {
                       return logit[i][a] > logit[i][b];
                     });
    for (std::int64_t r = 0; r < std::min(top_k, k); ++r) {
      row.top.emplace_back(classes[order[r]], probability[i][order[r]]);
    }
    out.push_back(std::move(row));
  }
  return out;
}

std::string joined(const std::vector<std::string>& labels) {
  std::string text;
  for (const auto& label : labels) text += (text.empty() ? "" : ";") + label;
  return text;
}

// table: image, labels, top (e.g. "dog 0.912, cat 0.403"); csv: image,
// labels (;-separated), label_1, score_1, ...; jsonl: one object a line.
// Scores are probabilities, printed exactly (9 digits) in csv and jsonl.
void print(const std::vector<Row>& rows, const PredictArgs& args,
           std::ostream& out) {
  if (args.format == "jsonl") {
    for (const Row& row : rows) {
      nlohmann::json top = nlohmann::json::array();
      for (const auto& [label, score] : row.top) {
        top.push_back({{"label", label}, {"score", score}});
      }
      out << jsonText(
                 {{"image", row.image}, {"labels", row.labels}, {"top", top}})
          << "\n";
    }
    return;
  }
  TextTable table;
  const bool csv = args.format == "csv";
  table.columns = {"image", "labels"};
  const std::size_t ranks = rows.empty() ? 0 : rows[0].top.size();
  if (csv) {
    for (std::size_t r = 1; r <= ranks; ++r) {
      table.columns.push_back(fmt::format("label_{}", r));
      table.columns.push_back(fmt::format("score_{}", r));
    }
  } else {
    table.columns.push_back("top");
  }
  table.types.assign(table.columns.size(), "text");
  for (const Row& row : rows) {
    std::vector<std::optional<std::string>> cells = {row.image,
                                                     joined(row.labels)};
    std::string top;
    for (const auto& [label, score] : row.top) {
      if (csv) {
        cells.emplace_back(label);
        cells.emplace_back(fmt::format("{:.9g}", score));
      } else {
        top +=
            fmt::format("{}{} {:.3f}", top.empty() ? "" : ", ", label, score);
      }
    }
    if (!csv) cells.emplace_back(top);
    table.rows.push_back(std::move(cells));
  }
  printTable(table, csv ? TableFormat::kCsv : TableFormat::kText, out);
}

// CLI::Range lets NaN through and calls a malformed number out of range.
CLI::Validator probability() {
  return CLI::Validator(
      [](std::string& text) -> std::string {
        double value = 0;
        if (CLI::detail::lexical_cast(text, value) && value >= 0 &&
            value <= 1) {
          return "";
        }
        return "expected a probability from 0 to 1, found " + text;
      },
      "0..1");
}

int predict(const GlobalOptions& global, const PredictArgs& args) {
  if (args.inputs.empty() && args.lists.empty()) {
    throw spec::SpecError(
        "predict: no images given: name image files, folders of images or "
        "--list FILE after the run or spec");
  }
  const std::vector<std::string> images = collectImages(args);
  if (images.empty()) {
    throw spec::SpecError(
        "predict: no images given (the folders hold no .jpg, .jpeg, .png, "
        ".bmp, .tif, .tiff or .webp file and the lists are empty)");
  }
  const plugins::PluginHost host = loadPlugins(global);
  // The run whose thresholds apply, if any.
  CommandTarget resolved =
      resolveTarget(global,
                    {/*command=*/"predict", args.target, /*runs_only=*/false,
                     /*overrides=*/{}, args.checkpoint},
                    host);
  const std::string checkpoint = resolved.checkpoint_file;
  const std::optional<std::string> uuid = resolved.run;
  // '-' is standard output, as without -o.
  const std::string output = args.output == "-" ? "" : args.output;
  if (!output.empty()) {
    std::vector<std::string> inputs = images;
    inputs.insert(inputs.end(), args.lists.begin(), args.lists.end());
    inputs.push_back(args.target);
    if (!checkpoint.empty()) inputs.push_back(checkpoint);
    checkOutputFiles(global, "predict -o", {output}, inputs);
  }
  train::Experiment experiment(std::move(resolved.spec), host, global.db,
                               checkpoint.empty()
                                   ? train::ModelWeights::kInitial
                                   : train::ModelWeights::kCheckpoint);
  const std::vector<std::string>& classes = experiment.classNames();
  requireTrainedClasses(global, uuid, classes, "predict");
  // Before the run's thresholds, whose class count a checkpoint of another
  // model would fail first, with a less telling message.
  if (!checkpoint.empty()) experiment.loadCheckpoint(checkpoint);
  std::string used = fmt::format("threshold {}", args.threshold);
  std::vector<double> cut(classes.size(),
                          std::log(args.threshold / (1 - args.threshold)));
  if (!args.threshold_given && uuid) {
    if (const auto stored = train::runThresholds(*openExistingStore(global),
                                                 *uuid, classes.size())) {
      for (std::size_t k = 0; k < cut.size(); ++k) {
        cut[k] = stored->logits[k].value_or(cut[k]);
      }
      used = fmt::format(
          "per-class thresholds of evaluation {} ({} for "
          "classes without one)",
          stored->evaluation, args.threshold);
    }
  }

  const bool bar = !args.quiet && ::isatty(STDERR_FILENO) != 0;
  const train::Predictions predictions =
      experiment.predict(images, [bar](std::int64_t done, std::int64_t total) {
        if (!bar) return;
        std::cerr << fmt::format("\rpredicting {}/{} images\033[K", done, total)
                  << std::flush;
      });
  if (bar) std::cerr << "\r\033[K";
  for (const auto& skipped : predictions.skipped) {
    std::cerr << skipped.path << ": " << skipped.reason << "\n";
  }
  if (predictions.images.empty()) {
    throw spec::SpecError(fmt::format(
        "predict: none of the {} image(s) given could be read (each is named "
        "above with its reason); nothing was written",
        images.size()));
  }
  const std::vector<Row> table = rows(predictions, classes, cut, args.top_k);
  if (output.empty()) {
    print(table, args, std::cout);
  } else {
    std::ostringstream text;
    print(table, args, text);
    util::AtomicFile file(output);
    file.write(text.str().data(), text.str().size());
    file.commit();
  }
  std::cerr << fmt::format(
      "predicted {} images, skipped {} unusable, at {}{}\n",
      predictions.images.size(), predictions.skipped.size(), used,
      output.empty() ? "" : "; wrote " + output);
  return kOk;
}

class PredictCommand : public Command {
 public:
  CLI::App* add(CLI::App& app) override {
    auto* predict =
        app.add_subcommand("predict", "Label image files with a run's model");
    predict
        ->add_option("target", args_.target,
                     "A run (uuid, prefix or name), or a spec file (its "
                     "initial weights, e.g. imported with weights:, or a "
                     "checkpoint file)")
        ->required();
    predict->add_option("images", args_.inputs,
                        "Image files, and folders searched recursively for "
                        ".jpg, .jpeg, .png, .bmp, .tif, .tiff and .webp");
    predict->add_option("--list", args_.lists,
                        "A file naming one image a line (relative to its "
                        "folder; # comments)");
    predict->add_option("--checkpoint", args_.checkpoint,
                        "A run's: best (default), last or a checkpoint file; "
                        "a spec's: init (default) or a checkpoint file");
    auto* threshold =
        predict
            ->add_option("--threshold", args_.threshold,
                         "Probability from which a label is predicted, for "
                         "every class (default: the run's per-class "
                         "thresholds from labrun eval --thresholds when it "
                         "has them, 0.5 for the rest)")
            ->check(probability());
    predict
        ->add_option("--top-k", args_.top_k,
                     "Labels listed with their scores per image "
                     "(default 3)")
        ->check(atLeast(0));
    predict
        ->add_option("--format", args_.format, "table (default), csv or jsonl")
        ->check(CLI::IsMember({"table", "csv", "jsonl"}));
    predict
        ->add_option("-o,--output", args_.output,
                     "Write the results to FILE (default, or '-': stdout)")
        ->check(outputFile(/*standard_output=*/true));
    predict->add_flag("--quiet,-q", args_.quiet,
                      "No progress bar (skipped files and the summary still "
                      "print)");
    threshold_ = threshold;
    return predict;
  }

  int run(const GlobalOptions& global) override {
    args_.threshold_given = threshold_->count() > 0;
    return predict(global, args_);
  }

 private:
  PredictArgs args_;
  CLI::Option* threshold_ = nullptr;
};

}  // namespace

LABRUN_COMMAND(PredictCommand, "predict", 45)

}  // namespace labrun::cli
