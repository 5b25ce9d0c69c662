// Per-class and overall precision, recall and F1 (CP, CR, CF1, OP, OR, OF1),
// in percent, as ML-GCN and SSGRL report them: at a probability threshold,
// and for the top-k labels of every image that also reach it (ML-GCN's
// overall_topk; top_k_threshold). Scores are logits (the host's contract).
//
// Counts per class k over the labels that count (mask 1): N_c correct
// predictions, N_p predictions, N_g positives. Then
//   CP = mean_k N_c/N_p, CR = mean_k N_c/N_g, CF1 = 2 CP CR / (CP + CR),
//   OP = sum N_c / sum N_p, OR = sum N_c / sum N_g, OF1 = 2 OP OR / (OP + OR)
// (CF1 is the F1 of the averages, not the mean of per-class F1s). A ratio
// with a zero denominator counts as 0: ML-GCN's code does so for N_p = 0 and
// scikit-learn's zero_division=0 for both, so classes without positives stay
// in the class means with recall 0 (ML-GCN's CR would be NaN); they are named
// in a note and their per-class F1 is recorded as undefined.
#include <torch/torch.h>

#include <cmath>
#include <limits>

#include "labrun/AccumulatingMetric.h"
#include "labrun/PluginDescriptor.h"

namespace {

struct Counts {
  torch::Tensor correct, predicted, positives;  // [K] float64 each
};

// The scalars of one summary, in the order summarise() computes them.
constexpr const char* kNames[] = {"CP", "CR", "CF1", "OP", "OR", "OF1"};

double ratio(double numerator, double denominator) {
  return denominator > 0 ? numerator / denominator : 0.0;
}

double f1(double precision, double recall) {
  return ratio(2 * precision * recall, precision + recall);
}

class PrfMetric : public labrun::AccumulatingMetric {
 public:
  PrfMetric(double threshold, std::int64_t top_k, bool top_k_threshold,
            std::vector<std::string> class_names)
      : threshold_(threshold),
        top_k_(top_k),
        top_k_threshold_(top_k_threshold),
        class_names_(std::move(class_names)) {}

  std::vector<std::string> keys() const override {
    std::vector<std::string> names;
    for (const char* name : kNames) names.emplace_back(name);
    if (top_k_ > 0) {
      for (const char* name : kNames) names.push_back(name + topKSuffix());
    }
    return names;
  }

  labrun::MetricResult compute() const override {
    labrun::MetricResult result;
    result.per_class_name = "F1";
    if (empty()) {
      result.notes.push_back("prf: no samples evaluated");
      return result;
    }
    const torch::Tensor scores = allScores();
    const torch::Tensor counted = allMasks() > 0;
    const torch::Tensor positive = (allTargets() > 0) & counted;
    const std::int64_t classes = scores.size(1);

    // Scores are logits: sigmoid(x) >= t exactly when x >= ln(t / (1 - t)),
    // which is ML-GCN's `output >= 0` for t = 0.5, without float32
    // sigmoid rounding.
    const torch::Tensor above =
        (scores.to(torch::kDouble) >= std::log(threshold_ / (1 - threshold_))) &
        counted;
    const Counts at_threshold = count(above, positive);
    summarise(at_threshold, "", result);
    if (top_k_ > 0) {
      const torch::Tensor top = topK(scores, counted);
      summarise(count(top_k_threshold_ ? top & above : top, positive),
                topKSuffix(), result);
    }

    std::string without_positives;
    const auto positives = at_threshold.positives.accessor<double, 1>();
    const auto correct = at_threshold.correct.accessor<double, 1>();
    const auto predicted = at_threshold.predicted.accessor<double, 1>();
    for (std::int64_t k = 0; k < classes; ++k) {
      result.positives.push_back(static_cast<std::int64_t>(positives[k]));
      if (positives[k] == 0) {
        result.per_class.push_back(std::numeric_limits<double>::quiet_NaN());
        without_positives +=
            (without_positives.empty() ? "" : ", ") + className(k);
        continue;
      }
      result.per_class.push_back(100.0 * f1(ratio(correct[k], predicted[k]),
                                            correct[k] / positives[k]));
    }
    if (!without_positives.empty()) {
      result.notes.push_back(
          "prf: classes without positives count with recall 0 in CR: " +
          without_positives);
    }
    return result;
  }

 private:
  // The k highest-scoring counted labels of every sample; ties go to the
  // lower class index.
  torch::Tensor topK(const torch::Tensor& scores,
                     const torch::Tensor& counted) const {
    const torch::Tensor candidates =
        torch::where(counted, scores,
                     torch::full({}, -std::numeric_limits<float>::infinity()));
    const torch::Tensor order = std::get<1>(torch::sort(
        candidates, /*stable=*/true, /*dim=*/1, /*descending=*/true));
    const std::int64_t k = std::min<std::int64_t>(top_k_, scores.size(1));
    return torch::zeros_like(counted).scatter_(
               1, order.narrow(1, 0, k),
               torch::ones({scores.size(0), k}, torch::kBool)) &
           counted;
  }

  static Counts count(const torch::Tensor& predicted,
                      const torch::Tensor& positive) {
    return {(predicted & positive).sum(0, false, torch::kDouble),
            predicted.sum(0, false, torch::kDouble),
            positive.sum(0, false, torch::kDouble)};
  }

  static void summarise(const Counts& counts, const std::string& suffix,
                        labrun::MetricResult& result) {
    const auto correct = counts.correct.accessor<double, 1>();
    const auto predicted = counts.predicted.accessor<double, 1>();
    const auto positives = counts.positives.accessor<double, 1>();
    const std::int64_t classes = counts.correct.size(0);
    double precision_sum = 0, recall_sum = 0;
    for (std::int64_t k = 0; k < classes; ++k) {
      precision_sum += ratio(correct[k], predicted[k]);
      recall_sum += ratio(correct[k], positives[k]);
    }
    const double cp = precision_sum / classes, cr = recall_sum / classes;
    const double total_correct = counts.correct.sum().item<double>();
    const double op =
        ratio(total_correct, counts.predicted.sum().item<double>());
    const double orr =
        ratio(total_correct, counts.positives.sum().item<double>());
    const double values[] = {cp, cr, f1(cp, cr), op, orr, f1(op, orr)};
    for (std::size_t i = 0; i < std::size(kNames); ++i) {
      result.scalars.emplace_back(kNames[i] + suffix, 100.0 * values[i]);
    }
  }

  // The names of the top-k values: "CP_top3", ...
  std::string topKSuffix() const { return "_top" + std::to_string(top_k_); }

  std::string className(std::int64_t k) const {
    return k < static_cast<std::int64_t>(class_names_.size())
               ? class_names_[k]
               : "class " + std::to_string(k);
  }

  double threshold_;
  std::int64_t top_k_;
  bool top_k_threshold_;
  std::vector<std::string> class_names_;
};

const labrun::ParamSpec kParams[] = {
    {"threshold", labrun::ParamType::kFloat, "0.5",
     "a label is predicted when its sigmoid probability >= this (compared "
     "as logit >= ln(t / (1 - t)))"},
    {"top_k", labrun::ParamType::kInt, "3",
     "also report *_topK with the k highest-scoring labels of each image "
     "predicted (0: off)",
     /*choices=*/nullptr, /*range=*/">= 0"},
    {"top_k_threshold", labrun::ParamType::kBool, "true",
     "a top-k label counts as predicted only where it also reaches the "
     "threshold, as ML-GCN's overall_topk does (the papers' top-3 tables "
     "follow it); false: every top-k label counts"},
};

std::shared_ptr<labrun::Metric> make(const labrun::Params& params,
                                     const labrun::ModelContext& context) {
  return std::make_shared<PrfMetric>(
      params.getFloat("threshold"), params.getInt("top_k"),
      params.getBool("top_k_threshold"), context.class_names);
}

const labrun::PluginDescriptor kDescriptor = {
    /*api_version=*/labrun::kPluginApiVersion,
    /*kind=*/labrun::PluginKind::kMetric,
    /*name=*/"prf",
    /*version=*/"1.0.0",
    /*summary=*/"CP, CR, CF1, OP, OR, OF1 (percent) at a threshold and top-k",
    /*params=*/kParams,
    /*num_params=*/std::size(kParams),
    /*make_backbone=*/nullptr,
    /*make_head=*/nullptr,
    /*make_loss=*/nullptr,
    /*make_metric=*/&make,
};

}  // namespace

LABRUN_PLUGIN(kDescriptor)
