#include "data/FashionMosaic.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <opencv2/core.hpp>
#include <opencv2/imgproc.hpp>
#include <random>
#include <stdexcept>
#include <vector>

#include "data/IdxReader.h"
#include "data/JpegWriter.h"

namespace labrun::data {
namespace {

namespace fs = std::filesystem;
using Json = nlohmann::json;

// Defaults sized so that a ResNet-18 epoch on 2 CPU cores takes about a
// minute (see docs/DATASETS.md).
constexpr std::int64_t kDefaultTrainImages = 2000;
constexpr std::int64_t kDefaultValImages = 500;
constexpr std::int64_t kDefaultCanvasSize = 96;
constexpr std::int64_t kMinCanvasSize = 64;
constexpr std::int64_t kMaxCanvasSize = 1024;
// Bump whenever the generator's output changes, so that old sets are rebuilt.
constexpr int kFormatVersion = 1;

constexpr int kItemSide = 28;  // Fashion-MNIST images are 28x28
constexpr double kMaxItemScale = 1.5;
constexpr int kPlacementTries = 100;
// Largest share of the smaller of two item squares that may be covered.
constexpr double kMaxOverlap = 0.1;
// Chance of one item outside the style, so that no label is fully implied.
constexpr double kStrayProbability = 0.1;
constexpr int kMaxItems = 4;
// Item pixels at least this bright (of 255) count for the tight bounding box.
constexpr int kInkThreshold = 26;
constexpr int kJpegQuality = 90;

constexpr const char* kManifestName = "manifest.json";
constexpr const char* kTrainFolder = "train2014";
constexpr const char* kValFolder = "val2014";

enum Category : int {
  kTShirt,
  kTrouser,
  kPullover,
  kDress,
  kCoat,
  kSandal,
  kShirt,
  kSneaker,
  kBag,
  kAnkleBoot,
  kNumCategories
};

// Fashion-MNIST's label order; COCO category id = label + 1.
constexpr std::array<const char*, kNumCategories> kCategoryNames = {
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle boot"};
constexpr std::array<const char*, kNumCategories> kSupercategories = {
    "top",      "bottom", "top",      "dress",     "top",
    "footwear", "top",    "footwear", "accessory", "footwear"};

// One item of an outfit: one of `categories`, present with `probability`.
struct Slot {
  std::vector<int> categories;
  double probability;
};

// Outfits: look-alike tops (T-shirt, shirt, pullover, coat) are told apart
// by what they are worn with.
struct Style {
  const char* name;
  double weight;
  std::vector<Slot> slots;  // at most kMaxItems, at least 2 certain
};

const std::vector<Style>& styles() {
  static const auto* const kStyles = new std::vector<Style>{
      {"casual",
       0.3,
       {{{kTShirt}, 1.0}, {{kSneaker}, 1.0}, {{kTrouser}, 0.7}, {{kBag}, 0.3}}},
      {"formal",
       0.25,
       {{{kShirt}, 1.0},
        {{kTrouser}, 1.0},
        {{kAnkleBoot}, 0.7},
        {{kBag}, 0.5}}},
      {"winter",
       0.25,
       {{{kCoat, kPullover}, 1.0},
        {{kAnkleBoot}, 1.0},
        {{kTrouser}, 0.6},
        {{kBag}, 0.2}}},
      {"summer", 0.2, {{{kDress}, 1.0}, {{kSandal}, 1.0}, {{kBag}, 0.5}}}};
  return *kStyles;
}

// Randomness from mt19937_64's raw output only (whose sequence the standard
// fixes), so that a seed's set does not depend on the standard library.
class Rng {
 public:
  explicit Rng(std::uint64_t seed) : engine_(seed) {}
  std::uint64_t bits() { return engine_(); }
  double uniform() { return static_cast<double>(engine_() >> 11) * 0x1.0p-53; }
  double uniform(double low, double high) {
    return low + (high - low) * uniform();
  }
  std::int64_t below(std::int64_t n) {
    return std::min(n - 1, static_cast<std::int64_t>(uniform() * n));
  }

 private:
  std::mt19937_64 engine_;
};

std::uint64_t splitMix64(std::uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

// One Fashion-MNIST split: images and their indices per category.
struct Source {
  IdxArray images;  // [N, 28, 28]
  std::array<std::vector<std::int64_t>, kNumCategories> by_category;

  cv::Mat image(std::int64_t index) const {
    return cv::Mat(kItemSide, kItemSide, CV_8UC1,
                   const_cast<std::uint8_t*>(images.data.data()) +
                       index * kItemSide * kItemSide);
  }
};

std::string fileError(const fs::path& path, const std::string& what) {
  return fmt::format("{}: {}", path.string(), what);
}

IdxArray readSourceFile(const fs::path& path, int rank) {
  if (!fs::exists(path)) {
    // A usage error (exit 2), like the sizes out of range.
    throw std::invalid_argument(fileError(
        path,
        "missing (expected Fashion-MNIST's gzip'd IDX file: install "
        "the Debian package dataset-fashion-mnist or point --source "
        "at a copy)"));
  }
  return readIdxFile(path.string(), rank);
}

// `prefix` is "train" or "t10k".
Source loadSource(const fs::path& dir, const std::string& prefix) {
  const fs::path images_path = dir / (prefix + "-images-idx3-ubyte.gz");
  const fs::path labels_path = dir / (prefix + "-labels-idx1-ubyte.gz");
  Source source;
  source.images = readSourceFile(images_path, 3);
  const auto& shape = source.images.shape;
  if (shape[1] != kItemSide || shape[2] != kItemSide) {
    throw std::runtime_error(fileError(
        images_path,
        fmt::format("expected 28x28 images, found {}x{}", shape[1], shape[2])));
  }
  const IdxArray labels = readSourceFile(labels_path, 1);
  if (labels.shape[0] != shape[0]) {
    throw std::runtime_error(fileError(
        labels_path,
        fmt::format("holds {} labels but {} holds {} images", labels.shape[0],
                    images_path.filename().string(), shape[0])));
  }
  for (std::int64_t i = 0; i < labels.shape[0]; ++i) {
    if (labels.data[i] >= kNumCategories) {
      throw std::runtime_error(fileError(
          labels_path, fmt::format("label {} at index {} (expected 0..9)",
                                   labels.data[i], i)));
    }
    source.by_category[labels.data[i]].push_back(i);
  }
  for (int k = 0; k < kNumCategories; ++k) {
    if (source.by_category[k].empty()) {
      throw std::runtime_error(fileError(
          labels_path,
          fmt::format("no image of class {} ('{}')", k, kCategoryNames[k])));
    }
  }
  return source;
}

struct Item {
  int category;
  std::int64_t source_index;
  cv::Rect box;  // tight box of the item's pixels on the canvas
};

struct Canvas {
  const char* style;
  std::vector<Item> items;
  cv::Mat image;  // CV_8UC3
};

// The categories of one outfit: the style's slots, then perhaps a stray.
std::vector<int> drawCategories(const Style& style, Rng& rng) {
  std::vector<int> categories;
  for (const Slot& slot : style.slots) {
    if (rng.uniform() < slot.probability) {
      categories.push_back(slot.categories[rng.below(
          static_cast<std::int64_t>(slot.categories.size()))]);
    }
  }
  if (static_cast<int>(categories.size()) < kMaxItems &&
      rng.uniform() < kStrayProbability) {
    std::vector<int> others;
    for (int k = 0; k < kNumCategories; ++k) {
      if (std::find(categories.begin(), categories.end(), k) ==
          categories.end()) {
        others.push_back(k);
      }
    }
    categories.push_back(
        others[rng.below(static_cast<std::int64_t>(others.size()))]);
  }
  return categories;
}

// A light, slightly tinted background with per-pixel noise of +-10.
cv::Mat drawBackground(int side, Rng& rng) {
  const double level = rng.uniform(205.0, 245.0);
  std::array<double, 3> base{};
  for (double& channel : base) channel = level + rng.uniform(-8.0, 8.0);
  cv::Mat canvas(side, side, CV_8UC3);
  std::uint64_t noise = 0;
  int noise_left = 0;
  for (int y = 0; y < side; ++y) {
    auto* row = canvas.ptr<std::uint8_t>(y);
    for (int i = 0; i < side * 3; ++i) {
      if (noise_left == 0) {
        noise = rng.bits();
        noise_left = 8;
      }
      const int offset = static_cast<int>(noise & 0xff) % 21 - 10;
      noise >>= 8;
      --noise_left;
      row[i] = cv::saturate_cast<std::uint8_t>(base[i % 3] + offset);
    }
  }
  return canvas;
}

double overlap(const cv::Rect& a, const cv::Rect& b) {
  return static_cast<double>((a & b).area()) / std::min(a.area(), b.area());
}

// A square of `side` pixels on the canvas overlapping the placed ones least
// (and at most kMaxOverlap, when some try achieves it).
cv::Rect placeSquare(int canvas_side, int side,
                     const std::vector<cv::Rect>& placed, Rng& rng) {
  cv::Rect best;
  double best_overlap = 2.0;
  for (int t = 0; t < kPlacementTries && best_overlap > kMaxOverlap; ++t) {
    const cv::Rect candidate(
        static_cast<int>(rng.below(canvas_side - side + 1)),
        static_cast<int>(rng.below(canvas_side - side + 1)), side, side);
    double worst = 0.0;
    for (const cv::Rect& other : placed) {
      worst = std::max(worst, overlap(candidate, other));
    }
    if (worst < best_overlap) {
      best = candidate;
      best_overlap = worst;
    }
  }
  return best;
}

// Blends the grayscale item (255 = ink) onto the canvas in `colour`: the
// Fashion-MNIST intensity is the opacity, so the texture is kept and the
// item's own background vanishes.
void paste(cv::Mat& canvas, const cv::Mat& item, const cv::Rect& at,
           const cv::Vec3d& colour) {
  for (int y = 0; y < item.rows; ++y) {
    const auto* ink = item.ptr<std::uint8_t>(y);
    auto* out = canvas.ptr<cv::Vec3b>(at.y + y) + at.x;
    for (int x = 0; x < item.cols; ++x) {
      const double alpha = ink[x] / 255.0;
      for (int c = 0; c < 3; ++c) {
        out[x][c] = cv::saturate_cast<std::uint8_t>((1.0 - alpha) * out[x][c] +
                                                    alpha * colour[c]);
      }
    }
  }
}

Canvas drawCanvas(const Source& source, int side, Rng& rng) {
  const auto& all = styles();
  double total = 0.0;
  for (const Style& style : all) total += style.weight;
  double pick = rng.uniform() * total;
  std::size_t s = 0;
  while (s + 1 < all.size() && pick >= all[s].weight) pick -= all[s++].weight;

  Canvas canvas{all[s].name, {}, drawBackground(side, rng)};
  std::vector<cv::Rect> squares;
  for (int category : drawCategories(all[s], rng)) {
    const auto& candidates = source.by_category[category];
    const std::int64_t index =
        candidates[rng.below(static_cast<std::int64_t>(candidates.size()))];
    const int item_side = static_cast<int>(
        std::lround(kItemSide * rng.uniform(1.0, kMaxItemScale)));
    cv::Mat item;
    cv::resize(source.image(index), item, cv::Size(item_side, item_side), 0, 0,
               cv::INTER_LINEAR);
    const cv::Rect square = placeSquare(side, item_side, squares, rng);
    squares.push_back(square);

    // Mostly dark-to-mid tones of any hue; a third stay gray.
    cv::Vec3d colour;
    if (rng.uniform() < 1.0 / 3.0) {
      colour = cv::Vec3d::all(rng.uniform(0.0, 140.0));
    } else {
      for (int c = 0; c < 3; ++c) colour[c] = rng.uniform(0.0, 140.0);
    }
    paste(canvas.image, item, square, colour);

    cv::Mat ink;
    cv::threshold(item, ink, kInkThreshold - 1, 255, cv::THRESH_BINARY);
    cv::Rect box = cv::boundingRect(ink);
    if (box.empty()) box = cv::Rect(0, 0, item_side, item_side);
    canvas.items.push_back({category, index, box + square.tl()});
  }
  return canvas;
}

Json categoriesJson() {
  Json categories = Json::array();
  for (int k = 0; k < kNumCategories; ++k) {
    categories.push_back({{"id", k + 1},
                          {"name", kCategoryNames[k]},
                          {"supercategory", kSupercategories[k]}});
  }
  return categories;
}

void writeJson(const fs::path& path, const Json& json) {
  std::ofstream out(path);
  out << json.dump() << '\n';
  out.close();
  if (!out) {
    throw std::runtime_error(fileError(path, "cannot write"));
  }
}

Json manifestFor(const FashionMosaicOptions& options) {
  return {{"generator", "fashion-mosaic"},
          {"format_version", kFormatVersion},
          {"train_images", options.train_images},
          {"val_images", options.val_images},
          {"canvas_size", options.canvas_size},
          {"seed", options.seed}};
}

// Draws one split into `root`/`folder` and returns its COCO instances JSON.
// Image i's randomness depends on (seed, split, i) alone.
Json buildSplit(const Source& source, const FashionMosaicOptions& options,
                std::int64_t count, const fs::path& root,
                const std::string& folder, std::uint64_t split_tag) {
  Json images = Json::array();
  Json annotations = Json::array();
  const int side = static_cast<int>(options.canvas_size);
  fs::create_directories(root / folder);
  for (std::int64_t i = 0; i < count; ++i) {
    Rng rng(splitMix64(options.seed ^ splitMix64((split_tag << 40) + i)));
    const Canvas canvas = drawCanvas(source, side, rng);
    const std::int64_t image_id = i + 1;
    const std::string file_name = fmt::format("{:06d}.jpg", image_id);
    const fs::path file = root / folder / file_name;
    const std::vector<unsigned char> jpeg =
        encodeJpeg(canvas.image, kJpegQuality);
    std::ofstream out(file, std::ios::binary);
    out.write(reinterpret_cast<const char*>(jpeg.data()),
              static_cast<std::streamsize>(jpeg.size()));
    out.close();
    if (!out) {
      throw std::runtime_error(fileError(file, "cannot write the JPEG"));
    }
    images.push_back({{"id", image_id},
                      {"file_name", file_name},
                      {"width", side},
                      {"height", side},
                      {"license", 1},
                      {"style", canvas.style}});
    for (const Item& item : canvas.items) {
      const cv::Rect& b = item.box;
      annotations.push_back(
          {{"id", static_cast<std::int64_t>(annotations.size()) + 1},
           {"image_id", image_id},
           {"category_id", item.category + 1},
           {"bbox", {b.x, b.y, b.width, b.height}},
           {"area", b.area()},
           {"iscrowd", 0},
           {"segmentation",
            {{b.x, b.y, b.x + b.width, b.y, b.x + b.width, b.y + b.height, b.x,
              b.y + b.height}}},
           {"fashion_mnist_index", item.source_index}});
    }
  }
  return {{"info",
           {{"description",
             "fashion-mosaic: outfits of Fashion-MNIST items on canvases"},
            {"version", kFormatVersion},
            {"split", folder},
            {"seed", options.seed}}},
          {"licenses",
           {{{"id", 1},
             {"name", "MIT License (Fashion-MNIST, Zalando SE)"},
             {"url",
              "https://github.com/zalandoresearch/fashion-mnist/blob/"
              "master/LICENSE"}}}},
          {"images", std::move(images)},
          {"annotations", std::move(annotations)},
          {"categories", categoriesJson()}};
}

FashionMosaicSummary summaryOf(const fs::path& out,
                               const FashionMosaicOptions& options) {
  FashionMosaicSummary summary;
  summary.train_json = (out / "annotations" / "instances_train.json").string();
  summary.val_json = (out / "annotations" / "instances_val.json").string();
  summary.train_images = (out / kTrainFolder).string();
  summary.val_images = (out / kValFolder).string();
  summary.train_count = options.train_images;
  summary.val_count = options.val_images;
  return summary;
}

std::int64_t countFiles(const fs::path& dir) {
  std::error_code error;
  fs::directory_iterator it(dir, error);
  if (error) return -1;
  return std::distance(it, fs::directory_iterator());
}

// Whether `out` holds a complete set made with these options: the manifest
// is written last, so its presence means the rest was written.
bool isComplete(const fs::path& out, const FashionMosaicOptions& options,
                const FashionMosaicSummary& summary) {
  std::ifstream in(out / kManifestName);
  if (!in) return false;
  const Json manifest = Json::parse(in, nullptr, /*allow_exceptions=*/false);
  return manifest == manifestFor(options) &&
         fs::is_regular_file(summary.train_json) &&
         fs::is_regular_file(summary.val_json) &&
         countFiles(summary.train_images) == options.train_images &&
         countFiles(summary.val_images) == options.val_images;
}

void checkOptions(const FashionMosaicOptions& options) {
  if (options.train_images < 1 || options.val_images < 1) {
    throw std::invalid_argument(fmt::format(
        "fashion-mosaic: train_images and val_images must be positive, got {} "
        "and {}",
        options.train_images, options.val_images));
  }
  if (options.canvas_size < kMinCanvasSize ||
      options.canvas_size > kMaxCanvasSize) {
    throw std::invalid_argument(
        fmt::format("fashion-mosaic: canvas_size must be {}..{}, got {}",
                    kMinCanvasSize, kMaxCanvasSize, options.canvas_size));
  }
}

// `dir` without a trailing slash, so that "<dir>.partial" is its sibling.
fs::path outputFolder(const std::string& dir) {
  fs::path out = fs::path(dir).lexically_normal();
  if (!out.has_filename()) out = out.parent_path();
  if (!out.has_filename() || out.filename() == "." || out.filename() == "..") {
    throw std::invalid_argument(fmt::format(
        "fashion-mosaic: out_dir '{}' must name a folder of its own", dir));
  }
  return out;
}

}  // namespace

FashionMosaicSummary buildFashionMosaic(const FashionMosaicOptions& given) {
  FashionMosaicOptions options = given;
  if (options.train_images == 0) options.train_images = kDefaultTrainImages;
  if (options.val_images == 0) options.val_images = kDefaultValImages;
  if (options.canvas_size == 0) options.canvas_size = kDefaultCanvasSize;
  checkOptions(options);

  const fs::path out = outputFolder(options.out_dir);
  const FashionMosaicSummary summary = summaryOf(out, options);
  if (isComplete(out, options, summary)) return summary;
  // Only replace what is evidently an (older or broken) set of ours.
  if (fs::exists(out) && !fs::is_empty(out) &&
      !fs::exists(out / kManifestName)) {
    throw std::runtime_error(fmt::format(
        "{}: exists and is not a fashion-mosaic set (no {}); remove it or "
        "choose another output folder",
        out.string(), kManifestName));
  }

  const Source train = loadSource(options.source_dir, "train");
  const Source val = loadSource(options.source_dir, "t10k");

  // Written aside and renamed into place, so `out` is never half-made.
  fs::path partial = out;
  partial += ".partial";
  fs::remove_all(partial);
  fs::create_directories(partial / "annotations");
  writeJson(partial / "annotations" / "instances_train.json",
            buildSplit(train, options, options.train_images, partial,
                       kTrainFolder, /*split_tag=*/1));
  writeJson(partial / "annotations" / "instances_val.json",
            buildSplit(val, options, options.val_images, partial, kValFolder,
                       /*split_tag=*/2));
  writeJson(partial / kManifestName, manifestFor(options));
  fs::remove_all(out);
  fs::rename(partial, out);
  return summary;
}

}  // namespace labrun::data
