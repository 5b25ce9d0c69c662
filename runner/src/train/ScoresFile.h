// Per-image scores of an evaluation, for offline analysis.
#pragma once

#include <torch/types.h>

#include <cstdint>
#include <string>
#include <vector>

namespace labrun::train {

// The rows of an evaluation, in evaluation order.
struct ScoresTable {
  std::vector<std::string> class_names;  // K
  std::vector<std::int64_t> samples;     // N: index of the sample in the set
  std::vector<std::string> images;       // N: its image file (or the index)
  torch::Tensor logits, targets, mask;   // [N, K] float32
};

// What to write besides the probabilities (sigmoid of the logits).
struct ScoresContent {
  bool truth = false;   // ground truth: 1, 0; ignored labels left empty/NaN
  bool logits = false;  // the raw logits the metrics ranked
};

// Writes `table` to `path`, atomically.
// - CSV (any suffix but .npy, in any case): columns index, image, one per class
// (the
//   probability), then with `truth` "truth:<class>" (1, 0, or empty for an
//   ignored label) and with `logits` "logit:<class>" columns.
// - .npy: the probabilities [N, K] (format 1.0, '<f4', C order), and beside
//   it, for X.npy, X.rows.csv (index,image per row), with `truth`
//   X.truth.npy (1, 0, NaN = ignored) and with `logits` X.logits.npy.
void writeScores(const std::string& path, const ScoresTable& table,
                 const ScoresContent& content);

// The files writeScores(path, ..., content) writes, `path` last.
std::vector<std::string> scoresFiles(const std::string& path,
                                     const ScoresContent& content);

}  // namespace labrun::train
