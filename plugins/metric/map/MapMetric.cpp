// Mean average precision over classes, in percent (as the papers report).
// Classes without a positive sample are left out of the mean and named.
#include <torch/torch.h>

#include <algorithm>
#include <cmath>

#include "AveragePrecision.h"
#include "labrun/AccumulatingMetric.h"
#include "labrun/PluginDescriptor.h"

namespace {

using labrun::map_metric::ApMode;

class MapMetric : public labrun::AccumulatingMetric {
 public:
  MapMetric(ApMode mode, std::vector<std::string> class_names)
      : mode_(mode), class_names_(std::move(class_names)) {}

  std::vector<std::string> keys() const override {
    return {"mAP", "mAP_classes"};
  }

  labrun::MetricResult compute() const override {
    labrun::MetricResult result;
    result.per_class_name = "AP";
    if (empty()) {
      result.notes.push_back("mAP: no samples evaluated");
      return result;
    }
    // One row per class, contiguous, so that each class reads its samples
    // in order; the classes in parallel.
    const torch::Tensor scores = allScoresByClass();
    const torch::Tensor targets = allTargetsByClass();
    const torch::Tensor masks = allMasksByClass();
    const std::int64_t classes = scores.size(0), samples = scores.size(1);
    std::vector<double> aps(classes);
    result.positives.assign(classes, 0);
    at::parallel_for(
        0, classes, /*grain_size=*/1,
        [&](std::int64_t begin, std::int64_t end) {
          labrun::map_metric::AveragePrecision average_precision(mode_);
          std::vector<float> kept_scores, kept_targets;
          for (std::int64_t k = begin; k < end; ++k) {
            const float* s = scores[k].data_ptr<float>();
            const float* t = targets[k].data_ptr<float>();
            const float* m = masks[k].data_ptr<float>();
            std::size_t n = samples;
            if (std::any_of(m, m + samples, [](float v) { return v <= 0; })) {
              // Ignored labels (e.g. VOC difficult) leave the ranking.
              kept_scores.clear();
              kept_targets.clear();
              for (std::int64_t i = 0; i < samples; ++i) {
                if (m[i] <= 0) continue;
                kept_scores.push_back(s[i]);
                kept_targets.push_back(t[i]);
              }
              s = kept_scores.data();
              t = kept_targets.data();
              n = kept_scores.size();
            }
            aps[k] = average_precision(s, t, n);
            result.positives[k] = std::count_if(
                t, t + n, [](float target) { return target > 0; });
          }
        });

    double sum = 0;
    std::int64_t evaluated = 0;
    std::string left_out;
    for (std::int64_t k = 0; k < classes; ++k) {
      const double ap = aps[k];
      result.per_class.push_back(std::isnan(ap) ? ap : 100.0 * ap);
      if (std::isnan(ap)) {
        left_out += (left_out.empty() ? "" : ", ") + className(k);
      } else {
        sum += 100.0 * ap;
        ++evaluated;
      }
    }
    if (evaluated > 0) result.scalars.emplace_back("mAP", sum / evaluated);
    result.scalars.emplace_back("mAP_classes", static_cast<double>(evaluated));
    if (!left_out.empty()) {
      result.notes.push_back("mAP over " + std::to_string(evaluated) + " of " +
                             std::to_string(classes) +
                             " classes; left out (no positives): " + left_out);
    }
    return result;
  }

 private:
  std::string className(std::int64_t k) const {
    return k < static_cast<std::int64_t>(class_names_.size())
               ? class_names_[k]
               : "class " + std::to_string(k);
  }

  ApMode mode_;
  std::vector<std::string> class_names_;
};

const labrun::ParamSpec kParams[] = {
    {"ap", labrun::ParamType::kString, "voc_interpolated",
     "voc_interpolated: the released SSGRL evaluation (all-points "
     "interpolated AP); sklearn: non-interpolated, ties grouped as "
     "scikit-learn's average_precision_score",
     "voc_interpolated|sklearn"},
};

std::shared_ptr<labrun::Metric> make(const labrun::Params& params,
                                     const labrun::ModelContext& context) {
  const ApMode mode = params.getString("ap") == "sklearn"
                          ? ApMode::kSklearn
                          : ApMode::kVocInterpolated;
  return std::make_shared<MapMetric>(mode, context.class_names);
}

const labrun::PluginDescriptor kDescriptor = {
    /*api_version=*/labrun::kPluginApiVersion,
    /*kind=*/labrun::PluginKind::kMetric,
    /*name=*/"map",
    /*version=*/"1.0.0",
    /*summary=*/"mean average precision (percent); per-class AP recorded",
    /*params=*/kParams,
    /*num_params=*/std::size(kParams),
    /*make_backbone=*/nullptr,
    /*make_head=*/nullptr,
    /*make_loss=*/nullptr,
    /*make_metric=*/&make,
};

}  // namespace

LABRUN_PLUGIN(kDescriptor)
