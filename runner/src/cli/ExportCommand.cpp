// `labrun export`: a run's model for Python code, as a state dict that
// torch.load reads, named as the head's export layout says (torchvision's
// ResNet + fc, the released SSGRL model), and a JSON of what using it takes.
#include <fmt/format.h>
#include <torch/serialize.h>

#include <CLI/CLI.hpp>
#include <cctype>
#include <cmath>
#include <filesystem>
#include <iostream>
#include <nlohmann/json.hpp>
#include <variant>

#include "cli/JsonText.h"
#include "cli/OutputFiles.h"
#include "cli/StoreAccess.h"
#include "cli/Training.h"
#include "data/Transforms.h"
#include "spec/SpecError.h"
#include "train/ClassThresholds.h"
#include "train/ExperimentOptions.h"
#include "util/AtomicFile.h"
#include "util/Sha256.h"

namespace labrun::cli {
namespace {

namespace fs = std::filesystem;

struct ExportArgs {
  std::string run;         // uuid, prefix or name
  std::string checkpoint;  // best, last or a file
  std::string output;      // the state dict; "" = <run name>.pt
};

// A plugin as the run bound it: its name and every parameter, typed as the
// plugin declares it.
nlohmann::json pluginJson(const train::PluginUse& use) {
  nlohmann::json params = nlohmann::json::object();
  for (const auto& [key, value] : use.params.values()) {
    params[key] =
        std::visit([](const auto& v) { return nlohmann::json(v); }, value);
  }
  return {{"name", use.plugin->name()}, {"params", params}};
}

// The validation pipeline as the model expects its inputs.
nlohmann::json transformJson(const data::TransformPipeline& pipeline) {
  nlohmann::json steps = nlohmann::json::array();
  const std::string& text = pipeline.describe();
  for (std::size_t begin = 0; begin < text.size();) {
    const std::size_t end = std::min(text.find(", ", begin), text.size());
    steps.push_back(text.substr(begin, end - begin));
    begin = end + 2;
  }
  nlohmann::json normalize = nullptr;
  if (const auto& values = pipeline.normalization()) {
    normalize = {{"mean", values->mean}, {"std", values->std}};
  }
  return {{"steps", steps},
          {"height", pipeline.height()},
          {"width", pipeline.width()},
          {"normalize", normalize}};
}

// The run's per-class thresholds (from `labrun eval --thresholds`), as
// logits and probabilities; null for a class without one.
nlohmann::json thresholdsJson(const store::RunStore& store,
                              const std::string& run, std::size_t classes) {
  const auto stored = train::runThresholds(store, run, classes);
  if (!stored) return nullptr;
  nlohmann::json logits = nlohmann::json::array();
  nlohmann::json probabilities = nlohmann::json::array();
  for (const auto& logit : stored->logits) {
    logits.push_back(logit ? nlohmann::json(*logit) : nullptr);
    probabilities.push_back(logit ? nlohmann::json(1 / (1 + std::exp(-*logit)))
                                  : nullptr);
  }
  return {{"evaluation", stored->evaluation},
          {"logit", logits},
          {"probability", probabilities}};
}

void writeFile(const std::string& path, const std::string& bytes) {
  util::AtomicFile file(path);
  file.write(bytes.data(), bytes.size());
  file.commit();
}

// "<name>.pt" with anything but letters, digits, '.', '-' and '_' as '_'.
std::string defaultOutput(std::string name) {
  for (char& c : name) {
    if (std::isalnum(static_cast<unsigned char>(c)) == 0 && c != '.' &&
        c != '-' && c != '_') {
      c = '_';
    }
  }
  return name + ".pt";
}

int exportRun(const GlobalOptions& global, const ExportArgs& args) {
  const plugins::PluginHost host = loadPlugins(global);
  CommandTarget target =
      resolveTarget(global,
                    {/*command=*/"export", args.run, /*runs_only=*/true,
                     /*overrides=*/{}, args.checkpoint},
                    host);
  const auto store = openExistingStore(global);
  const std::string uuid = *target.run;
  const auto header = store->runHeader(uuid);
  const std::string output =
      args.output.empty() ? defaultOutput(header.name) : args.output;
  const fs::path json_path = fs::path(output).replace_extension(".json");
  if (json_path == fs::path(output)) {
    throw spec::SpecError(fmt::format(
        "export: -o {}: the JSON goes beside the state dict, as {}: expected "
        "another name, e.g. model.pt",
        output, json_path.string()));
  }

  const std::string& checkpoint = target.checkpoint_file;
  checkOutputFiles(global, "export -o", {output, json_path.string()},
                   {checkpoint});
  train::Experiment experiment(std::move(target.spec), host, global.db,
                               train::ModelWeights::kCheckpoint);
  requireTrainedClasses(global, uuid, experiment.classNames(), "export");
  experiment.loadCheckpoint(checkpoint);
  const train::ModelImpl& model = experiment.model();

  c10::Dict<std::string, at::Tensor> state;
  for (const auto& [key, tensor] : model.exportedState()) {
    state.insert(key, tensor);
  }
  const std::vector<char> pickled = torch::pickle_save(state);

  const std::vector<std::string>& classes = experiment.classNames();
  const nlohmann::json facts = {
      {"format", "labrun-export"},
      {"format_version", 1},
      {"labrun_version", LABRUN_VERSION},
      {"state_dict", fs::path(output).filename().string()},
      {"layout", model.exportLayout().name},
      {"run", {{"uuid", uuid}, {"name", header.name}}},
      {"spec_hash", store->runSpec(uuid).hash},
      {"checkpoint",
       {{"which", target.checkpoint},
        {"path", checkpoint},
        {"sha256", util::sha256File(checkpoint)}}},
      {"model",
       {{"backbone", pluginJson(experiment.options().backbone)},
        {"head", pluginJson(experiment.options().head)}}},
      {"classes", classes},
      {"input", transformJson(experiment.options().val_images.transforms)},
      {"output", "logits [batch, classes]; probability = sigmoid(logit)"},
      {"thresholds", thresholdsJson(*store, uuid, classes.size())},
  };
  const std::string json = jsonText(facts, /*indent=*/2) + "\n";
  writeFile(output, std::string(pickled.begin(), pickled.end()));
  writeFile(json_path.string(), json);
  std::cout << fmt::format(
      "exported run {} ({}), checkpoint {}, as {} ({} tensors) to {} and "
      "{}\n",
      header.name, uuid.substr(0, 8), checkpoint, model.exportLayout().name,
      state.size(), output, json_path.string());
  return kOk;
}

class ExportCommand : public Command {
 public:
  CLI::App* add(CLI::App& app) override {
    auto* command = app.add_subcommand(
        "export",
        "Write a run's model as a torch.save state dict for Python (+ JSON)");
    command
        ->add_option("run", args_.run,
                     "Run uuid, unique uuid prefix or run name")
        ->required();
    command
        ->add_option("--checkpoint", args_.checkpoint,
                     "best (default), last or a checkpoint file")
        ->default_val("best");
    command
        ->add_option("-o,--output", args_.output,
                     "The state dict's file (default <run name>.pt, with "
                     "characters other than letters, digits, '.', '-' and "
                     "'_' as '_'); the JSON goes beside it with the "
                     "extension .json")
        ->check(outputFile(/*standard_output=*/false));
    return command;
  }

  int run(const GlobalOptions& global) override {
    return exportRun(global, args_);
  }

 private:
  ExportArgs args_;
};

}  // namespace

LABRUN_COMMAND(ExportCommand, "export", 47)

}  // namespace labrun::cli
