#include "data/Transforms.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <opencv2/imgproc.hpp>
#include <sstream>
#include <stdexcept>

#include "spec/Schema.h"
#include "spec/SpecError.h"

namespace labrun::data {
namespace {

// splitmix64: advances `state` and returns its next well-mixed value.
std::uint64_t splitmix(std::uint64_t& state) {
  std::uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

// Offset of a centred crop along one axis, as torchvision's CenterCrop: a
// crop larger than the image pads (crop - size) // 2 before it, otherwise
// round((size - crop) / 2) with Python's round-half-to-even.
int centerOffset(int size, int crop) {
  if (crop > size) return -((crop - size) / 2);
  return static_cast<int>(std::nearbyint((size - crop) / 2.0));
}

// Crops `crop` pixels at (left, top) of the image `plan` describes. The
// offsets are in the (possibly mirrored) image, so a flip mirrors them.
void cropPlan(SamplePlan& plan, int top, int left, cv::Size crop) {
  if (plan.flip) left = plan.size.width - left - crop.width;
  const double sx = plan.box.width / plan.size.width;
  const double sy = plan.box.height / plan.size.height;
  plan.box = cv::Rect2d(plan.box.x + left * sx, plan.box.y + top * sy,
                        crop.width * sx, crop.height * sy);
  plan.size = crop;
}

const std::map<std::string, std::vector<std::string>>& presets() {
  static const std::map<std::string, std::vector<std::string>> presets = {
      {"ssgrl_train",
       {"resize 640x640", "random_crop 640|576|512|384|320", "resize 576x576",
        "hflip", "normalize"}},
      // SSGRL tests on the train geometry (squashed to 640x640) without
      // augmentation.
      {"ssgrl_val", {"resize 640x640", "center_crop 576", "normalize"}},
  };
  return presets;
}

const std::map<std::string, std::string>& usages() {
  static const std::map<std::string, std::string> usages = {
      {"resize", "'resize S' (shorter side) or 'resize HxW'"},
      {"random_crop", "'random_crop A|B|...' (each size S or HxW)"},
      {"center_crop", "'center_crop S' or 'center_crop HxW'"},
      {"hflip", "'hflip' or 'hflip P' (probability, 0 <= P <= 1)"},
      {"normalize",
       "'normalize' or 'normalize M M M S S S' (RGB mean and std, std > 0)"},
  };
  return usages;
}

std::vector<std::string> split(const std::string& text, char separator) {
  std::vector<std::string> parts;
  std::string part;
  std::istringstream in(text);
  while (std::getline(in, part, separator)) parts.push_back(part);
  if (!text.empty() && text.back() == separator) parts.emplace_back();
  return parts;
}

std::vector<std::string> words(const std::string& text) {
  std::vector<std::string> words;
  std::istringstream in(text);
  for (std::string word; in >> word;) words.push_back(word);
  return words;
}

std::optional<int> parseSide(const std::string& text) {
  if (text.empty() || text.size() > 5 ||
      !std::all_of(text.begin(), text.end(),
                   [](char c) { return c >= '0' && c <= '9'; })) {
    return std::nullopt;
  }
  const int value = std::stoi(text);
  if (value <= 0 || value > 32768) return std::nullopt;
  return value;
}

// "S" (a square) or "HxW".
std::optional<cv::Size> parseSize(const std::string& text) {
  const std::vector<std::string> sides = split(text, 'x');
  if (sides.size() == 1) {
    const auto side = parseSide(sides[0]);
    if (side) return cv::Size(*side, *side);
  } else if (sides.size() == 2) {
    const auto height = parseSide(sides[0]);
    const auto width = parseSide(sides[1]);
    if (height && width) return cv::Size(*width, *height);
  }
  return std::nullopt;
}

std::optional<double> parseNumber(const std::string& text) {
  try {
    std::size_t used = 0;
    const double value = std::stod(text, &used);
    if (used == text.size() && std::isfinite(value)) return value;
  } catch (const std::exception&) {
  }
  return std::nullopt;
}

// One output pixel along an axis: the bilinear taps i0, i1 (weights 1 - w,
// w) in the resampled pixels, or !inside for padding.
struct Tap {
  int i0 = 0, i1 = 0;
  float w = 0.0f;
  bool inside = false;
};

// Taps of `count` output pixels over [start, start + length) of the source
// (an axis of `source_extent` pixels), read from pixels holding the source
// from `origin` on at `scale` source pixels each (`limit` of them).
std::vector<Tap> axisTaps(double start, double length, int count,
                          int source_extent, double origin, double scale,
                          int limit) {
  std::vector<Tap> taps(count);
  const double step = length / count;
  for (int u = 0; u < count; ++u) {
    const double centre = start + (u + 0.5) * step;
    Tap& tap = taps[u];
    tap.inside = centre >= 0.0 && centre <= source_extent;
    // Half-pixel centres, clamped at the edges (torch's bilinear,
    // align_corners=False).
    const double x = std::max((centre - origin) / scale - 0.5, 0.0);
    tap.i0 = std::min(static_cast<int>(x), limit - 1);
    tap.i1 = std::min(tap.i0 + 1, limit - 1);
    tap.w = static_cast<float>(x - tap.i0);
  }
  return taps;
}

[[noreturn]] void fail(const std::string& origin, const std::string& key,
                       const std::string& what) {
  throw spec::SpecError(origin + ": " + key + ": " + what);
}

}  // namespace

SampleRng::SampleRng(std::uint64_t seed, std::int64_t epoch, std::int64_t index)
    : state_(seed) {
  state_ = splitmix(state_) ^ static_cast<std::uint64_t>(epoch);
  state_ = splitmix(state_) ^ static_cast<std::uint64_t>(index);
  state_ = splitmix(state_);
}

std::uint64_t SampleRng::next() { return splitmix(state_); }

std::int64_t SampleRng::uniformInt(std::int64_t low, std::int64_t high) {
  const auto range = static_cast<unsigned __int128>(high - low + 1);
  return low + static_cast<std::int64_t>((next() * range) >> 64);
}

double SampleRng::uniform() { return (next() >> 11) * 0x1.0p-53; }

cv::Size Resize::resized(cv::Size size) const {
  if (shorter_side_ == 0) return size_;
  // torchvision: int(requested_short * long / short), in doubles.
  const double side = shorter_side_;
  if (size.width <= size.height) {
    return {shorter_side_, static_cast<int>(side * size.height / size.width)};
  }
  return {static_cast<int>(side * size.width / size.height), shorter_side_};
}

void Resize::plan(SamplePlan& plan, SampleRng&) const {
  plan.size = resized(plan.size);
}

std::optional<cv::Size> Resize::outputSize(std::optional<cv::Size> size) const {
  if (shorter_side_ == 0) return size_;
  if (size) return resized(*size);
  return std::nullopt;
}

void RandomCrop::plan(SamplePlan& plan, SampleRng& rng) const {
  const cv::Size crop = sizes_[rng.uniformInt(0, sizes_.size() - 1)];
  const auto offset = [&rng](int size, int crop_side) {
    return crop_side >= size
               ? centerOffset(size, crop_side)
               : static_cast<int>(rng.uniformInt(0, size - crop_side));
  };
  const int top = offset(plan.size.height, crop.height);
  const int left = offset(plan.size.width, crop.width);
  cropPlan(plan, top, left, crop);
}

std::optional<cv::Size> RandomCrop::outputSize(std::optional<cv::Size>) const {
  for (const cv::Size& size : sizes_) {
    if (size != sizes_.front()) return std::nullopt;
  }
  return sizes_.front();
}

void CenterCrop::plan(SamplePlan& plan, SampleRng&) const {
  cropPlan(plan, centerOffset(plan.size.height, size_.height),
           centerOffset(plan.size.width, size_.width), size_);
}

std::optional<cv::Size> CenterCrop::outputSize(std::optional<cv::Size>) const {
  return size_;
}

void HorizontalFlip::plan(SamplePlan& plan, SampleRng& rng) const {
  if (rng.uniform() < probability_) plan.flip = !plan.flip;
}

TransformPipeline TransformPipeline::parse(
    const std::vector<spec::Located<std::string>>& steps,
    const std::string& key, const std::string& origin) {
  std::vector<std::string> names;
  for (const auto& [name, usage] : usages()) names.push_back(name);
  for (const auto& [name, expansion] : presets()) names.push_back(name);

  TransformPipeline pipeline;
  std::optional<cv::Size> size;
  for (std::size_t i = 0; i < steps.size(); ++i) {
    const std::string& item = steps[i].value;
    const std::string& item_origin = steps[i].origin;
    const std::string where = key + "." + std::to_string(i);
    const std::vector<std::string> item_words = words(item);
    const auto preset = item_words.size() == 1 ? presets().find(item_words[0])
                                               : presets().end();
    const std::vector<std::string> texts = preset != presets().end()
                                               ? preset->second
                                               : std::vector<std::string>{item};
    for (const std::string& text : texts) {
      const std::vector<std::string> parts = words(text);
      const std::string name = parts.empty() ? "" : parts[0];
      const auto usage = usages().find(name);
      if (usage == usages().end()) {
        std::string what = "unknown transform '" + text + "'";
        const std::string suggestion = spec::nearest(name, names);
        if (!suggestion.empty()) what += "; did you mean '" + suggestion + "'?";
        std::string known;
        for (const std::string& known_name : names) {
          known += (known.empty() ? "" : ", ") + known_name;
        }
        fail(item_origin, where, what + " (known: " + known + ")");
      }
      if (pipeline.normalization_) {
        fail(item_origin, where,
             "'" + text + "' after normalize; normalize must be the last step");
      }
      const std::string usage_error =
          "expected " + usage->second + ", found '" + item + "'";
      const std::size_t args = parts.size() - 1;
      std::shared_ptr<const Transform> step;
      if (name == "resize" || name == "center_crop") {
        const auto parsed = args == 1 ? parseSize(parts[1]) : std::nullopt;
        if (!parsed) fail(item_origin, where, usage_error);
        if (name == "center_crop") {
          step = std::make_shared<CenterCrop>(*parsed);
        } else if (parts[1].find('x') == std::string::npos) {
          step = std::make_shared<Resize>(parsed->width);
        } else {
          step = std::make_shared<Resize>(*parsed);
        }
      } else if (name == "random_crop") {
        if (args != 1) fail(item_origin, where, usage_error);
        std::vector<cv::Size> sizes;
        for (const std::string& choice : split(parts[1], '|')) {
          const auto parsed = parseSize(choice);
          if (!parsed) fail(item_origin, where, usage_error);
          sizes.push_back(*parsed);
        }
        step = std::make_shared<RandomCrop>(sizes);
      } else if (name == "hflip") {
        const auto p = args == 0   ? std::optional<double>(0.5)
                       : args == 1 ? parseNumber(parts[1])
                                   : std::nullopt;
        if (!p || *p < 0.0 || *p > 1.0) fail(item_origin, where, usage_error);
        step = std::make_shared<HorizontalFlip>(*p);
      } else {  // normalize
        std::array<double, 3> mean{0.485, 0.456, 0.406};
        std::array<double, 3> std{0.229, 0.224, 0.225};
        if (args != 0 && args != 6) fail(item_origin, where, usage_error);
        for (std::size_t k = 0; k < args; ++k) {
          const auto value = parseNumber(parts[1 + k]);
          if (!value || (k >= 3 && *value <= 0.0)) {
            fail(item_origin, where, usage_error);
          }
          (k < 3 ? mean[k] : std[k - 3]) = *value;
        }
        for (int c = 0; c < 3; ++c) {
          const auto mean_c = static_cast<float>(mean[c]);
          const auto std_c = static_cast<float>(std[c]);
          pipeline.scale_[c] = 1.0f / (255.0f * std_c);
          pipeline.bias_[c] = -mean_c / std_c;
        }
        pipeline.normalization_ = Normalization{mean, std};
      }
      if (step) {
        size = step->outputSize(size);
        pipeline.steps_.push_back(std::move(step));
      }
      pipeline.description_ +=
          (pipeline.description_.empty() ? "" : ", ") + text;
    }
  }
  if (!pipeline.normalization_) {
    for (int c = 0; c < 3; ++c) pipeline.scale_[c] = 1.0f / 255.0f;
  }
  if (!size) {
    fail(origin, key,
         "the output size varies between images (" +
             (pipeline.description_.empty() ? std::string("no steps")
                                            : pipeline.description_) +
             "); end with a step of one size, e.g. resize HxW, center_crop S "
             "or random_crop S, so that images batch");
  }
  pipeline.size_ = *size;
  return pipeline;
}

SamplePlan TransformPipeline::plan(cv::Size source, SampleRng& rng) const {
  SamplePlan plan;
  plan.box = cv::Rect2d(0, 0, source.width, source.height);
  plan.size = source;
  for (const auto& step : steps_) step->plan(plan, rng);
  return plan;
}

cv::Rect TransformPipeline::sourceRegion(const SamplePlan& plan,
                                         cv::Size source) {
  // Bilinear taps reach one pixel past the box; area pre-reduction about
  // one reduced pixel.
  const int margin_x = static_cast<int>(std::ceil(
                           std::max(1.0, plan.box.width / plan.size.width))) +
                       1;
  const int margin_y = static_cast<int>(std::ceil(
                           std::max(1.0, plan.box.height / plan.size.height))) +
                       1;
  const int x0 = static_cast<int>(std::floor(plan.box.x)) - margin_x;
  const int y0 = static_cast<int>(std::floor(plan.box.y)) - margin_y;
  const int x1 = static_cast<int>(std::ceil(plan.box.br().x)) + margin_x;
  const int y1 = static_cast<int>(std::ceil(plan.box.br().y)) + margin_y;
  cv::Rect region = cv::Rect(x0, y0, x1 - x0, y1 - y0) &
                    cv::Rect(0, 0, source.width, source.height);
  // A box wholly in the padding still reads one (unused) pixel.
  if (region.empty()) region = cv::Rect(0, 0, 1, 1);
  return region;
}

void TransformPipeline::render(const cv::Mat& region, cv::Point offset,
                               cv::Size source, const SamplePlan& plan,
                               float* out) const {
  if (plan.size != size_) {
    throw std::logic_error("render: plan of another pipeline");
  }
  const cv::Rect need = sourceRegion(plan, source);
  const cv::Rect held(offset, region.size());
  if ((need & held) != need || region.type() != CV_8UC3) {
    throw std::invalid_argument(
        "render: the region does not hold the 8-bit BGR pixels the plan "
        "reads");
  }
  // Only `need` is read, so how much more a decoder delivered never changes
  // the result.
  cv::Mat pixels = region(need - offset);
  const double ax = plan.box.width / plan.size.width;
  const double ay = plan.box.height / plan.size.height;
  double sx = 1.0, sy = 1.0;
  thread_local cv::Mat reduced;
  if (ax > 2.0 || ay > 2.0) {
    const cv::Size target(
        ax > 2.0 ? static_cast<int>(std::ceil(pixels.cols / std::floor(ax)))
                 : pixels.cols,
        ay > 2.0 ? static_cast<int>(std::ceil(pixels.rows / std::floor(ay)))
                 : pixels.rows);
    cv::resize(pixels, reduced, target, 0, 0, cv::INTER_AREA);
    sx = static_cast<double>(pixels.cols) / target.width;
    sy = static_cast<double>(pixels.rows) / target.height;
    pixels = reduced;
  }
  const int width = size_.width, height = size_.height;
  std::vector<Tap> xs = axisTaps(plan.box.x, plan.box.width, width,
                                 source.width, need.x, sx, pixels.cols);
  const std::vector<Tap> ys = axisTaps(plan.box.y, plan.box.height, height,
                                       source.height, need.y, sy, pixels.rows);
  // Mirroring is a reversed order of output columns.
  if (plan.flip) std::reverse(xs.begin(), xs.end());
  // Output columns inside the source form one run [u0, u1).
  int u0 = 0, u1 = width;
  while (u0 < width && !xs[u0].inside) ++u0;
  while (u1 > u0 && !xs[u1 - 1].inside) --u1;
  int c0 = pixels.cols, c1 = 0;  // the columns the run reads
  for (int u = u0; u < u1; ++u) {
    c0 = std::min(c0, std::min(xs[u].i0, xs[u].i1));
    c1 = std::max(c1, std::max(xs[u].i0, xs[u].i1) + 1);
  }

  // Vertical pass first, normalising as it goes (the horizontal weights sum
  // to one, so normalising before it is the same); it is contiguous, so it
  // vectorises. The horizontal pass then gathers and swaps BGR to RGB.
  thread_local std::vector<float> row, lane_scale, lane_bias;
  row.resize(static_cast<std::size_t>(pixels.cols) * 3);
  lane_scale.resize(row.size());
  lane_bias.resize(row.size());
  for (std::size_t k = 0; k < row.size(); ++k) {
    lane_scale[k] = scale_[2 - k % 3];
    lane_bias[k] = bias_[2 - k % 3];
  }
  float* const mixed = row.data();
  const float* const mix_scale = lane_scale.data();
  const float* const mix_bias = lane_bias.data();
  const std::size_t plane = static_cast<std::size_t>(width) * height;
  for (int v = 0; v < height; ++v) {
    float* const rgb[3] = {
        out + static_cast<std::size_t>(v) * width,
        out + plane + static_cast<std::size_t>(v) * width,
        out + 2 * plane + static_cast<std::size_t>(v) * width};
    const Tap& ty = ys[v];
    const int begin = ty.inside ? u0 : width;
    const int end = ty.inside ? u1 : width;
    for (int c = 0; c < 3; ++c) {  // padding: black (0) before normalisation
      std::fill(rgb[c], rgb[c] + begin, bias_[c]);
      std::fill(rgb[c] + end, rgb[c] + width, bias_[c]);
    }
    if (begin >= end) continue;
    const std::uint8_t* r0 = pixels.ptr<std::uint8_t>(ty.i0);
    const std::uint8_t* r1 = pixels.ptr<std::uint8_t>(ty.i1);
    const float wy = ty.w;
    for (int k = c0 * 3; k < c1 * 3; ++k) {
      const float top = r0[k];
      mixed[k] = (top + wy * (static_cast<float>(r1[k]) - top)) * mix_scale[k] +
                 mix_bias[k];
    }
    float* const red = rgb[0];
    float* const green = rgb[1];
    float* const blue = rgb[2];
    for (int u = begin; u < end; ++u) {
      const float* a = mixed + xs[u].i0 * 3;
      const float* b = mixed + xs[u].i1 * 3;
      const float wx = xs[u].w;
      red[u] = a[2] + wx * (b[2] - a[2]);
      green[u] = a[1] + wx * (b[1] - a[1]);
      blue[u] = a[0] + wx * (b[0] - a[0]);
    }
  }
}

void TransformPipeline::apply(const cv::Mat& bgr, SampleRng& rng,
                              float* out) const {
  const SamplePlan sample = plan(bgr.size(), rng);
  render(bgr, cv::Point(0, 0), bgr.size(), sample, out);
}

}  // namespace labrun::data
