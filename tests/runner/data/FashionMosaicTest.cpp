// fashion-mosaic on the real Fashion-MNIST files of dataset-fashion-mnist, at
// tiny sizes; the IDX reader is checked against idx_reference.json, made by
// tests/data/fashion_mosaic/make_idx_reference.py with Python's gzip.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <set>
#include <sstream>
#include <string>
#include <tuple>
#include <vector>

#include "data/FashionMosaic.h"
#include "data/IdxReader.h"
#include "data/JpegWriter.h"

namespace labrun::data {
namespace {

namespace fs = std::filesystem;
using Json = nlohmann::json;

const fs::path kSource = "/usr/share/datasets/fashion-mnist";

std::string readText(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

Json readJson(const fs::path& path) { return Json::parse(readText(path)); }

// Runs `build` and expects an exception of type E whose message holds every
// one of `parts`.
template <typename E>
void expectError(const std::function<void()>& build,
                 const std::vector<std::string>& parts) {
  try {
    build();
    ADD_FAILURE() << "no error";
  } catch (const E& error) {
    const std::string message = error.what();
    for (const std::string& part : parts) {
      EXPECT_NE(message.find(part), std::string::npos)
          << "'" << part << "' not in: " << message;
    }
  }
}

// Writes bytes uncompressed: the reader takes plain files as gzip does.
void writeBytes(const fs::path& path, const std::vector<std::uint8_t>& bytes) {
  std::ofstream(path, std::ios::binary)
      .write(reinterpret_cast<const char*>(bytes.data()),
             static_cast<std::streamsize>(bytes.size()));
}

class FashionMosaicTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    root_ = fs::temp_directory_path() /
            ("labrun_mosaic_" + std::to_string(getpid()) + "_" + info->name());
    fs::remove_all(root_);
    fs::create_directories(root_);
  }
  void TearDown() override { fs::remove_all(root_); }

  FashionMosaicOptions tiny(const std::string& name) const {
    FashionMosaicOptions options;
    options.source_dir = kSource.string();
    options.out_dir = (root_ / name).string();
    options.train_images = 40;
    options.val_images = 16;
    options.canvas_size = 96;
    options.seed = 7;
    return options;
  }

  // A source folder whose files link to the real ones except those given.
  fs::path sourceWith(const std::map<std::string, fs::path>& replaced) {
    const fs::path dir = root_ / "source";
    fs::create_directories(dir);
    for (const char* name :
         {"train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
          "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"}) {
      const auto it = replaced.find(name);
      if (it == replaced.end()) {
        fs::create_symlink(kSource / name, dir / name);
      } else {
        fs::copy_file(it->second, dir / name);
      }
    }
    return dir;
  }

  fs::path root_;
};

// fashion-mosaic writes its JPEGs with encodeJpeg so that builds without
// OpenCV's imgcodecs make the same data sets: the bytes must be imwrite's.
TEST(JpegWriterTest, SameBytesAsOpenCvAtEveryQuality) {
  cv::Mat noise(37, 53, CV_8UC3);  // sizes that are no multiple of a block
  cv::randu(noise, 0, 256);
  cv::Mat gradient(48, 64, CV_8UC3);
  for (int y = 0; y < gradient.rows; ++y) {
    for (int x = 0; x < gradient.cols; ++x) {
      gradient.at<cv::Vec3b>(y, x) = cv::Vec3b(
          static_cast<unsigned char>(4 * x), static_cast<unsigned char>(5 * y),
          static_cast<unsigned char>(2 * (x + y)));
    }
  }
  cv::Mat gray;
  cv::cvtColor(gradient, gray, cv::COLOR_BGR2GRAY);
  for (const cv::Mat& image : {noise, gradient, gray}) {
    for (const int quality : {50, 90, 95, 100}) {
      std::vector<unsigned char> expected;
      ASSERT_TRUE(cv::imencode(".jpg", image, expected,
                               {cv::IMWRITE_JPEG_QUALITY, quality}));
      EXPECT_EQ(encodeJpeg(image, quality), expected)
          << image.channels() << " channels, quality " << quality;
    }
  }
  EXPECT_THROW(encodeJpeg(cv::Mat(4, 4, CV_32FC3), 90), std::invalid_argument);
}

TEST(IdxReaderTest, MatchesPythonReference) {
  const Json reference = readJson(fs::path(LABRUN_TEST_DATA) /
                                  "fashion_mosaic" / "idx_reference.json");
  ASSERT_EQ(reference.size(), 4u);
  for (const Json& facts : reference) {
    const auto shape = facts["shape"].get<std::vector<std::int64_t>>();
    const IdxArray array =
        readIdxFile((kSource / facts["file"].get<std::string>()).string(),
                    static_cast<int>(shape.size()));
    SCOPED_TRACE(facts["file"].get<std::string>());
    EXPECT_EQ(array.shape, shape);
    std::int64_t item = 1;
    for (std::size_t d = 1; d < shape.size(); ++d) item *= shape[d];
    ASSERT_EQ(static_cast<std::int64_t>(array.data.size()), shape[0] * item);
    std::uint64_t byte_sum = 0, weighted_sum = 0;
    for (std::size_t i = 0; i < array.data.size(); ++i) {
      byte_sum += array.data[i];
      weighted_sum += std::uint64_t{array.data[i]} * (i % 251);
    }
    EXPECT_EQ(byte_sum, facts["byte_sum"].get<std::uint64_t>());
    EXPECT_EQ(weighted_sum, facts["weighted_sum"].get<std::uint64_t>());
    for (const auto& [index, values] : facts["samples"].items()) {
      const auto begin = array.data.begin() + std::stoll(index) * item;
      EXPECT_EQ(std::vector<std::uint8_t>(begin, begin + item),
                values.get<std::vector<std::uint8_t>>())
          << "sample " << index;
    }
  }
}

TEST_F(FashionMosaicTest, IdxReaderRejectsTrailingBytesAndWrongRank) {
  // IDX1 of 3 bytes, then one byte too many.
  const fs::path path = root_ / "extra.idx";
  writeBytes(path, {0, 0, 8, 1, 0, 0, 0, 3, 5, 6, 7, 8});
  expectError<std::runtime_error>([&] { readIdxFile(path.string(), 1); },
                                  {path.string(), "trailing bytes"});
  expectError<std::runtime_error>(
      [&] { readIdxFile(path.string(), 3); },
      {path.string(), "bad IDX magic 0x00000801", "expected 0x00000803"});
  expectError<std::runtime_error>(
      [&] { readIdxFile((root_ / "absent.gz").string(), 1); },
      {(root_ / "absent.gz").string(), "cannot open"});
}

TEST_F(FashionMosaicTest, SameSeedSameSetOtherSeedOtherSet) {
  const auto a = buildFashionMosaic(tiny("a"));
  const auto b = buildFashionMosaic(tiny("b"));
  FashionMosaicOptions other = tiny("c");
  other.seed = 8;
  const auto c = buildFashionMosaic(other);

  EXPECT_EQ(readText(a.train_json), readText(b.train_json));
  EXPECT_EQ(readText(a.val_json), readText(b.val_json));
  for (const char* file : {"000001.jpg", "000040.jpg"}) {
    EXPECT_EQ(readText(fs::path(a.train_images) / file),
              readText(fs::path(b.train_images) / file));
  }
  EXPECT_NE(readJson(a.train_json)["annotations"],
            readJson(c.train_json)["annotations"]);
  // Train and val are drawn apart, not from one stream.
  EXPECT_NE(readJson(a.train_json)["annotations"],
            readJson(a.val_json)["annotations"]);
}

TEST_F(FashionMosaicTest, CocoFilesHoldTwoToFourDistinctItemsPerImage) {
  const auto summary = buildFashionMosaic(tiny("set"));
  EXPECT_EQ(summary.train_count, 40);
  EXPECT_EQ(summary.val_count, 16);
  for (const auto& [path, count] :
       {std::pair{summary.train_json, 40}, std::pair{summary.val_json, 16}}) {
    SCOPED_TRACE(path);
    const Json coco = readJson(path);
    ASSERT_EQ(coco["categories"].size(), 10u);
    EXPECT_EQ(coco["categories"][0]["name"], "T-shirt/top");
    EXPECT_EQ(coco["categories"][9]["name"], "Ankle boot");
    for (int k = 0; k < 10; ++k) EXPECT_EQ(coco["categories"][k]["id"], k + 1);

    ASSERT_EQ(coco["images"].size(), static_cast<std::size_t>(count));
    std::map<std::int64_t, std::vector<int>> categories;
    for (const Json& image : coco["images"]) {
      EXPECT_EQ(image["width"], 96);
      EXPECT_EQ(image["height"], 96);
      categories[image["id"].get<std::int64_t>()];
    }
    ASSERT_EQ(categories.size(), static_cast<std::size_t>(count));
    std::set<std::int64_t> annotation_ids;
    for (const Json& a : coco["annotations"]) {
      annotation_ids.insert(a["id"].get<std::int64_t>());
      ASSERT_EQ(categories.count(a["image_id"].get<std::int64_t>()), 1u);
      categories[a["image_id"]].push_back(a["category_id"].get<int>());
      const auto box = a["bbox"].get<std::vector<int>>();
      ASSERT_EQ(box.size(), 4u);
      EXPECT_GE(box[0], 0);
      EXPECT_GE(box[1], 0);
      EXPECT_GT(box[2], 0);
      EXPECT_GT(box[3], 0);
      EXPECT_LE(box[0] + box[2], 96);
      EXPECT_LE(box[1] + box[3], 96);
      EXPECT_EQ(a["area"], box[2] * box[3]);
      EXPECT_EQ(a["iscrowd"], 0);
      const std::vector<int> polygon = {
          box[0],          box[1],          box[0] + box[2], box[1],
          box[0] + box[2], box[1] + box[3], box[0],          box[1] + box[3]};
      EXPECT_EQ(a["segmentation"], Json::array({polygon}));
    }
    EXPECT_EQ(annotation_ids.size(), coco["annotations"].size());
    for (auto& [id, labels] : categories) {
      EXPECT_GE(labels.size(), 2u) << "image " << id;
      EXPECT_LE(labels.size(), 4u) << "image " << id;
      std::sort(labels.begin(), labels.end());
      EXPECT_EQ(std::adjacent_find(labels.begin(), labels.end()), labels.end())
          << "image " << id << " repeats a category";
      for (int label : labels) {
        EXPECT_GE(label, 1);
        EXPECT_LE(label, 10);
      }
    }
  }
}

// Each annotation names a real Fashion-MNIST image of its category, and the
// JPEG shows that very image inside the box.
TEST_F(FashionMosaicTest, LabelsMatchTheDrawnItems) {
  const auto summary = buildFashionMosaic(tiny("set"));
  for (const auto& [json, images_dir, prefix] :
       {std::tuple{summary.train_json, summary.train_images, "train"},
        std::tuple{summary.val_json, summary.val_images, "t10k"}}) {
    SCOPED_TRACE(json);
    const IdxArray images = readIdxFile(
        (kSource / (std::string(prefix) + "-images-idx3-ubyte.gz")).string(),
        3);
    const IdxArray labels = readIdxFile(
        (kSource / (std::string(prefix) + "-labels-idx1-ubyte.gz")).string(),
        1);
    const Json coco = readJson(json);
    std::map<std::int64_t, std::string> files;
    for (const Json& image : coco["images"])
      files[image["id"]] = image["file_name"];

    // -correlation of the canvas (ink is darker) with a source image's
    // tight box, the canvas box resized to it.
    const auto match = [&](const cv::Mat& canvas, const cv::Rect& box,
                           std::int64_t index) {
      cv::Mat source(
          28, 28, CV_8UC1,
          const_cast<std::uint8_t*>(images.data.data()) + index * 28 * 28);
      cv::Mat ink;
      cv::threshold(source, ink, 25, 255, cv::THRESH_BINARY);
      const cv::Mat item = source(cv::boundingRect(ink));
      cv::Mat seen;
      cv::resize(canvas(box), seen, item.size(), 0, 0, cv::INTER_AREA);
      cv::Mat a, b;
      item.convertTo(a, CV_64F);
      seen.convertTo(b, CV_64F);
      a -= cv::mean(a);
      b -= cv::mean(b);
      return -a.dot(b) / std::sqrt(a.dot(a) * b.dot(b) + 1e-9);
    };
    std::vector<double> own, other;
    std::int64_t previous = -1;
    for (const Json& a : coco["annotations"]) {
      const auto index = a["fashion_mnist_index"].get<std::int64_t>();
      ASSERT_GE(index, 0);
      ASSERT_LT(index, labels.shape[0]);
      EXPECT_EQ(a["category_id"].get<int>(), labels.data[index] + 1);
      const cv::Mat canvas =
          cv::imread((fs::path(images_dir) / files[a["image_id"]]).string(),
                     cv::IMREAD_GRAYSCALE);
      ASSERT_FALSE(canvas.empty());
      const auto box = a["bbox"].get<std::vector<int>>();
      const cv::Rect rect(box[0], box[1], box[2], box[3]);
      own.push_back(match(canvas, rect, index));
      if (previous >= 0) other.push_back(match(canvas, rect, previous));
      previous = index;
    }
    std::sort(own.begin(), own.end());
    std::sort(other.begin(), other.end());
    // Occlusion by a neighbour may spoil a few; most match closely, and far
    // better than another item would.
    EXPECT_GT(own[own.size() / 2], 0.85);
    EXPECT_GT(own[own.size() / 10], 0.7);
    EXPECT_LT(other[other.size() / 2], 0.5);
  }
}

TEST_F(FashionMosaicTest, CooccurrenceFollowsTheStyles) {
  FashionMosaicOptions options = tiny("set");
  options.train_images = 600;
  options.canvas_size = 64;
  const Json coco = readJson(buildFashionMosaic(options).train_json);
  std::map<std::int64_t, std::set<std::string>> names;
  std::map<int, std::string> category_names;
  for (const Json& c : coco["categories"]) category_names[c["id"]] = c["name"];
  for (const Json& a : coco["annotations"]) {
    names[a["image_id"]].insert(category_names[a["category_id"]]);
  }
  ASSERT_EQ(names.size(), 600u);
  const auto share = [&](const std::string& with, const std::string& given) {
    int given_count = 0, both = 0;
    for (const auto& [id, set] : names) {
      if (!given.empty() && !set.count(given)) continue;
      ++given_count;
      both += static_cast<int>(set.count(with));
    }
    return static_cast<double>(both) / std::max(given_count, 1);
  };
  EXPECT_GT(share("Sandal", "Dress"), 0.8);
  EXPECT_LT(share("Sandal", ""), 0.35);
  EXPECT_GT(share("Sneaker", "T-shirt/top"), 0.8);
  EXPECT_LT(share("Sneaker", ""), 0.45);
  // Look-alike tops come with different company.
  EXPECT_LT(share("Sneaker", "Shirt"), 0.2);
  EXPECT_LT(share("T-shirt/top", "Shirt"), 0.2);
  EXPECT_GT(share("Ankle boot", "Coat"), 0.8);
  EXPECT_LT(share("Ankle boot", "T-shirt/top"), 0.2);
}

TEST_F(FashionMosaicTest, ImagesDecodeAtTheCanvasSize) {
  const auto summary = buildFashionMosaic(tiny("set"));
  for (const auto& [json, dir] :
       {std::pair{summary.train_json, summary.train_images},
        std::pair{summary.val_json, summary.val_images}}) {
    const Json coco = readJson(json);
    std::size_t files = 0;
    for (const auto& entry : fs::directory_iterator(dir)) {
      EXPECT_EQ(entry.path().extension(), ".jpg");
      ++files;
    }
    EXPECT_EQ(files, coco["images"].size());
    for (const Json& image : coco["images"]) {
      const cv::Mat decoded =
          cv::imread((fs::path(dir) / image["file_name"]).string());
      ASSERT_FALSE(decoded.empty()) << image["file_name"];
      EXPECT_EQ(decoded.cols, 96);
      EXPECT_EQ(decoded.rows, 96);
      EXPECT_EQ(decoded.type(), CV_8UC3);
      // A light background: the canvas is mostly bright.
      cv::Mat gray;
      cv::cvtColor(decoded, gray, cv::COLOR_BGR2GRAY);
      EXPECT_GT(cv::mean(gray)[0], 130.0);
    }
  }
}

TEST_F(FashionMosaicTest, RerunSkipsACompleteSetAndRebuildsOthers) {
  const FashionMosaicOptions options = tiny("set");
  const auto first = buildFashionMosaic(options);
  const fs::path marker = fs::path(options.out_dir) / "marker";
  std::ofstream(marker) << "kept unless rebuilt";

  const auto again = buildFashionMosaic(options);
  EXPECT_TRUE(fs::exists(marker)) << "a complete set was rebuilt";
  EXPECT_EQ(again.train_json, first.train_json);
  EXPECT_EQ(again.val_images, first.val_images);

  // A missing image makes the set incomplete.
  fs::remove(fs::path(first.val_images) / "000003.jpg");
  buildFashionMosaic(options);
  EXPECT_FALSE(fs::exists(marker));
  EXPECT_TRUE(fs::exists(fs::path(first.val_images) / "000003.jpg"));

  // Other options replace the set.
  std::ofstream(marker) << "kept unless rebuilt";
  FashionMosaicOptions bigger = options;
  bigger.val_images = 20;
  const auto rebuilt = buildFashionMosaic(bigger);
  EXPECT_FALSE(fs::exists(marker));
  EXPECT_EQ(readJson(rebuilt.val_json)["images"].size(), 20u);
  EXPECT_EQ(readJson(fs::path(options.out_dir) / "manifest.json")["val_images"],
            20);
  EXPECT_FALSE(fs::exists(options.out_dir + ".partial"));
}

TEST_F(FashionMosaicTest, TrailingSlashNamesTheSameFolder) {
  FashionMosaicOptions options = tiny("set");
  options.out_dir += "/";
  const auto first = buildFashionMosaic(options);
  EXPECT_EQ(first.train_json,
            (root_ / "set" / "annotations" / "instances_train.json").string());
  EXPECT_FALSE(fs::exists(root_ / "set" / ".partial"));
  const fs::path marker = root_ / "set" / "marker";
  std::ofstream(marker) << "kept unless rebuilt";
  buildFashionMosaic(tiny("set"));
  EXPECT_TRUE(fs::exists(marker));

  options.out_dir = "/tmp/..";
  expectError<std::invalid_argument>([&] { buildFashionMosaic(options); },
                                     {"out_dir '/tmp/..'"});
}

TEST_F(FashionMosaicTest, RefusesToReplaceAForeignFolder) {
  FashionMosaicOptions options = tiny("mine");
  fs::create_directories(options.out_dir);
  std::ofstream(fs::path(options.out_dir) / "notes.txt") << "precious";
  expectError<std::runtime_error>(
      [&] { buildFashionMosaic(options); },
      {options.out_dir, "not a fashion-mosaic set"});
  EXPECT_EQ(readText(fs::path(options.out_dir) / "notes.txt"), "precious");
}

TEST_F(FashionMosaicTest, MissingSourceFileIsNamed) {
  FashionMosaicOptions options = tiny("set");
  options.source_dir = (root_ / "empty").string();
  fs::create_directories(options.source_dir);
  // A usage error (exit 2): the --source given holds no set.
  expectError<std::invalid_argument>(
      [&] { buildFashionMosaic(options); },
      {(root_ / "empty" / "train-images-idx3-ubyte.gz").string(), "missing",
       "dataset-fashion-mnist", "point --source at a copy"});
  EXPECT_FALSE(fs::exists(options.out_dir));
}

TEST_F(FashionMosaicTest, TruncatedSourceFileIsNamed) {
  // The first half of the real labels file: a gzip stream cut short.
  const std::string whole = readText(kSource / "t10k-labels-idx1-ubyte.gz");
  const fs::path cut = root_ / "cut.gz";
  std::ofstream(cut, std::ios::binary) << whole.substr(0, whole.size() / 2);
  FashionMosaicOptions options = tiny("set");
  options.source_dir =
      sourceWith({{"t10k-labels-idx1-ubyte.gz", cut}}).string();
  expectError<std::runtime_error>(
      [&] { buildFashionMosaic(options); },
      {(fs::path(options.source_dir) / "t10k-labels-idx1-ubyte.gz").string(),
       "truncated"});
  EXPECT_FALSE(fs::exists(options.out_dir));
}

TEST_F(FashionMosaicTest, WrongSourceFilesAreNamed) {
  FashionMosaicOptions options = tiny("set");
  // A labels file where the images belong.
  options.source_dir = sourceWith({{"t10k-images-idx3-ubyte.gz",
                                    kSource / "t10k-labels-idx1-ubyte.gz"}})
                           .string();
  expectError<std::runtime_error>(
      [&] { buildFashionMosaic(options); },
      {(fs::path(options.source_dir) / "t10k-images-idx3-ubyte.gz").string(),
       "bad IDX magic"});

  // Labels that do not fit the images.
  fs::remove_all(options.source_dir);
  const fs::path labels = root_ / "labels.idx";
  writeBytes(labels, {0, 0, 8, 1, 0, 0, 0, 2, 3, 4});
  options.source_dir =
      sourceWith({{"t10k-labels-idx1-ubyte.gz", labels}}).string();
  expectError<std::runtime_error>(
      [&] { buildFashionMosaic(options); },
      {(fs::path(options.source_dir) / "t10k-labels-idx1-ubyte.gz").string(),
       "holds 2 labels but t10k-images-idx3-ubyte.gz holds 10000 images"});
}

TEST_F(FashionMosaicTest, RejectsBadSizes) {
  FashionMosaicOptions options = tiny("set");
  options.canvas_size = 32;
  expectError<std::invalid_argument>([&] { buildFashionMosaic(options); },
                                     {"canvas_size", "64..1024", "32"});
  options = tiny("set");
  options.val_images = -1;
  expectError<std::invalid_argument>([&] { buildFashionMosaic(options); },
                                     {"val_images", "-1"});
}

}  // namespace
}  // namespace labrun::data
