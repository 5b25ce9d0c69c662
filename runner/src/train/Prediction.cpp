#include "train/Prediction.h"

#include <torch/torch.h>

#include <algorithm>
#include <map>
#include <ostream>

namespace labrun::train {

Predictions predictImages(Model& model, torch::Device device,
                          const ImageSplit& split, std::int64_t classes,
                          const std::vector<std::string>& images,
                          const PredictProgress& progress) {
  const auto n = static_cast<std::int64_t>(images.size());
  data::LabelSet labels;
  labels.image_paths = images;
  // No labels: the loader carries them along, nothing reads them.
  labels.targets = torch::zeros({n, classes});
  labels.mask = torch::zeros({n, classes});
  data::LoaderOptions options = split.loader;
  options.replace_bad = false;
  options.max_bad_images.count = n;
  // The caller reports the skipped files itself, without the loader's
  // data.max_bad_images wording.
  std::ostream discard(nullptr);
  options.log = &discard;
  const std::int64_t batch_size = options.batch_size;
  data::ImageLoader loader(std::move(labels), split.transforms, options);

  torch::NoGradGuard no_grad;
  model->eval();
  Predictions predictions;
  std::vector<torch::Tensor> logits, samples;
  data::Batch batch;
  std::int64_t done = 0;
  loader.startEpoch(/*epoch=*/1, /*skip_batches=*/0);
  while (loader.next(batch)) {
    done = std::min(n, done + batch_size);
    if (batch.images.size(0) > 0) {
      // Left on the device until the end: a copy back here would make the
      // host wait for every batch's forward pass.
      logits.push_back(
          model->forward(batch.images.to(device, /*non_blocking=*/true))
              .to(torch::kFloat));
      samples.push_back(batch.samples);
    }
    if (progress) progress(done, n);
  }
  predictions.logits = logits.empty() ? torch::empty({0, classes})
                                      : torch::cat(logits).to(torch::kCPU);
  for (const torch::Tensor& used : samples) {
    for (std::int64_t i = 0; i < used.size(0); ++i) {
      predictions.images.push_back(images[used[i].item<std::int64_t>()]);
    }
  }
  // Found by whichever thread met them first: put them in input order.
  std::map<std::string, std::size_t> position;
  for (std::size_t i = images.size(); i-- > 0;) position[images[i]] = i;
  predictions.skipped = loader.badImages();
  std::stable_sort(
      predictions.skipped.begin(), predictions.skipped.end(),
      [&position](const data::BadImage& a, const data::BadImage& b) {
        return position[a.path] < position[b.path];
      });
  return predictions;
}

}  // namespace labrun::train
