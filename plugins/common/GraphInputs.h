// The two fixed inputs of the label-graph heads (ssgrl, mlgcn): the classes'
// word embeddings and the label graph, read or built from the head's options,
// which both heads declare through graphParamSpecs.
#pragma once

#include <torch/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "labrun/ModelContext.h"
#include "labrun/ParamSpec.h"

namespace labrun::graph {

// Word embeddings of the K classes (label order), [K, E] float32, from
// `source`:
//  - a .npy path holding a [K, E] array;
//  - a GloVe-format .txt path ("word v1 ... vE" per line): a class name of
//    several words ("traffic light", "hair_drier") is the mean of its
//    lower-cased words' vectors;
//  - "random": standard normal entries, E = random_dim, from `seed`;
//  - "onehot": the K x K identity.
// Relative paths resolve from context.spec_dir. Throws std::invalid_argument
// "embeddings: ..." naming the file and what was expected (the row count, or
// every word the text file lacks).
torch::Tensor loadEmbeddings(const std::string& source, std::int64_t random_dim,
                             std::uint64_t seed, const ModelContext& context);

struct AdjacencyOptions {
  // "labels": from context.train_targets; or a .npy path holding a [K, K]
  // matrix: conditional probabilities, or co-occurrence counts when
  // `class_counts` (a .npy path of [K] counts) is given.
  std::string source = "labels";
  std::string class_counts;
  // > 0: binarise, A = (A >= threshold) (ML-GCN's tau).
  double threshold = 0;
  // > 0: ML-GCN's re-weighting (eq. 8) with p = reweight: each row's
  // off-diagonal entries are scaled to sum to p and the diagonal is 1 - p.
  double reweight = 0;
};

// The graph A [K, K] float32 (SSGRL's GGNN in-edge matrix): A[i, j] = P(j | i)
// = count(i and j) / count(i), zero diagonal (and zero rows for classes that
// never occur) when built from labels or counts, then thresholded and
// re-weighted as asked. Throws std::invalid_argument "adjacency: ..." or
// "class_counts: ..." naming the file, the size found and the one expected.
torch::Tensor buildAdjacency(const AdjacencyOptions& options,
                             const ModelContext& context);

// P(j | i) from co-occurrence counts [K, K] and class counts [K] (float64
// math), with a zero diagonal and zero rows where count(i) = 0.
torch::Tensor conditionalProbabilities(const torch::Tensor& cooccurrence,
                                       const torch::Tensor& class_counts);

// The options embeddings, embedding_dim, embedding_seed, adjacency,
// class_counts, adjacency_threshold and adjacency_reweight, documented, with
// the given defaults of the last two; `reweight_doc` says what the head's
// re-weighting does.
std::vector<ParamSpec> graphParamSpecs(const char* threshold_default,
                                       const char* reweight_default,
                                       const char* reweight_doc);

// graphParamSpecs(...) followed by the head's own `specs`: its whole option
// list.
std::vector<ParamSpec> withGraphParamSpecs(const char* threshold_default,
                                           const char* reweight_default,
                                           const char* reweight_doc,
                                           const std::vector<ParamSpec>& specs);

// The options above, read back.
AdjacencyOptions adjacencyOptions(const Params& params);
torch::Tensor embeddingsOption(const Params& params,
                               const ModelContext& context);

}  // namespace labrun::graph
