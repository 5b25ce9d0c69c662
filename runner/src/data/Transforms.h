// Image transforms of the data pipelines (data.transforms.train and
// data.transforms.val): parsed from the spec's step texts, planned per
// sample from a
// seeded random stream, then rendered in one resampling pass straight into a
// batch tensor.
//
// Steps (one string each; sizes are S for a square or HxW, height first, as
// torchvision's (h, w)):
//   resize S         shorter side to S, aspect kept (torchvision Resize(int))
//   resize HxW       to exactly HxW (torchvision Resize((h, w)))
//   random_crop A|B  crop of a size drawn uniformly from A, B, ... at a
//                    uniform position (torchvision RandomCrop per size)
//   center_crop S    torchvision CenterCrop (same rounding, zero padding when
//                    the crop is larger than the image)
//   hflip [P]        mirror with probability P (default 0.5)
//   normalize [M M M S S S]  (x - mean) / std per RGB channel, ImageNet
//                    statistics by default; must be the last step. Without
//                    it the output is RGB in [0, 1] (torchvision ToTensor).
// Presets expand in place: ssgrl_train (resize 640x640, random_crop
// 640|576|512|384|320, resize 576x576, hflip, normalize) and ssgrl_val
// (resize 640x640, center_crop 576, normalize).
//
// Deliberate differences from torchvision, all for speed:
// - The geometric steps only move a box over the source image; the output is
//   resampled from the source once (bilinear, half-pixel centres, edges
//   clamped: torchvision's tensor path with antialias=False), so
//   resize -> crop -> resize interpolates once instead of twice, without
//   rounding to 8 bits in between.
// - Downscaling by more than 2x first area-averages (cv::INTER_AREA) so that
//   large images do not alias; torchvision's PIL path antialiases every
//   downscale, its tensor path none.
// - A random crop larger than the image is zero-padded as center_crop does
//   (torchvision raises); padding is a hard edge, not interpolated.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <opencv2/core.hpp>
#include <optional>
#include <string>
#include <vector>

#include "spec/Located.h"

namespace labrun::data {

// Random numbers of one sample, a pure function of (seed, epoch, sample
// index): a sample gets the same augmentation whichever thread decodes it.
class SampleRng {
 public:
  SampleRng(std::uint64_t seed, std::int64_t epoch, std::int64_t index);
  std::int64_t uniformInt(std::int64_t low, std::int64_t high);  // [low, high]
  double uniform();                                              // [0, 1)

 private:
  std::uint64_t next();
  std::uint64_t state_;
};

// What the steps make of one sample: `size` output pixels resampled from
// `box`, a rectangle of the source in pixel units (pixel (x, y) covers
// [x, x+1) x [y, y+1)); the box may reach outside the source (zero
// padding). `flip` mirrors the output horizontally.
struct SamplePlan {
  cv::Rect2d box;
  cv::Size size;
  bool flip = false;
};

// One geometric step of a pipeline.
class Transform {
 public:
  virtual ~Transform() = default;
  // Moves `plan` (the image so far) through this step, drawing from `rng`.
  virtual void plan(SamplePlan& plan, SampleRng& rng) const = 0;
  // The output size for inputs of `size`; nullopt when it depends on the
  // sample (or when `size` is nullopt, i.e. unknown).
  virtual std::optional<cv::Size> outputSize(
      std::optional<cv::Size> size) const = 0;
};

class Resize : public Transform {
 public:
  // To exactly `size`, or with `shorter_side` > 0 the shorter side to it.
  explicit Resize(cv::Size size) : size_(size) {}
  explicit Resize(int shorter_side) : shorter_side_(shorter_side) {}
  void plan(SamplePlan& plan, SampleRng& rng) const override;
  std::optional<cv::Size> outputSize(
      std::optional<cv::Size> size) const override;

 private:
  cv::Size resized(cv::Size size) const;
  cv::Size size_;
  int shorter_side_ = 0;
};

class RandomCrop : public Transform {
 public:
  explicit RandomCrop(std::vector<cv::Size> sizes) : sizes_(std::move(sizes)) {}
  void plan(SamplePlan& plan, SampleRng& rng) const override;
  std::optional<cv::Size> outputSize(
      std::optional<cv::Size> size) const override;

 private:
  std::vector<cv::Size> sizes_;
};

class CenterCrop : public Transform {
 public:
  explicit CenterCrop(cv::Size size) : size_(size) {}
  void plan(SamplePlan& plan, SampleRng& rng) const override;
  std::optional<cv::Size> outputSize(
      std::optional<cv::Size> size) const override;

 private:
  cv::Size size_;
};

class HorizontalFlip : public Transform {
 public:
  explicit HorizontalFlip(double probability) : probability_(probability) {}
  void plan(SamplePlan& plan, SampleRng& rng) const override;
  std::optional<cv::Size> outputSize(
      std::optional<cv::Size> size) const override {
    return size;
  }

 private:
  double probability_;
};

class TransformPipeline {
 public:
  // Parses a list of steps (see the top of this file), each with where it
  // was written; `key` names the list, written at `origin`, in errors.
  // Throws spec::SpecError "<file:line:column>: <key>.<i>: ..." naming the
  // bad item, or the list when its output size is not fixed.
  static TransformPipeline parse(
      const std::vector<spec::Located<std::string>>& steps,
      const std::string& key, const std::string& origin);

  // Every output has this size.
  int height() const { return size_.height; }
  int width() const { return size_.width; }
  // The steps as written after preset expansion, e.g. "resize 640x640, ...".
  const std::string& describe() const { return description_; }
  // The normalize step's RGB mean and std; nullopt without one (the output
  // is then RGB in [0, 1]).
  struct Normalization {
    std::array<double, 3> mean, std;
  };
  const std::optional<Normalization>& normalization() const {
    return normalization_;
  }

  // Plans one sample of a source image of `source` size.
  SamplePlan plan(cv::Size source, SampleRng& rng) const;
  // The source pixels that rendering `plan` reads, within the image.
  static cv::Rect sourceRegion(const SamplePlan& plan, cv::Size source);
  // Resamples `plan` into `out`, normalised RGB float [3, height(), width()].
  // `region` holds 8-bit BGR pixels [h, w, 3] of the source image (of size
  // `source`) from `offset` on, at least sourceRegion(plan, source).
  void render(const cv::Mat& region, cv::Point offset, cv::Size source,
              const SamplePlan& plan, float* out) const;
  // plan() and render() of a whole 8-bit BGR image.
  void apply(const cv::Mat& bgr, SampleRng& rng, float* out) const;

 private:
  std::vector<std::shared_ptr<const Transform>> steps_;
  cv::Size size_;
  std::string description_;
  std::optional<Normalization> normalization_;
  // Per RGB channel, output = 8-bit value * scale + bias, i.e.
  // (value / 255 - mean) / std.
  std::array<float, 3> scale_{1.0f, 1.0f, 1.0f};
  std::array<float, 3> bias_{0.0f, 0.0f, 0.0f};
};

}  // namespace labrun::data
