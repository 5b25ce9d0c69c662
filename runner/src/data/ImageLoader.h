// Batches of images read from files: worker threads decode and transform
// samples straight into batch tensors (pinned when CUDA is available), a
// bounded number of batches ahead of the consumer. What a batch holds
// depends on (seed, epoch) alone, never on the number of workers or their
// timing, so runs repeat and resume mid-epoch exactly.
//
// Unusable images (see ImageDecoder.h) are skipped with one warning each and
// replaced by the next usable image of the set (in file order), so batches
// keep their size; the run fails once more than max_bad_images are found.
// With replace_bad false (prediction: every image is its own) they are left
// out of their batch instead.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <exception>
#include <map>
#include <memory>
#include <mutex>
#include <ostream>
#include <string>
#include <thread>
#include <vector>

#include "data/Dataset.h"
#include "data/LabelSet.h"
#include "data/Transforms.h"

namespace labrun::data {

class ImageDecoder;
struct DecodedImage;

struct BadImage {
  std::string path;
  std::string reason;  // e.g. "empty file"
};

// How many unusable images a run tolerates: a count, or a fraction of the
// set rounded up (so 1% of 50 images tolerates one).
struct BadImageLimit {
  // "20" (a count), "0.01" (a fraction below 1) or "1%" (a percentage).
  // Throws std::invalid_argument naming the accepted forms.
  static BadImageLimit parse(const std::string& text);
  std::int64_t allowed(std::int64_t images) const;

  std::string text = "1%";  // as written, for messages
  std::int64_t count = -1;  // >= 0: at most this many
  double fraction = 0.01;   // otherwise: at most ceil(fraction * images)
};

struct LoaderOptions {
  std::int64_t batch_size = 32;
  bool shuffle = true;        // a new order every epoch; false: file order
  std::uint64_t seed = 0;     // of the order and of the augmentation
  int workers = 0;            // decoding threads; 0: one per core
  std::int64_t prefetch = 2;  // batches decoded ahead of the consumer
  BadImageLimit max_bad_images;
  // false: an unusable image's row is left out of its batch (which then
  // holds fewer rows, possibly none) rather than filled by another image.
  bool replace_bad = true;
  std::ostream* log = nullptr;  // warnings; nullptr: std::cerr
};

class ImageLoader : public BatchSource {
 public:
  // Starts the workers (idle until the first batch is asked for) and turns
  // off OpenCV's own threads (process-wide): the workers use the cores. Throws
  // std::invalid_argument when `labels` does not hold N paths with targets
  // and mask [N, K], or when an option is out of range.
  ImageLoader(LabelSet labels, TransformPipeline transforms,
              LoaderOptions options);
  ~ImageLoader() override;

  void startEpoch(std::int64_t epoch, std::int64_t skip_batches) override;
  // Batch: images [B, 3, H, W] float32 (transforms' normalised RGB),
  // targets and mask [B, K] of the images actually used (without
  // replace_bad, B counts only the usable ones). Throws
  // std::runtime_error once too many images are unusable (naming the last
  // one) or when a worker failed otherwise.
  bool next(Batch& batch) override;
  std::int64_t batchesPerEpoch() const override;
  std::int64_t size() const override {
    return static_cast<std::int64_t>(labels_.image_paths.size());
  }
  const std::vector<std::string>& classNames() const override {
    return labels_.class_names;
  }
  std::string sampleName(std::int64_t index) const override {
    return labels_.image_paths.at(static_cast<std::size_t>(index));
  }

  // Unusable images met so far, each once, in the order found.
  std::vector<BadImage> badImages() const;
  std::int64_t maxBadImages() const { return max_bad_; }
  int workers() const { return static_cast<int>(threads_.size()); }

 private:
  struct Pending;  // a batch being filled

  void work();
  bool claimable() const;
  // An images tensor [rows, 3, H, W]: a spare one that nobody holds any
  // more (fresh memory costs a page fault per 4 KiB), else a new one. Needs
  // mutex_.
  torch::Tensor batchTensor(std::int64_t rows);
  // Renders sample `index` of `epoch` into `out`; returns the index of the
  // image used (`index`, or its replacement when unusable), or -1 when it
  // is unusable and options.replace_bad is false.
  std::int64_t load(std::int64_t index, std::int64_t epoch,
                    ImageDecoder& decoder, DecodedImage& image, float* out);
  bool knownBad(std::int64_t index) const;
  // Records an unusable image; throws when that is one too many.
  void reportBad(std::int64_t index, const std::string& reason);
  std::string tooManyBad() const;  // needs bad_mutex_

  LabelSet labels_;
  TransformPipeline transforms_;
  LoaderOptions options_;
  std::int64_t max_bad_;
  bool pin_memory_;

  mutable std::mutex mutex_;  // guards the epoch state below
  std::condition_variable work_ready_, batch_ready_;
  bool stop_ = false;
  bool started_ = false;
  std::uint64_t generation_ = 0;  // bumped by startEpoch: stale work is dropped
  std::int64_t epoch_ = 1;
  std::vector<std::int64_t> order_;  // sample per position of this shard
  std::int64_t next_position_ = 0;   // next epoch position to claim
  std::int64_t next_batch_ = 0;      // next batch to hand out
  std::map<std::int64_t, std::shared_ptr<Pending>> pending_;
  std::exception_ptr failure_;
  std::vector<torch::Tensor> spares_;  // batch tensors for reuse

  mutable std::mutex bad_mutex_;  // guards the bad-image record
  std::vector<std::uint8_t> is_bad_;
  std::vector<BadImage> bad_;

  std::vector<std::thread> threads_;  // last: they start using the above
};

}  // namespace labrun::data
