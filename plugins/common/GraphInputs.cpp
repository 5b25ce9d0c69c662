#include "GraphInputs.h"

#include <torch/torch.h>

#include <cctype>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <stdexcept>
#include <vector>

namespace labrun::graph {
namespace {

namespace fs = std::filesystem;

bool endsWith(const std::string& text, const std::string& suffix) {
  return text.size() >= suffix.size() &&
         text.compare(text.size() - suffix.size(), suffix.size(), suffix) == 0;
}

std::string resolve(const std::string& path, const ModelContext& context) {
  const fs::path file(path);
  if (file.is_absolute() || context.spec_dir.empty()) return path;
  return (fs::path(context.spec_dir) / file).string();
}

std::string shapeText(const torch::Tensor& tensor) {
  std::string text;
  for (std::int64_t dim : tensor.sizes()) {
    text += (text.empty() ? "" : ", ") + std::to_string(dim);
  }
  return "[" + text + "]";
}

torch::Tensor readNpy(const std::string& key, const std::string& path,
                      const ModelContext& context) {
  if (!context.load_npy) {
    throw std::invalid_argument(key + ": cannot read '" + path +
                                "': the host provides no .npy reader");
  }
  try {
    return context.load_npy(path);
  } catch (const std::exception& error) {
    throw std::invalid_argument(key + ": " + error.what());
  }
}

// Lower-case words of a class name ("Traffic light", "hair_drier").
std::vector<std::string> words(const std::string& class_name) {
  std::vector<std::string> result;
  std::string word;
  for (char c : class_name + " ") {
    if (std::isspace(static_cast<unsigned char>(c)) || c == '_') {
      if (!word.empty()) result.push_back(word);
      word.clear();
    } else {
      word += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    }
  }
  return result;
}

torch::Tensor gloveEmbeddings(const std::string& path,
                              const ModelContext& context) {
  if (static_cast<std::int64_t>(context.class_names.size()) !=
      context.num_classes) {
    throw std::invalid_argument("embeddings: '" + path +
                                "' is looked up by class name, but the data "
                                "source names no classes");
  }
  std::set<std::string> wanted;
  for (const std::string& name : context.class_names) {
    const std::vector<std::string> name_words = words(name);
    if (name_words.empty()) {
      throw std::invalid_argument("embeddings: class name '" + name +
                                  "' has no word to look up in '" + path + "'");
    }
    wanted.insert(name_words.begin(), name_words.end());
  }
  std::ifstream in(path);
  if (!in)
    throw std::invalid_argument("embeddings: cannot open '" + path + "'");
  std::map<std::string, std::vector<float>> found;
  std::string line;
  std::int64_t line_number = 0;
  std::size_t dim = 0;
  while (found.size() < wanted.size() && std::getline(in, line)) {
    ++line_number;
    const std::size_t space = line.find(' ');
    const std::string word = line.substr(0, space);
    if (space == std::string::npos || !wanted.count(word) || found.count(word))
      continue;
    std::istringstream values(line.substr(space + 1));
    std::vector<float> vector;
    for (float value; values >> value;) vector.push_back(value);
    if (!values.eof() || vector.empty() || (dim != 0 && vector.size() != dim)) {
      throw std::invalid_argument(
          "embeddings: " + path + ":" + std::to_string(line_number) +
          ": expected '" + word + "' followed by " +
          (dim ? std::to_string(dim) : std::string("its")) + " numbers");
    }
    dim = vector.size();
    found.emplace(word, std::move(vector));
  }
  std::string missing;
  for (const std::string& word : wanted) {
    if (!found.count(word)) missing += (missing.empty() ? "" : ", ") + word;
  }
  if (!missing.empty()) {
    throw std::invalid_argument("embeddings: '" + path +
                                "' has no vector for: " + missing);
  }
  torch::Tensor result =
      torch::empty({static_cast<std::int64_t>(context.class_names.size()),
                    static_cast<std::int64_t>(dim)});
  for (std::size_t k = 0; k < context.class_names.size(); ++k) {
    torch::Tensor sum = torch::zeros({static_cast<std::int64_t>(dim)});
    const std::vector<std::string> name_words = words(context.class_names[k]);
    for (const std::string& word : name_words) {
      sum += torch::tensor(found.at(word));
    }
    result[static_cast<std::int64_t>(k)] =
        sum / static_cast<double>(name_words.size());
  }
  return result;
}

torch::Tensor readSquare(const std::string& key, const std::string& path,
                         const ModelContext& context) {
  const torch::Tensor matrix = readNpy(key, path, context).to(torch::kDouble);
  const std::int64_t k = context.num_classes;
  if (matrix.dim() != 2 || matrix.size(0) != k || matrix.size(1) != k) {
    throw std::invalid_argument(key + ": '" + path + "' has shape " +
                                shapeText(matrix) + ", expected [" +
                                std::to_string(k) + ", " + std::to_string(k) +
                                "] (num_classes)");
  }
  if (!torch::isfinite(matrix).all().item<bool>() ||
      (matrix < 0).any().item<bool>()) {
    throw std::invalid_argument(key + ": '" + path +
                                "' holds negative or non-finite values");
  }
  return matrix;
}

}  // namespace

torch::Tensor loadEmbeddings(const std::string& source, std::int64_t random_dim,
                             std::uint64_t seed, const ModelContext& context) {
  const std::int64_t classes = context.num_classes;
  if (source == "onehot") return torch::eye(classes);
  if (source == "random") {
    auto generator = at::make_generator<at::CPUGeneratorImpl>(seed);
    return torch::randn({classes, random_dim}, generator);
  }
  const std::string path = resolve(source, context);
  if (endsWith(source, ".txt")) return gloveEmbeddings(path, context);
  if (!endsWith(source, ".npy")) {
    throw std::invalid_argument(
        "embeddings: expected a .npy or .txt path, 'random' or 'onehot', "
        "found '" +
        source + "'");
  }
  const torch::Tensor table = readNpy("embeddings", path, context);
  if (table.dim() != 2 || table.size(0) != classes) {
    throw std::invalid_argument(
        "embeddings: '" + path + "' has shape " + shapeText(table) +
        ", expected [" + std::to_string(classes) +
        ", E]: one row per class (num_classes), in label order");
  }
  if (!torch::isfinite(table).all().item<bool>()) {
    throw std::invalid_argument("embeddings: '" + path +
                                "' holds non-finite values");
  }
  return table.to(torch::kFloat);
}

torch::Tensor conditionalProbabilities(const torch::Tensor& cooccurrence,
                                       const torch::Tensor& class_counts) {
  const torch::Tensor counts = class_counts.to(torch::kDouble).unsqueeze(1);
  torch::Tensor probabilities = torch::where(
      counts > 0, cooccurrence.to(torch::kDouble) / counts.clamp_min(1),
      torch::zeros({}, torch::kDouble));
  probabilities.fill_diagonal_(0);
  return probabilities;
}

torch::Tensor buildAdjacency(const AdjacencyOptions& options,
                             const ModelContext& context) {
  const std::int64_t classes = context.num_classes;
  torch::Tensor adjacency;
  if (options.source == "labels") {
    const torch::Tensor& targets = context.train_targets;
    if (!targets.defined()) {
      throw std::invalid_argument(
          "adjacency: 'labels' needs the training labels, which this data "
          "source does not provide; give a .npy path instead");
    }
    if (targets.dim() != 2 || targets.size(1) != classes) {
      throw std::invalid_argument("adjacency: training labels have shape " +
                                  shapeText(targets) + ", expected [N, " +
                                  std::to_string(classes) + "]");
    }
    const torch::Tensor labels = (targets > 0).to(torch::kDouble);
    const torch::Tensor cooccurrence = torch::matmul(labels.t(), labels);
    adjacency = conditionalProbabilities(cooccurrence, cooccurrence.diagonal());
  } else if (endsWith(options.source, ".npy")) {
    const std::string path = resolve(options.source, context);
    adjacency = readSquare("adjacency", path, context);
    if (!options.class_counts.empty()) {
      const std::string counts_path = resolve(options.class_counts, context);
      const torch::Tensor counts =
          readNpy("class_counts", counts_path, context).to(torch::kDouble);
      if (counts.dim() != 1 || counts.size(0) != classes) {
        throw std::invalid_argument("class_counts: '" + counts_path +
                                    "' has shape " + shapeText(counts) +
                                    ", expected [" + std::to_string(classes) +
                                    "] (num_classes)");
      }
      adjacency = conditionalProbabilities(adjacency, counts);
    } else if ((adjacency > 1).any().item<bool>()) {
      throw std::invalid_argument(
          "adjacency: '" + path + "' holds values above 1 (max " +
          std::to_string(adjacency.max().item<double>()) +
          "): expected probabilities; for co-occurrence counts also set "
          "class_counts");
    }
  } else {
    throw std::invalid_argument(
        "adjacency: expected 'labels' or a .npy path, found '" +
        options.source + "'");
  }
  if (options.threshold < 0 || options.threshold > 1) {
    throw std::invalid_argument(
        "adjacency_threshold: expected a value in [0, 1]");
  }
  if (options.reweight < 0 || options.reweight > 1) {
    throw std::invalid_argument(
        "adjacency_reweight: expected a value in [0, 1]");
  }
  if (options.threshold > 0) {
    adjacency = (adjacency >= options.threshold).to(torch::kDouble);
  }
  if (options.reweight > 0) {
    const torch::Tensor eye = torch::eye(classes, torch::kDouble);
    const torch::Tensor off_diagonal = adjacency * (1 - eye);
    const torch::Tensor row_sums = off_diagonal.sum(1, /*keepdim=*/true);
    adjacency = options.reweight * off_diagonal / row_sums.clamp_min(1e-12) +
                (1 - options.reweight) * eye;
  }
  return adjacency.to(torch::kFloat);
}

std::vector<ParamSpec> graphParamSpecs(const char* threshold_default,
                                       const char* reweight_default,
                                       const char* reweight_doc) {
  return {
      {"embeddings", ParamType::kString, nullptr,
       "class word embeddings: a .npy path ([K, E]), a GloVe .txt path "
       "(multi-word names averaged), 'random' or 'onehot'; paths relative to "
       "the spec"},
      {"embedding_dim", ParamType::kInt, "300", "size of 'random' embeddings",
       /*choices=*/nullptr, /*range=*/">= 1"},
      {"embedding_seed", ParamType::kInt, "0", "seed of 'random' embeddings"},
      {"adjacency", ParamType::kString, "labels",
       "label graph: 'labels' (P(j|i) from the training labels) or a .npy "
       "path ([K, K] probabilities, or co-occurrence counts with "
       "class_counts)"},
      {"class_counts", ParamType::kString, "''",
       ".npy path of per-class image counts [K]; makes `adjacency` counts"},
      {"adjacency_threshold", ParamType::kFloat, threshold_default,
       "> 0: binarise the graph at this probability (ML-GCN's tau)"},
      {"adjacency_reweight", ParamType::kFloat, reweight_default, reweight_doc},
  };
}

std::vector<ParamSpec> withGraphParamSpecs(
    const char* threshold_default, const char* reweight_default,
    const char* reweight_doc, const std::vector<ParamSpec>& specs) {
  std::vector<ParamSpec> all =
      graphParamSpecs(threshold_default, reweight_default, reweight_doc);
  all.insert(all.end(), specs.begin(), specs.end());
  return all;
}

AdjacencyOptions adjacencyOptions(const Params& params) {
  AdjacencyOptions options;
  options.source = params.getString("adjacency");
  options.class_counts = params.getString("class_counts");
  options.threshold = params.getFloat("adjacency_threshold");
  options.reweight = params.getFloat("adjacency_reweight");
  return options;
}

torch::Tensor embeddingsOption(const Params& params,
                               const ModelContext& context) {
  return loadEmbeddings(
      params.getString("embeddings"), params.getInt("embedding_dim"),
      static_cast<std::uint64_t>(params.getInt("embedding_seed")), context);
}

}  // namespace labrun::graph
