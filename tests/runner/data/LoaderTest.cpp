// Transforms (against torchvision fixtures and hand-computed cases), the
// image decoder (every kind of bad image), and the threaded loader
// (determinism, epoch order, resume, bad-image replacement and limits).
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <numeric>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <set>
#include <sstream>

#include "data/ImageDecoder.h"
#include "data/ImageLoader.h"
#include "data/Transforms.h"
#include "spec/Schema.h"
#include "spec/SpecError.h"
#include "spec/SpecLoader.h"
#include "util/IoFault.h"

namespace labrun::data {
namespace {
namespace fs = std::filesystem;

const std::string kFixtures = std::string(LABRUN_TEST_DATA) + "/images";

spec::Node yaml(const std::string& text) {
  return spec::parseYamlText(text, spec::Origin{"test.yaml", 0, 0, ""});
}

// The pipeline of `steps`, a YAML list of strings (as the schema checks
// data.transforms.*), with each step's position.
TransformPipeline pipeline(const std::string& steps) {
  const spec::Node list = yaml(steps);
  const std::string key = "data.transforms.train";
  spec::toParamValue(list, ParamType::kStringList, key);
  std::vector<spec::Located<std::string>> located;
  for (const spec::Node& item : list.items()) {
    located.push_back({item.asString(), item.origin().describe()});
  }
  return TransformPipeline::parse(located, key, list.origin().describe());
}

// The pipeline's output for `bgr` as a [3, H, W] tensor.
torch::Tensor run(const TransformPipeline& transforms, const cv::Mat& bgr,
                  SampleRng rng = SampleRng(0, 1, 0)) {
  torch::Tensor out =
      torch::empty({3, transforms.height(), transforms.width()});
  transforms.apply(bgr, rng, out.data_ptr<float>());
  return out;
}

// An 8-bit image as [3, H, W] float in 0..255, RGB order.
torch::Tensor rgbTensor(const cv::Mat& bgr) {
  cv::Mat rgb;
  cv::cvtColor(bgr, rgb, cv::COLOR_BGR2RGB);
  return torch::from_blob(rgb.data, {rgb.rows, rgb.cols, 3}, torch::kUInt8)
      .permute({2, 0, 1})
      .to(torch::kFloat32);
}

// Blue = column, green = row, red = 7: crops and flips read off the pixels.
cv::Mat coordinateImage(int height, int width) {
  cv::Mat image(height, width, CV_8UC3);
  for (int y = 0; y < height; ++y) {
    for (int x = 0; x < width; ++x) {
      image.at<cv::Vec3b>(y, x) = cv::Vec3b(x, y, 7);
    }
  }
  return image;
}

cv::Mat noiseImage(int height, int width, int seed) {
  cv::Mat image(height, width, CV_8UC3);
  cv::RNG rng(seed);
  rng.fill(image, cv::RNG::UNIFORM, 0, 256);
  cv::GaussianBlur(image, image, cv::Size(5, 5), 1.0);
  return image;
}

float maxDiff(const torch::Tensor& a, const torch::Tensor& b) {
  return (a - b).abs().max().item<float>();
}

std::string tempDir(const std::string& name) {
  const fs::path dir = fs::path(::testing::TempDir()) / ("loader_" + name);
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir.string();
}

void writeBytes(const std::string& path, const std::vector<uchar>& bytes) {
  std::ofstream(path, std::ios::binary)
      .write(reinterpret_cast<const char*>(bytes.data()),
             static_cast<std::streamsize>(bytes.size()));
}

std::vector<uchar> encode(const std::string& ext, const cv::Mat& image) {
  std::vector<uchar> bytes;
  cv::imencode(ext, image, bytes, {cv::IMWRITE_JPEG_QUALITY, 95});
  return bytes;
}

// --- Transforms ---------------------------------------------------------

TEST(Transforms, ResizeAndCropMatchTorchvision) {
  const nlohmann::json fixtures =
      nlohmann::json::parse(std::ifstream(kFixtures + "/fixtures.json"));
  const cv::Mat input =
      cv::imread(kFixtures + "/" + fixtures["input"].get<std::string>());
  ASSERT_FALSE(input.empty());
  for (const auto& fixture : fixtures["resize"]) {
    std::string steps;
    for (const auto& step : fixture["steps"]) {
      steps += (steps.empty() ? "" : ", ") + step.get<std::string>();
    }
    SCOPED_TRACE(steps);
    const cv::Mat expected =
        cv::imread(kFixtures + "/" + fixture["expected"].get<std::string>());
    const TransformPipeline transforms = pipeline("[" + steps + "]");
    ASSERT_EQ(transforms.height(), expected.rows);
    ASSERT_EQ(transforms.width(), expected.cols);
    // torchvision rounds to 8 bits; the pipeline keeps floats.
    EXPECT_LE(maxDiff(run(transforms, input) * 255, rgbTensor(expected)),
              0.5f + 1e-3f);
  }
}

TEST(Transforms, ResizeShorterSideLikeTorchvision) {
  // int(size * long / short), the shorter side becoming `size`.
  EXPECT_EQ(*Resize(256).outputSize(cv::Size(640, 480)), cv::Size(341, 256));
  EXPECT_EQ(*Resize(256).outputSize(cv::Size(480, 640)), cv::Size(256, 341));
  EXPECT_EQ(*Resize(16).outputSize(cv::Size(23, 37)), cv::Size(16, 25));
  EXPECT_EQ(*Resize(100).outputSize(cv::Size(300, 300)), cv::Size(100, 100));
  EXPECT_FALSE(Resize(100).outputSize(std::nullopt));
  EXPECT_EQ(*Resize(cv::Size(7, 5)).outputSize(std::nullopt), cv::Size(7, 5));
}

TEST(Transforms, CenterCropRoundsHalfToEvenLikeTorchvision) {
  // (image side, crop side, offset = Python round((side - crop) / 2)).
  const std::vector<std::array<int, 3>> cases = {
      {10, 7, 2}, {13, 8, 2}, {12, 9, 2}, {9, 4, 2}, {15, 8, 4}, {11, 10, 0}};
  for (const auto& [side, crop, offset] : cases) {
    SCOPED_TRACE(std::to_string(side) + " -> " + std::to_string(crop));
    const cv::Mat image = coordinateImage(side, side);
    const torch::Tensor out =
        run(pipeline("[center_crop " + std::to_string(crop) + "]"), image) *
        255;
    EXPECT_FLOAT_EQ(out[2][0][0].item<float>(), offset);  // blue = column
    EXPECT_FLOAT_EQ(out[1][0][0].item<float>(), offset);  // green = row
    EXPECT_FLOAT_EQ(out[2][0][crop - 1].item<float>(), offset + crop - 1);
  }
}

TEST(Transforms, CenterCropPadsWithBlackLikeTorchvision) {
  // A 5-wide image cropped to 8: (8 - 5) // 2 = 1 column of padding before,
  // 2 after; rows are cropped as usual (round(2 / 2) = 1).
  const cv::Mat image = coordinateImage(/*height=*/6, /*width=*/5);
  const torch::Tensor out = run(pipeline("[center_crop 4x8]"), image) * 255;
  for (int x = 0; x < 8; ++x) {
    const bool inside = x >= 1 && x <= 5;
    EXPECT_FLOAT_EQ(out[2][0][x].item<float>(), inside ? x - 1 : 0) << x;
    EXPECT_FLOAT_EQ(out[0][0][x].item<float>(), inside ? 7 : 0) << x;
  }
  EXPECT_FLOAT_EQ(out[1][0][3].item<float>(), 1);
  // Normalised padding is black normalised.
  const torch::Tensor normalised =
      run(pipeline("[center_crop 4x8, normalize]"), image);
  EXPECT_NEAR(normalised[0][0][0].item<float>(), -0.485f / 0.229f, 1e-5);
}

TEST(Transforms, RandomCropFollowsItsDraws) {
  const cv::Mat image = coordinateImage(/*height=*/20, /*width=*/30);
  const TransformPipeline transforms = pipeline("[random_crop 6x4]");
  std::set<int> lefts;
  for (int index = 0; index < 200; ++index) {
    SampleRng draws(5, 2, index);
    draws.uniformInt(0, 0);  // the size, of one
    const int row = static_cast<int>(draws.uniformInt(0, 20 - 6));
    const int column = static_cast<int>(draws.uniformInt(0, 30 - 4));
    const torch::Tensor out =
        run(transforms, image, SampleRng(5, 2, index)) * 255;
    ASSERT_EQ(out.sizes(), (std::vector<std::int64_t>{3, 6, 4}));
    // Exactly the source pixels of the crop at (row, column).
    EXPECT_FLOAT_EQ(out[2][0][0].item<float>(), column);
    EXPECT_FLOAT_EQ(out[1][0][0].item<float>(), row);
    EXPECT_FLOAT_EQ(out[2][5][3].item<float>(), column + 3);
    EXPECT_FLOAT_EQ(out[1][5][3].item<float>(), row + 5);
    lefts.insert(column);
  }
  EXPECT_EQ(*lefts.begin(), 0);
  EXPECT_EQ(*lefts.rbegin(), 26);
}

TEST(Transforms, RandomCropDrawsEverySizeAndPosition) {
  // SSGRL's crop of a 640x640 image: each size about equally often, every
  // position from 0 to 640 - size reachable.
  const TransformPipeline transforms = pipeline(
      "[resize 640x640, random_crop 640|576|512|384|320, "
      "resize 576x576]");
  std::map<int, int> counts;
  std::map<int, std::pair<int, int>> range;
  for (int index = 0; index < 5000; ++index) {
    SampleRng rng(1, 1, index);
    const SamplePlan plan = transforms.plan(cv::Size(640, 480), rng);
    EXPECT_EQ(plan.size, cv::Size(576, 576));
    const int side = static_cast<int>(std::lround(plan.box.width));
    EXPECT_DOUBLE_EQ(plan.box.height, side * 0.75);  // 480 / 640
    const int left = static_cast<int>(std::lround(plan.box.x));
    ++counts[side];
    auto [it, added] = range.try_emplace(side, left, left);
    it->second.first = std::min(it->second.first, left);
    it->second.second = std::max(it->second.second, left);
  }
  ASSERT_EQ(counts.size(), 5u);
  for (const auto& [side, count] : counts) {
    EXPECT_NEAR(count, 1000, 150) << side;  // binomial sd 28
    EXPECT_EQ(range[side].first, 0) << side;
    EXPECT_EQ(range[side].second, 640 - side) << side;
  }
}

TEST(Transforms, FlipMirrorsWithItsProbability) {
  const cv::Mat image = coordinateImage(/*height=*/3, /*width=*/9);
  const torch::Tensor always =
      run(pipeline("[hflip 1, center_crop 3x9]"), image) * 255;
  const torch::Tensor never =
      run(pipeline("[hflip 0, center_crop 3x9]"), image) * 255;
  for (int x = 0; x < 9; ++x) {
    EXPECT_FLOAT_EQ(always[2][1][x].item<float>(), 8 - x);
    EXPECT_FLOAT_EQ(never[2][1][x].item<float>(), x);
  }
  // A crop after the flip crops the mirrored image (as torchvision would).
  const torch::Tensor cropped =
      run(pipeline("[hflip 1, random_crop 3x4]"), image, SampleRng(2, 1, 9)) *
      255;
  SampleRng draws(2, 1, 9);
  draws.uniform();         // the flip
  draws.uniformInt(0, 0);  // the size
  const int left = static_cast<int>(draws.uniformInt(0, 9 - 4));
  for (int x = 0; x < 4; ++x) {
    EXPECT_FLOAT_EQ(cropped[2][0][x].item<float>(), 8 - (left + x));
  }
  // p = 0.5 by default.
  const TransformPipeline half = pipeline("[hflip, center_crop 3x9]");
  int flipped = 0;
  for (int index = 0; index < 4000; ++index) {
    SampleRng rng(0, 3, index);
    flipped += half.plan(image.size(), rng).flip ? 1 : 0;
  }
  EXPECT_NEAR(flipped, 2000, 130);  // binomial sd 32
}

TEST(Transforms, NormalizeIsImageNetByDefault) {
  const cv::Mat flat(4, 4, CV_8UC3, cv::Scalar(0, 128, 255));  // BGR
  const torch::Tensor out = run(pipeline("[resize 2x2, normalize]"), flat);
  EXPECT_NEAR(out[0][1][1].item<float>(), (1.0f - 0.485f) / 0.229f, 1e-5);
  EXPECT_NEAR(out[1][0][1].item<float>(), (128 / 255.0f - 0.456f) / 0.224f,
              1e-5);
  EXPECT_NEAR(out[2][1][0].item<float>(), (0.0f - 0.406f) / 0.225f, 1e-5);
  const torch::Tensor custom =
      run(pipeline("[resize 2x2, normalize 0.5 0.5 0.5 0.25 0.5 1]"), flat);
  EXPECT_NEAR(custom[0][0][0].item<float>(), (1.0f - 0.5f) / 0.25f, 1e-5);
  EXPECT_NEAR(custom[2][0][0].item<float>(), (0.0f - 0.5f) / 1.0f, 1e-5);
  // Without normalize: RGB in [0, 1].
  EXPECT_NEAR(run(pipeline("[resize 2x2]"), flat)[0][0][0].item<float>(), 1.0f,
              1e-6);
}

TEST(Transforms, ResizeCropResizeResamplesOnce) {
  // 23x37 doubled to 46x74, centre 20x30 cropped at (13, 22), resized to
  // 10x15: in source pixels the box starts at (6.5, 11), one source pixel
  // per output pixel, so each output is the mean of two source rows.
  const cv::Mat image = noiseImage(23, 37, /*seed=*/4);
  const torch::Tensor out =
      run(pipeline("[resize 46x74, center_crop 20x30, resize 10x15]"), image) *
      255;
  const torch::Tensor source = rgbTensor(image);
  const torch::Tensor expected =
      (source.slice(1, 6, 16) + source.slice(1, 7, 17)).slice(2, 11, 26) / 2;
  EXPECT_LE(maxDiff(out, expected), 1e-3f);
}

TEST(Transforms, StrongDownscaleAveragesAreas) {
  // 4x smaller: each output is the mean of a 4x4 block (INTER_AREA, 8-bit).
  cv::Mat image(24, 36, CV_8UC3);
  cv::RNG(8).fill(image, cv::RNG::UNIFORM, 0, 256);
  const torch::Tensor out = run(pipeline("[resize 6x9]"), image) * 255;
  const torch::Tensor expected =
      torch::avg_pool2d(rgbTensor(image).unsqueeze(0), /*kernel_size=*/4)
          .squeeze(0);
  EXPECT_LE(maxDiff(out, expected), 0.5f + 1e-3f);
}

TEST(Transforms, SsgrlPresets) {
  const TransformPipeline train = pipeline("[ssgrl_train]");
  EXPECT_EQ(train.describe(),
            "resize 640x640, random_crop 640|576|512|384|320, resize 576x576, "
            "hflip, normalize");
  EXPECT_EQ(train.height(), 576);
  EXPECT_EQ(train.width(), 576);
  const TransformPipeline val = pipeline("[ssgrl_val]");
  EXPECT_EQ(val.describe(), "resize 640x640, center_crop 576, normalize");
  // The test path is deterministic.
  const cv::Mat image = noiseImage(48, 64, /*seed=*/1);
  EXPECT_TRUE(torch::equal(run(val, image, SampleRng(0, 1, 0)),
                           run(val, image, SampleRng(9, 4, 7))));
}

TEST(Transforms, SpecErrorsNameTheItem) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"[resize 640, hlfip]",
       "test.yaml:1:14: data.transforms.train.1: unknown transform 'hlfip'; "
       "did you mean 'hflip'?"},
      {"- resize 640x640\n- random_crop 64o\n",
       "test.yaml:2:3: data.transforms.train.1: expected 'random_crop A|B|...' "
       "(each size S or HxW), found 'random_crop 64o'"},
      {"[resize 0x4]", "data.transforms.train.0: expected 'resize S'"},
      {"[resize 4x4, normalize, hflip]",
       "data.transforms.train.2: 'hflip' after normalize; normalize must be "
       "the last step"},
      {"[ssgrl_train, hflip]", "'hflip' after normalize"},
      {"[resize 640]",
       "test.yaml:1:1: data.transforms.train: the output size varies between "
       "images (resize 640)"},
      {"[resize 8x8, random_crop 4|6]", "the output size varies"},
      {"[]", "the output size varies between images (no steps)"},
      {"resize 640", "data.transforms.train: expected list of strings"},
      {"[hflip 1.5, resize 4x4]", "expected 'hflip' or 'hflip P'"},
      {"[resize 4x4, normalize 1 2 3 4 5]",
       "expected 'normalize' or 'normalize M M M S S S'"},
      {"[resize 4x4, normalize 0 0 0 1 0 1]", "(RGB mean and std, std > 0)"},
      {"[{resize: 4}]", "data.transforms.train.0: expected string"},
  };
  for (const auto& [steps, message] : cases) {
    SCOPED_TRACE(steps);
    try {
      pipeline(steps);
      ADD_FAILURE() << "no error";
    } catch (const spec::SpecError& error) {
      EXPECT_NE(std::string(error.what()).find(message), std::string::npos)
          << error.what();
    }
  }
}

TEST(SampleRng, PureFunctionOfSeedEpochAndIndex) {
  const auto draws = [](SampleRng rng) {
    std::vector<std::int64_t> values;
    for (int i = 0; i < 8; ++i) values.push_back(rng.uniformInt(0, 1000000));
    return values;
  };
  EXPECT_EQ(draws(SampleRng(1, 2, 3)), draws(SampleRng(1, 2, 3)));
  EXPECT_NE(draws(SampleRng(1, 2, 3)), draws(SampleRng(2, 2, 3)));
  EXPECT_NE(draws(SampleRng(1, 2, 3)), draws(SampleRng(1, 3, 3)));
  EXPECT_NE(draws(SampleRng(1, 2, 3)), draws(SampleRng(1, 2, 4)));
  SampleRng rng(7, 1, 0);
  std::vector<int> seen(5);
  for (int i = 0; i < 5000; ++i) {
    const std::int64_t value = rng.uniformInt(-2, 2);
    ASSERT_GE(value, -2);
    ASSERT_LE(value, 2);
    ++seen[value + 2];
    const double u = rng.uniform();
    ASSERT_GE(u, 0.0);
    ASSERT_LT(u, 1.0);
  }
  for (int count : seen) EXPECT_NEAR(count, 1000, 150);
}

// --- Decoding and bad images ---------------------------------------------

struct Decoded {
  bool ok = false;
  std::string error;
  DecodedImage image;
};

Decoded decodeWhole(const std::string& path) {
  ImageDecoder decoder;
  Decoded result;
  result.ok = decoder.decode(
      path, [](cv::Size size) { return cv::Rect(cv::Point(), size); },
      result.image, result.error);
  return result;
}

TEST(ImageDecoder, DecodesByContentNotExtension) {
  const std::string dir = tempDir("content");
  const cv::Mat image = noiseImage(12, 17, /*seed=*/2);
  writeBytes(dir + "/png_named.jpg", encode(".png", image));
  const Decoded decoded = decodeWhole(dir + "/png_named.jpg");
  ASSERT_TRUE(decoded.ok) << decoded.error;
  EXPECT_EQ(cv::norm(decoded.image.bgr, image, cv::NORM_INF), 0.0);
  EXPECT_EQ(decoded.image.size, image.size());
}

TEST(ImageDecoder, GrayscaleBecomesThreeChannels) {
  const std::string dir = tempDir("gray");
  cv::Mat gray(10, 14, CV_8UC1);
  cv::RNG(3).fill(gray, cv::RNG::UNIFORM, 0, 256);
  cv::Mat expected;
  cv::cvtColor(gray, expected, cv::COLOR_GRAY2BGR);
  cv::imwrite(dir + "/gray.png", gray);
  const Decoded png = decodeWhole(dir + "/gray.png");
  ASSERT_TRUE(png.ok) << png.error;
  EXPECT_EQ(cv::norm(png.image.bgr, expected, cv::NORM_INF), 0.0);

  cv::imwrite(dir + "/gray.jpg", gray, {cv::IMWRITE_JPEG_QUALITY, 100});
  const Decoded jpeg = decodeWhole(dir + "/gray.jpg");
  ASSERT_TRUE(jpeg.ok) << jpeg.error;
  ASSERT_EQ(jpeg.image.bgr.type(), CV_8UC3);
  std::vector<cv::Mat> channels;
  cv::split(jpeg.image.bgr, channels);
  EXPECT_EQ(cv::norm(channels[0], channels[1], cv::NORM_INF), 0.0);
  EXPECT_EQ(cv::norm(channels[0], channels[2], cv::NORM_INF), 0.0);
  EXPECT_LE(
      cv::norm(channels[0], cv::imread(dir + "/gray.jpg", cv::IMREAD_GRAYSCALE),
               cv::NORM_INF),
      0.0);
}

TEST(ImageDecoder, SixteenBitPngScaledToEightBits) {
  const std::string dir = tempDir("png16");
  cv::Mat deep(2, 3, CV_16UC3);
  const std::vector<std::uint16_t> values = {0x0000, 0x00FF, 0x1234,
                                             0x80FF, 0xFF00, 0xFFFF};
  for (int i = 0; i < 6; ++i) {
    deep.at<cv::Vec3w>(i / 3, i % 3) = cv::Vec3w::all(values[i]);
  }
  cv::imwrite(dir + "/deep.png", deep);
  const Decoded decoded = decodeWhole(dir + "/deep.png");
  ASSERT_TRUE(decoded.ok) << decoded.error;
  for (int i = 0; i < 6; ++i) {
    EXPECT_EQ(decoded.image.bgr.at<cv::Vec3b>(i / 3, i % 3),
              cv::Vec3b::all(values[i] >> 8));
  }
}

TEST(ImageDecoder, CmykJpegBecomesRgbAsPilDecodesIt) {
  const nlohmann::json fixtures =
      nlohmann::json::parse(std::ifstream(kFixtures + "/fixtures.json"));
  const Decoded decoded = decodeWhole(
      kFixtures + "/" + fixtures["cmyk"]["file"].get<std::string>());
  ASSERT_TRUE(decoded.ok) << decoded.error;
  for (const auto& pixel : fixtures["cmyk"]["pixels_xy_rgb"]) {
    const cv::Vec3b bgr = decoded.image.bgr.at<cv::Vec3b>(pixel[1].get<int>(),
                                                          pixel[0].get<int>());
    for (int c = 0; c < 3; ++c) {
      EXPECT_NEAR(bgr[2 - c], pixel[2 + c].get<int>(), 2) << pixel.dump();
    }
  }
}

TEST(ImageDecoder, DecodesOnlyTheRegionAskedAndExactly) {
  const std::string dir = tempDir("region");
  const cv::Mat image = noiseImage(96, 130, /*seed=*/6);
  cv::imwrite(dir + "/a.jpg", image, {cv::IMWRITE_JPEG_QUALITY, 90});
  const cv::Mat full = cv::imread(dir + "/a.jpg");
  ImageDecoder decoder;
  DecodedImage part;
  std::string error;
  const cv::Rect want(37, 21, 40, 30);
  ASSERT_TRUE(decoder.decode(
      dir + "/a.jpg", [&](cv::Size) { return want; }, part, error))
      << error;
  EXPECT_EQ(part.size, image.size());
  EXPECT_EQ(part.region & want, want);
  EXPECT_LT(part.region.area(), full.size().area());  // fewer pixels decoded
  EXPECT_EQ(
      cv::norm(part.bgr(want - part.region.tl()), full(want), cv::NORM_INF),
      0.0);
}

// A baseline JPEG's start-of-frame marker (SOF0).
const std::vector<uchar> kSof0 = {0xFF, 0xC0};

TEST(ImageDecoder, RejectsUnusableFilesWithAReason) {
  const std::string dir = tempDir("bad");
  const std::vector<uchar> jpeg = encode(".jpg", noiseImage(64, 80, 1));
  const std::vector<uchar> png = encode(".png", noiseImage(64, 80, 1));
  std::vector<uchar> half(jpeg.begin(), jpeg.begin() + jpeg.size() / 2);
  writeBytes(dir + "/truncated.jpg", half);
  // Cut short, then closed with an end-of-image marker: libjpeg meets the
  // marker before the data ends.
  half.insert(half.end(), {0xFF, 0xD9});
  writeBytes(dir + "/cut_then_closed.jpg", half);
  std::vector<uchar> garbage(3000);
  cv::randu(garbage, 0, 256);
  writeBytes(dir + "/garbage.jpg", garbage);
  std::vector<uchar> bad_header = {0xFF, 0xD8, 0xFF, 0xE0};
  bad_header.insert(bad_header.end(), garbage.begin(), garbage.end());
  bad_header.insert(bad_header.end(), {0xFF, 0xDA, 0xFF, 0xD9});
  writeBytes(dir + "/bad_header.jpg", bad_header);
  writeBytes(dir + "/empty.jpg", {});
  fs::create_directories(dir + "/folder.jpg");
  // Opening a FIFO for reading would wait for a writer forever.
  ASSERT_EQ(::mkfifo((dir + "/fifo.jpg").c_str(), 0600), 0);
  writeBytes(dir + "/truncated.png",
             std::vector<uchar>(png.begin(), png.end() - 20));
  // Headers that claim a huge image: refused before any pixel memory,
  // also where width x height overflows an int (60000 x 60000).
  const auto sof = std::search(jpeg.begin(), jpeg.end(), kSof0.begin(),
                               kSof0.end()) -
                   jpeg.begin();
  ASSERT_LT(sof, static_cast<std::ptrdiff_t>(jpeg.size()));
  for (const int side : {20000, 60000}) {
    std::vector<uchar> forged = jpeg;
    for (const int at : {5, 7}) {  // height, then width, big-endian
      forged[sof + at] = static_cast<uchar>(side >> 8);
      forged[sof + at + 1] = static_cast<uchar>(side & 0xFF);
    }
    writeBytes(dir + "/huge" + std::to_string(side) + ".jpg", forged);
  }
  std::vector<uchar> huge_png = png;  // IHDR's width and height: 100000
  for (const int at : {16, 20}) {
    const uchar side[4] = {0x00, 0x01, 0x86, 0xA0};
    std::copy(side, side + 4, huge_png.begin() + at);
  }
  writeBytes(dir + "/huge.png", huge_png);

  const std::vector<std::pair<std::string, std::string>> cases = {
      {"missing.jpg", "cannot open: No such file or directory"},
      {"folder.jpg", "not a regular file"},
      {"fifo.jpg", "not a regular file"},
      {"empty.jpg", "empty file"},
      {"truncated.jpg",
       "truncated JPEG (no end-of-image marker after the last scan)"},
      {"cut_then_closed.jpg",
       "corrupt JPEG: Corrupt JPEG data: premature end of data segment"},
      {"garbage.jpg", "not a decodable image"},
      {"bad_header.jpg", "corrupt JPEG: "},
      {"truncated.png", "truncated PNG (no IEND chunk)"},
      {"huge20000.jpg", "corrupt JPEG: image too large (20000x20000)"},
      {"huge60000.jpg", "corrupt JPEG: image too large (60000x60000)"},
      {"huge.png", "corrupt PNG: image too large (100000x100000)"},
  };
  for (const auto& [name, reason] : cases) {
    SCOPED_TRACE(name);
    const Decoded decoded = decodeWhole(dir + "/" + name);
    EXPECT_FALSE(decoded.ok);
    EXPECT_EQ(decoded.error.rfind(reason, 0), 0u) << decoded.error;
  }
}

// --- The loader -----------------------------------------------------------

// `count` noise JPEGs; image i is labelled with class i (one-hot).
LabelSet jpegSet(const std::string& dir, int count) {
  LabelSet labels;
  for (int i = 0; i < count; ++i) {
    labels.class_names.push_back("c" + std::to_string(i));
    const std::string path = dir + "/" + std::to_string(i) + ".jpg";
    cv::imwrite(path, noiseImage(40 + i % 3, 56, /*seed=*/100 + i));
    labels.image_paths.push_back(path);
  }
  labels.targets = torch::eye(count);
  labels.mask = torch::ones({count, count});
  return labels;
}

const char* kSmallSsgrl =
    "[resize 40x40, random_crop 40|36|32|24|20, resize 36x36, hflip, "
    "normalize]";

std::vector<Batch> epoch(ImageLoader& loader, std::int64_t number,
                         std::int64_t skip = 0) {
  loader.startEpoch(number, skip);
  std::vector<Batch> batches;
  for (Batch batch; loader.next(batch);) batches.push_back(batch);
  return batches;
}

// Which image each row of the epoch shows (targets are one-hot).
std::vector<std::int64_t> order(const std::vector<Batch>& batches) {
  std::vector<std::int64_t> images;
  for (const Batch& batch : batches) {
    const torch::Tensor index = batch.targets.argmax(1);
    for (std::int64_t i = 0; i < index.size(0); ++i) {
      images.push_back(index[i].item<std::int64_t>());
    }
  }
  return images;
}

void expectSameBatches(const std::vector<Batch>& a,
                       const std::vector<Batch>& b) {
  ASSERT_EQ(a.size(), b.size());
  for (std::size_t i = 0; i < a.size(); ++i) {
    EXPECT_TRUE(torch::equal(a[i].images, b[i].images)) << "batch " << i;
    EXPECT_TRUE(torch::equal(a[i].targets, b[i].targets)) << "batch " << i;
    EXPECT_TRUE(torch::equal(a[i].mask, b[i].mask)) << "batch " << i;
  }
}

LoaderOptions options(int workers, std::int64_t batch_size = 4) {
  LoaderOptions options;
  options.batch_size = batch_size;
  options.seed = 11;
  options.workers = workers;
  return options;
}

TEST(ImageLoader, SameBatchesWhateverTheWorkers) {
  const LabelSet labels = jpegSet(tempDir("determinism"), 22);
  ImageLoader one(labels, pipeline(kSmallSsgrl), options(1));
  LoaderOptions three_options = options(3);
  three_options.prefetch = 3;
  ImageLoader three(labels, pipeline(kSmallSsgrl), three_options);
  EXPECT_EQ(one.batchesPerEpoch(), 6);
  EXPECT_EQ(one.size(), 22);
  for (std::int64_t number : {1, 2}) {
    // Every batch kept until the end: held batches are never overwritten.
    const std::vector<Batch> a = epoch(one, number);
    const std::vector<Batch> b = epoch(three, number);
    expectSameBatches(a, b);
    ASSERT_EQ(a.back().images.sizes(),
              (std::vector<std::int64_t>{2, 3, 36, 36}));
    EXPECT_EQ(a.front().images.dtype(), torch::kFloat32);
  }
  // Each image is its rendering through the pipeline with its own draws.
  const std::vector<Batch> batches = epoch(one, 3);
  const std::vector<std::int64_t> images = order(batches);
  const cv::Mat first = cv::imread(labels.image_paths[images[0]]);
  EXPECT_LE(maxDiff(batches[0].images[0], run(pipeline(kSmallSsgrl), first,
                                              SampleRng(11, 3, images[0]))),
            1e-5f);
}

TEST(ImageLoader, EachEpochHasItsOwnOrder) {
  const LabelSet labels = jpegSet(tempDir("order"), 10);
  ImageLoader loader(labels, pipeline("[resize 8x8]"), options(2));
  const std::vector<std::int64_t> first = order(epoch(loader, 1));
  const std::vector<std::int64_t> second = order(epoch(loader, 2));
  std::vector<std::int64_t> sorted = first;
  std::sort(sorted.begin(), sorted.end());
  std::vector<std::int64_t> all(10);
  std::iota(all.begin(), all.end(), 0);
  EXPECT_EQ(sorted, all);
  EXPECT_NE(first, second);
  EXPECT_EQ(order(epoch(loader, 1)), first);  // (seed, epoch) alone

  LoaderOptions other_seed = options(2);
  other_seed.seed = 12;
  ImageLoader other(labels, pipeline("[resize 8x8]"), other_seed);
  EXPECT_NE(order(epoch(other, 1)), first);

  LoaderOptions in_order = options(2);
  in_order.shuffle = false;
  ImageLoader val(labels, pipeline("[resize 8x8]"), in_order);
  EXPECT_EQ(order(epoch(val, 1)), all);
  EXPECT_EQ(order(epoch(val, 2)), all);
}

TEST(ImageLoader, SkipBatchesResumesMidEpochExactly) {
  const LabelSet labels = jpegSet(tempDir("resume"), 14);
  ImageLoader loader(labels, pipeline(kSmallSsgrl), options(2, 3));
  const std::vector<Batch> full = epoch(loader, 4);
  ASSERT_EQ(full.size(), 5u);
  // A fresh loader, as after a restart, and the same one mid-epoch.
  ImageLoader restarted(labels, pipeline(kSmallSsgrl), options(1, 3));
  const std::vector<Batch> resumed = epoch(restarted, 4, /*skip=*/2);
  expectSameBatches(resumed, {full.begin() + 2, full.end()});
  loader.startEpoch(4, 0);
  Batch batch;
  ASSERT_TRUE(loader.next(batch));
  expectSameBatches(epoch(loader, 4, /*skip=*/4),
                    {full.begin() + 4, full.end()});
  EXPECT_TRUE(epoch(loader, 4, /*skip=*/5).empty());
}

// Data-parallel runs: each rank renders its DistributedSampler shard of the
// same epoch (positions rank, rank + W, ...; padded from the start), with
// the same augmentation draws as one process, and resumes within it.
TEST(ImageLoader, RanksRenderTheirShardOfTheSameEpoch) {
  const LabelSet labels = jpegSet(tempDir("shards"), 11);
  ImageLoader whole(labels, pipeline(kSmallSsgrl), options(2, 11));
  ImageLoader rank0(labels, pipeline(kSmallSsgrl), options(2, 2));
  ImageLoader rank1(labels, pipeline(kSmallSsgrl), options(1, 2));
  rank0.setSampler(dist::DistributedSampler(0, 2));
  rank1.setSampler(dist::DistributedSampler(1, 2));
  EXPECT_EQ(rank1.batchesPerEpoch(), 3);  // 6 samples, the last one padding
  const std::vector<Batch> one_batch = epoch(whole, 2);
  const torch::Tensor all = one_batch[0].images;
  const std::vector<std::int64_t> order_all = order(one_batch);
  const std::vector<Batch> b0 = epoch(rank0, 2), b1 = epoch(rank1, 2);
  const std::vector<std::int64_t> o0 = order(b0), o1 = order(b1);
  ASSERT_EQ(o0.size(), 6u);
  ASSERT_EQ(o1.size(), 6u);
  for (std::size_t p = 0; p < 12; ++p) {
    const auto& mine = p % 2 == 0 ? b0 : b1;
    EXPECT_EQ((p % 2 == 0 ? o0 : o1)[p / 2], order_all[p % 11]) << p;
    EXPECT_TRUE(torch::equal(mine[p / 2 / 2].images[p / 2 % 2],
                             all[static_cast<std::int64_t>(p % 11)]))
        << p;
  }
  expectSameBatches(epoch(rank1, 2, /*skip=*/1), {b1.begin() + 1, b1.end()});
}

// 12 flat images, image i of grey level 20 * i; some unusable.
struct BadSet {
  LabelSet labels;
  std::string dir;
};

BadSet badSet(const std::string& name, const std::set<int>& empty,
              const std::set<int>& truncated, const std::set<int>& missing) {
  BadSet set;
  set.dir = tempDir(name);
  const int count = 12;
  for (int i = 0; i < count; ++i) {
    set.labels.class_names.push_back("c" + std::to_string(i));
    const std::string path = set.dir + "/" + std::to_string(i) + ".png";
    const std::vector<uchar> png =
        encode(".png", cv::Mat(6, 6, CV_8UC3, cv::Scalar::all(20 * i)));
    if (empty.count(i)) {
      writeBytes(path, {});
    } else if (truncated.count(i)) {
      writeBytes(path, std::vector<uchar>(png.begin(), png.end() - 30));
    } else if (!missing.count(i)) {
      writeBytes(path, png);
    }
    set.labels.image_paths.push_back(path);
  }
  set.labels.targets = torch::eye(count);
  set.labels.mask = torch::ones({count, count});
  return set;
}

TEST(ImageLoader, ReplacesBadImagesWarnsOnceAndCounts) {
  const BadSet set = badSet("replace", /*empty=*/{3}, /*truncated=*/{4},
                            /*missing=*/{9});
  std::ostringstream log;
  LoaderOptions in_order = options(2);
  in_order.shuffle = false;
  in_order.max_bad_images = BadImageLimit::parse("30%");
  in_order.log = &log;
  ImageLoader loader(set.labels, pipeline("[resize 2x2]"), in_order);
  EXPECT_EQ(loader.maxBadImages(), 4);  // ceil(0.3 * 12)
  for (std::int64_t number : {1, 2}) {
    const std::vector<Batch> batches = epoch(loader, number);
    ASSERT_EQ(batches.size(), 3u);
    // Unusable images stand in for by the next usable one, labels and all.
    const std::vector<std::int64_t> expected = {0, 1, 2, 5,  5,  5,
                                                6, 7, 8, 10, 10, 11};
    EXPECT_EQ(order(batches), expected);
    for (std::size_t row = 0; row < expected.size(); ++row) {
      const torch::Tensor image = batches[row / 4].images[row % 4];
      EXPECT_NEAR(image.max().item<float>() * 255, 20 * expected[row], 1e-3);
      // Exports name the image actually used (labrun eval --scores).
      const std::int64_t sample =
          batches[row / 4].samples[row % 4].item<std::int64_t>();
      EXPECT_EQ(sample, expected[row]);
      EXPECT_EQ(loader.sampleName(sample),
                set.dir + "/" + std::to_string(expected[row]) + ".png");
    }
  }
  const std::vector<BadImage> bad = loader.badImages();
  ASSERT_EQ(bad.size(), 3u);
  std::map<std::string, std::string> reasons;
  for (const BadImage& image : bad) reasons[image.path] = image.reason;
  EXPECT_EQ(reasons[set.dir + "/3.png"], "empty file");
  EXPECT_EQ(reasons[set.dir + "/4.png"], "truncated PNG (no IEND chunk)");
  EXPECT_EQ(reasons[set.dir + "/9.png"].rfind("cannot open", 0), 0u);
  // One warning per file over both epochs, naming it.
  const std::string text = log.str();
  std::size_t warnings = 0;
  for (std::size_t at = 0; (at = text.find("warning: skipping unusable image",
                                           at)) != std::string::npos;
       ++at) {
    ++warnings;
  }
  EXPECT_EQ(warnings, 3u) << text;
  EXPECT_NE(text.find(set.dir + "/4.png: truncated PNG"), std::string::npos);
}

// Prediction (replace_bad false): each image is its own, so unusable ones
// leave their batch, a batch of only unusable ones is empty, and the epoch
// goes on however many there are.
TEST(ImageLoader, LeavesBadImagesOutWhenNotReplacing) {
  const BadSet set = badSet("leave_out", /*empty=*/{3}, /*truncated=*/{4, 5},
                            /*missing=*/{9, 10, 11});
  std::ostringstream log;
  LoaderOptions in_order = options(2);
  in_order.shuffle = false;
  in_order.replace_bad = false;
  in_order.max_bad_images.count = 12;
  in_order.log = &log;
  ImageLoader loader(set.labels, pipeline("[resize 2x2]"), in_order);
  const std::vector<Batch> batches = epoch(loader, 1);
  ASSERT_EQ(batches.size(), 3u);
  EXPECT_EQ(batches[0].images.size(0), 3);
  EXPECT_EQ(batches[1].images.size(0), 2);
  EXPECT_EQ(batches[2].images.size(0), 1);
  EXPECT_EQ(order(batches), (std::vector<std::int64_t>{0, 1, 2, 6, 7, 8}));
  for (const Batch& batch : batches) {
    EXPECT_EQ(batch.targets.size(0), batch.images.size(0));
    for (std::int64_t row = 0; row < batch.images.size(0); ++row) {
      EXPECT_NEAR(batch.images[row].max().item<float>() * 255,
                  20 * batch.samples[row].item<std::int64_t>(), 1e-3);
    }
  }
  EXPECT_EQ(loader.badImages().size(), 6u);
}

TEST(ImageLoader, FailsAboveMaxBadImages) {
  const BadSet set = badSet("too_many", /*empty=*/{1, 6}, /*truncated=*/{},
                            /*missing=*/{10});
  std::ostringstream log;
  LoaderOptions limited = options(2);
  limited.max_bad_images = BadImageLimit::parse("2");
  limited.log = &log;
  ImageLoader loader(set.labels, pipeline("[resize 2x2]"), limited);
  try {
    epoch(loader, 1);
    FAIL() << "no error";
  } catch (const std::runtime_error& error) {
    const std::string message = error.what();
    EXPECT_EQ(message.rfind("too many unusable images: 3 of 12, more than "
                            "data.max_bad_images 2 allows (2); the last: " +
                                set.dir + "/",
                            0),
              0u)
        << message;
  }
  // The run stays failed, whatever it tries next.
  EXPECT_THROW(epoch(loader, 2), std::runtime_error);
  EXPECT_EQ(loader.badImages().size(), 3u);

  // The default, 1% of 12 images rounded up, tolerates one.
  const BadSet one = badSet("one_bad", {5}, {}, {});
  LoaderOptions defaults = options(1);
  defaults.log = &log;
  ImageLoader tolerant(one.labels, pipeline("[resize 2x2]"), defaults);
  EXPECT_EQ(tolerant.maxBadImages(), 1);
  EXPECT_EQ(epoch(tolerant, 1).size(), 3u);
}

// Read faults (docs/RELIABILITY.md): the N-th image read fails with EIO,
// for every N of an epoch. The loader replaces exactly that image, names the
// error, and leaves no file open.
TEST(ImageLoader, EveryFailedReadIsOneBadImage) {
  namespace io_fault = labrun::util::io_fault;
  const LabelSet labels = jpegSet(tempDir("read_faults"), 8);
  LoaderOptions in_order = options(/*workers=*/1, /*batch_size=*/8);
  in_order.shuffle = false;
  in_order.max_bad_images = BadImageLimit::parse("1");
  std::ostringstream log;
  in_order.log = &log;
  const auto open_files = [] {
    return std::distance(fs::directory_iterator("/proc/self/fd"),
                         fs::directory_iterator());
  };
  io_fault::arm(/*n=*/0, /*error=*/0, /*persistent=*/false);
  ImageLoader counting(labels, pipeline("[resize 4x4]"), in_order);
  const std::vector<Batch> clean = epoch(counting, 1);
  const std::int64_t reads = io_fault::calls();
  ASSERT_EQ(reads, 8);
  const auto files_before = open_files();
  for (std::int64_t n = 1; n <= reads; ++n) {
    SCOPED_TRACE("read " + std::to_string(n));
    ImageLoader loader(labels, pipeline("[resize 4x4]"), in_order);
    io_fault::arm(n, EIO, /*persistent=*/false);
    const std::vector<Batch> batches = epoch(loader, 1);
    io_fault::arm(/*n=*/0, /*error=*/0, /*persistent=*/false);
    ASSERT_EQ(loader.badImages().size(), 1u);
    EXPECT_EQ(loader.badImages()[0].path, labels.image_paths[n - 1]);
    EXPECT_EQ(loader.badImages()[0].reason, "read error: Input/output error");
    // Every other image as without faults; another usable one stands in.
    std::vector<std::int64_t> shown = order(batches);
    ASSERT_EQ(shown.size(), 8u);
    EXPECT_NE(shown[n - 1], n - 1);
    shown[n - 1] = n - 1;
    EXPECT_EQ(shown, order(clean));
  }
  EXPECT_EQ(open_files(), files_before);
}

TEST(BadImageLimit, CountFractionOrPercentage) {
  EXPECT_EQ(BadImageLimit::parse("20").allowed(1000), 20);
  EXPECT_EQ(BadImageLimit::parse("0").allowed(1000), 0);
  EXPECT_EQ(BadImageLimit::parse("0.01").allowed(1000), 10);
  EXPECT_EQ(BadImageLimit::parse("2.5%").allowed(200), 5);
  EXPECT_EQ(BadImageLimit::parse("7%").allowed(100), 7);  // 7.000000000000001
  EXPECT_EQ(BadImageLimit::parse("1%").allowed(50), 1);
  EXPECT_EQ(BadImageLimit::parse("100%").allowed(7), 7);
  for (const char* bad : {"abc", "1.5", "-1", "150%", "%", ""}) {
    try {
      BadImageLimit::parse(bad);
      ADD_FAILURE() << bad;
    } catch (const std::invalid_argument& error) {
      EXPECT_EQ(std::string(error.what()),
                "expected a count (e.g. 20), a fraction below 1 (e.g. 0.01) "
                "or a percentage (e.g. 1%), found '" +
                    std::string(bad) + "'");
    }
  }
}

}  // namespace
}  // namespace labrun::data
