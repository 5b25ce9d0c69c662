#include "data/ImageLoader.h"

#include <fmt/format.h>
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <iostream>
#include <numeric>
#include <opencv2/core.hpp>
#include <stdexcept>

#include "data/ImageDecoder.h"
#include "util/UsableCores.h"

namespace labrun::data {

struct ImageLoader::Pending {
  torch::Tensor images;            // [n, 3, H, W]
  std::vector<std::int64_t> used;  // image rendered into each row
  std::int64_t remaining = 0;      // rows not rendered yet
};

BadImageLimit BadImageLimit::parse(const std::string& text) {
  BadImageLimit limit;
  limit.text = text;
  const bool percent = !text.empty() && text.back() == '%';
  const std::string number = percent ? text.substr(0, text.size() - 1) : text;
  double value = -1.0;
  std::size_t used = 0;
  try {
    value = std::stod(number, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  const bool integer =
      !number.empty() &&
      number.find_first_not_of("0123456789") == std::string::npos;
  if (used == number.size() && value >= 0.0) {
    if (percent && value <= 100.0) {
      limit.fraction = value / 100.0;
      return limit;
    }
    if (!percent && integer) {
      limit.count = static_cast<std::int64_t>(value);
      return limit;
    }
    if (!percent && value < 1.0) {
      limit.fraction = value;
      return limit;
    }
  }
  throw std::invalid_argument(
      "expected a count (e.g. 20), a fraction below 1 (e.g. 0.01) or a "
      "percentage (e.g. 1%), found '" +
      text + "'");
}

std::int64_t BadImageLimit::allowed(std::int64_t images) const {
  if (count >= 0) return count;
  // The epsilon keeps 7% of 100 at 7 despite 0.07 * 100 = 7.000000000000001.
  return static_cast<std::int64_t>(std::ceil(fraction * images - 1e-9));
}

ImageLoader::ImageLoader(LabelSet labels, TransformPipeline transforms,
                         LoaderOptions options)
    : labels_(std::move(labels)),
      transforms_(std::move(transforms)),
      options_(options),
      max_bad_(options.max_bad_images.allowed(size())),
      pin_memory_(pinBatches()) {
  const std::int64_t n = size();
  const auto shaped = [n](const torch::Tensor& t) {
    return t.defined() && t.dim() == 2 && t.size(0) == n;
  };
  if (!shaped(labels_.targets) || !shaped(labels_.mask) ||
      labels_.targets.sizes() != labels_.mask.sizes()) {
    throw std::invalid_argument(fmt::format(
        "image loader: expected targets and mask [{}, K] for {} images", n, n));
  }
  if (options_.batch_size < 1 || options_.prefetch < 1 ||
      options_.workers < 0) {
    throw std::invalid_argument(
        "image loader: batch_size and prefetch must be >= 1, workers >= 0");
  }
  labels_.targets = labels_.targets.to(torch::kFloat32);
  labels_.mask = labels_.mask.to(torch::kFloat32);
  if (options_.log == nullptr) options_.log = &std::cerr;
  is_bad_.assign(static_cast<std::size_t>(n), 0);
  // Parallelism comes from the workers; OpenCV's own threads would only
  // oversubscribe the cores.
  cv::setNumThreads(0);
  const int workers =
      options_.workers > 0 ? options_.workers : util::usableCores();
  for (int i = 0; i < workers; ++i) threads_.emplace_back([this] { work(); });
}

ImageLoader::~ImageLoader() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_ = true;
  }
  work_ready_.notify_all();
  for (std::thread& thread : threads_) thread.join();
}

std::int64_t ImageLoader::batchesPerEpoch() const {
  return (shardSize() + options_.batch_size - 1) / options_.batch_size;
}

void ImageLoader::startEpoch(std::int64_t epoch, std::int64_t skip_batches) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    ++generation_;
    pending_.clear();
    failure_ = nullptr;
    started_ = true;
    epoch_ = epoch;
    order_.resize(static_cast<std::size_t>(size()));
    std::iota(order_.begin(), order_.end(), 0);
    if (options_.shuffle) {
      // Fisher-Yates from a stream of (seed, epoch) alone.
      SampleRng rng(options_.seed, epoch, /*index=*/-1);
      for (std::int64_t i = size() - 1; i > 0; --i) {
        std::swap(order_[i], order_[rng.uniformInt(0, i)]);
      }
    }
    order_ = sampler_.shard(order_);
    next_batch_ = std::clamp<std::int64_t>(skip_batches, 0, batchesPerEpoch());
    next_position_ = std::min(next_batch_ * options_.batch_size, shardSize());
  }
  work_ready_.notify_all();
}

bool ImageLoader::claimable() const {
  return started_ && !failure_ && next_position_ < shardSize() &&
         next_position_ / options_.batch_size < next_batch_ + options_.prefetch;
}

void ImageLoader::work() {
  ImageDecoder decoder;
  DecodedImage image;
  const std::int64_t pixels =
      3 * static_cast<std::int64_t>(transforms_.height()) * transforms_.width();
  std::unique_lock<std::mutex> lock(mutex_);
  while (true) {
    work_ready_.wait(lock, [this] { return stop_ || claimable(); });
    if (stop_) return;
    const std::int64_t position = next_position_++;
    const std::int64_t batch = position / options_.batch_size;
    const std::int64_t row = position - batch * options_.batch_size;
    std::shared_ptr<Pending>& slot = pending_[batch];
    if (!slot) {
      const std::int64_t rows = std::min(
          options_.batch_size, shardSize() - batch * options_.batch_size);
      slot = std::make_shared<Pending>();
      try {
        slot->images = batchTensor(rows);
      } catch (...) {  // out of memory: fail the run, not the process
        failure_ = std::current_exception();
        batch_ready_.notify_all();
        continue;
      }
      slot->used.assign(static_cast<std::size_t>(rows), -1);
      slot->remaining = rows;
    }
    const std::shared_ptr<Pending> pending = slot;
    const std::uint64_t generation = generation_;
    const std::int64_t epoch = epoch_;
    const std::int64_t index = order_[position];
    lock.unlock();

    std::int64_t used = -1;
    std::exception_ptr failure;
    try {
      used = load(index, epoch, decoder, image,
                  pending->images.data_ptr<float>() + row * pixels);
    } catch (...) {
      failure = std::current_exception();
    }

    lock.lock();
    if (generation != generation_) continue;  // the epoch was restarted
    if (failure) {
      if (!failure_) failure_ = failure;
      batch_ready_.notify_all();
    } else {
      pending->used[row] = used;
      if (--pending->remaining == 0) batch_ready_.notify_all();
    }
  }
}

torch::Tensor ImageLoader::batchTensor(std::int64_t rows) {
  const auto released = [rows](const torch::Tensor& spare) {
    return spare.size(0) == rows && spare.use_count() == 1 &&
           spare.storage().use_count() == 1;
  };
  const auto spare = std::find_if(spares_.begin(), spares_.end(), released);
  if (spare != spares_.end()) return *spare;
  torch::Tensor fresh = torch::empty(
      {rows, 3, transforms_.height(), transforms_.width()},
      torch::TensorOptions(torch::kFloat32).pinned_memory(pin_memory_));
  // Pinned memory is recycled by LibTorch's caching host allocator, which
  // also waits for pending asynchronous copies; CPU memory is not.
  if (!pin_memory_ &&
      static_cast<std::int64_t>(spares_.size()) < options_.prefetch + 2) {
    spares_.push_back(fresh);
  }
  return fresh;
}

std::int64_t ImageLoader::load(std::int64_t index, std::int64_t epoch,
                               ImageDecoder& decoder, DecodedImage& image,
                               float* out) {
  const std::int64_t n = size();
  std::int64_t candidate = index;
  for (std::int64_t tried = 0; tried < n;
       ++tried, candidate = (candidate + 1) % n) {
    if (knownBad(candidate)) {
      if (!options_.replace_bad) return -1;
      continue;
    }
    // The plan depends on the sample, not on which image stands in for it.
    SampleRng rng(options_.seed, epoch, index);
    SamplePlan plan;
    std::string error;
    const bool decoded = decoder.decode(
        labels_.image_paths[candidate],
        [&](cv::Size source) {
          plan = transforms_.plan(source, rng);
          return TransformPipeline::sourceRegion(plan, source);
        },
        image, error);
    if (decoded) {
      transforms_.render(image.bgr, image.region.tl(), image.size, plan, out);
      return candidate;
    }
    reportBad(candidate, error);
    if (!options_.replace_bad) return -1;
  }
  throw std::runtime_error("image loader: no usable image in the set");
}

bool ImageLoader::knownBad(std::int64_t index) const {
  std::lock_guard<std::mutex> lock(bad_mutex_);
  return is_bad_[index] != 0;
}

void ImageLoader::reportBad(std::int64_t index, const std::string& reason) {
  std::lock_guard<std::mutex> lock(bad_mutex_);
  if (is_bad_[index] != 0) return;  // another worker met it first
  is_bad_[index] = 1;
  bad_.push_back({labels_.image_paths[index], reason});
  *options_.log << fmt::format(
      "warning: skipping unusable image {}: {} ({} unusable so far, "
      "data.max_bad_images {} allows {})\n",
      labels_.image_paths[index], reason, bad_.size(),
      options_.max_bad_images.text, max_bad_);
  if (static_cast<std::int64_t>(bad_.size()) > max_bad_) {
    throw std::runtime_error(tooManyBad());
  }
}

std::string ImageLoader::tooManyBad() const {
  return fmt::format(
      "too many unusable images: {} of {}, more than data.max_bad_images {} "
      "allows ({}); the last: {}: {}",
      bad_.size(), size(), options_.max_bad_images.text, max_bad_,
      bad_.back().path, bad_.back().reason);
}

bool ImageLoader::next(Batch& batch) {
  {
    std::lock_guard<std::mutex> lock(bad_mutex_);
    if (static_cast<std::int64_t>(bad_.size()) > max_bad_) {
      throw std::runtime_error(tooManyBad());
    }
  }
  std::unique_lock<std::mutex> lock(mutex_);
  if (!started_) {
    lock.unlock();
    startEpoch(/*epoch=*/1, /*skip_batches=*/0);
    lock.lock();
  }
  if (next_batch_ >= batchesPerEpoch()) return false;
  batch_ready_.wait(lock, [this] {
    const auto found = pending_.find(next_batch_);
    return failure_ ||
           (found != pending_.end() && found->second->remaining == 0);
  });
  if (failure_) std::rethrow_exception(failure_);
  const std::shared_ptr<Pending> pending = pending_[next_batch_];
  pending_.erase(next_batch_);
  ++next_batch_;
  lock.unlock();
  work_ready_.notify_all();

  torch::Tensor used = torch::tensor(pending->used, torch::kLong);
  batch.images = pending->images;
  if (!options_.replace_bad) {
    const torch::Tensor usable = used.ge(0).nonzero().squeeze(1);
    if (usable.size(0) < used.size(0)) {
      batch.images = selectRows(batch.images, usable, pin_memory_);
      used = used.index_select(0, usable);
    }
  }
  batch.targets = selectRows(labels_.targets, used, pin_memory_);
  batch.mask = selectRows(labels_.mask, used, pin_memory_);
  batch.samples = used;
  return true;
}

std::vector<BadImage> ImageLoader::badImages() const {
  std::lock_guard<std::mutex> lock(bad_mutex_);
  return bad_;
}

}  // namespace labrun::data
