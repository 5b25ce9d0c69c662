// The .npy reader against files written by NumPy itself
// (tests/data/npy/make_npy_fixtures.py), and its errors.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "fixtures/TestTempDir.h"
#include "io/Npy.h"

namespace labrun::io {
namespace {

namespace fs = std::filesystem;

const std::string kData = std::string(LABRUN_TEST_DATA) + "/npy/";

nlohmann::json expected() {
  std::ifstream in(kData + "expected.json");
  return nlohmann::json::parse(in);
}

torch::ScalarType dtypeOf(const std::string& name) {
  static const std::map<std::string, torch::ScalarType> types = {
      {"float32", torch::kFloat}, {"float64", torch::kDouble},
      {"int32", torch::kInt},     {"int64", torch::kLong},
      {"uint8", torch::kByte},    {"bool", torch::kBool}};
  return types.at(name);
}

// Every array NumPy wrote reads back with its shape, dtype and values.
TEST(Npy, ReadsWhatNumPyWrites) {
  const nlohmann::json cases = expected();
  ASSERT_GE(cases.size(), 9u);
  for (const auto& [name, want] : cases.items()) {
    SCOPED_TRACE(name);
    const torch::Tensor got = readNpy(kData + name + ".npy");
    EXPECT_EQ(got.sizes().vec(),
              want["shape"].get<std::vector<std::int64_t>>());
    EXPECT_EQ(got.scalar_type(), dtypeOf(want["dtype"]));
    EXPECT_TRUE(got.is_contiguous());
    std::vector<double> numbers;
    for (const nlohmann::json& value : want["values"]) {
      numbers.push_back(value.is_boolean() ? value.get<bool>()
                                           : value.get<double>());
    }
    const torch::Tensor values = torch::tensor(numbers, torch::kDouble);
    // int64 values beyond 2^53 would not survive the double round trip;
    // the fixture's largest is 2^40 + 1.
    EXPECT_TRUE(torch::equal(got.to(torch::kDouble).reshape({-1}), values))
        << got;
  }
}

TEST(Npy, FortranOrderIsTransposedBack) {
  const torch::Tensor got = readNpy(kData + "f4_le_fortran_3d_v1.npy");
  // C-order arange(24) / 8: element [i, j, k] = (12 i + 4 j + k) / 8.
  EXPECT_FLOAT_EQ(got[1][2][3].item<float>(), 23.0f / 8);
  EXPECT_FLOAT_EQ(got[0][1][2].item<float>(), 6.0f / 8);
  const torch::Tensor ints = readNpy(kData + "i4_be_fortran_v2.npy");
  EXPECT_EQ(ints[1][0].item<std::int32_t>(), 300000);
  EXPECT_EQ(ints[0][1].item<std::int32_t>(), -2);
}

TEST(Npy, ReadsTheSharedCocoFiles) {
  const std::string dir =
      std::string(LABRUN_SOURCE_DIR) + "/configs/data/coco2014/";
  const torch::Tensor glove = readNpy(dir + "glove_300d.npy");
  EXPECT_EQ(glove.sizes(), (std::vector<std::int64_t>{80, 300}));
  EXPECT_EQ(glove.scalar_type(), torch::kFloat);
  const torch::Tensor counts = readNpy(dir + "class_counts.npy");
  EXPECT_EQ(counts.scalar_type(), torch::kLong);
  EXPECT_EQ(counts.sizes(), (std::vector<std::int64_t>{80}));
  // The README's figure: 45,174 train2014 images contain a person.
  EXPECT_EQ(counts.max().item<std::int64_t>(), 45174);
}

class NpyErrorTest : public ::testing::Test {
 protected:
  void SetUp() override { dir_ = fixtures::testTempDir(); }
  void TearDown() override { fs::remove_all(dir_); }

  // Writes `bytes` to a file and returns the reader's error message.
  std::string errorFor(const std::string& bytes) {
    const std::string path = (dir_ / "bad.npy").string();
    std::ofstream(path, std::ios::binary) << bytes;
    try {
      readNpy(path);
    } catch (const std::runtime_error& error) {
      const std::string message = error.what();
      EXPECT_EQ(message.rfind(path + ": ", 0), 0u) << message;
      return message;
    }
    ADD_FAILURE() << "no error";
    return "";
  }
  static std::string header(const std::string& dict, std::size_t data_bytes) {
    std::string bytes = std::string("\x93NUMPY\x01\x00", 8);
    bytes += static_cast<char>(dict.size() & 0xff);
    bytes += static_cast<char>(dict.size() >> 8);
    return bytes + dict + std::string(data_bytes, '\0');
  }

  fs::path dir_;
};

TEST_F(NpyErrorTest, MissingFileNamesIt) {
  try {
    readNpy("/nonexistent/x.npy");
    FAIL();
  } catch (const std::runtime_error& error) {
    EXPECT_STREQ(error.what(), "/nonexistent/x.npy: cannot open for reading");
  }
}

TEST_F(NpyErrorTest, BadMagic) {
  EXPECT_NE(errorFor("word 0.1 0.2\n").find("not a NumPy .npy file"),
            std::string::npos);
}

TEST_F(NpyErrorTest, UnsupportedDtypesNameTheDtype) {
  for (const std::string name : {"c8_unsupported", "f2_unsupported"}) {
    try {
      readNpy(kData + name + ".npy");
      ADD_FAILURE() << name;
    } catch (const std::runtime_error& error) {
      const std::string message = error.what();
      EXPECT_NE(message.find("unsupported dtype '<" + name.substr(0, 2) + "'"),
                std::string::npos)
          << message;
      EXPECT_NE(message.find(name + ".npy: "), std::string::npos) << message;
    }
  }
}

TEST_F(NpyErrorTest, TruncatedAndOversizedData) {
  const std::string dict =
      "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }\n";
  EXPECT_NE(errorFor(header(dict, 20))
                .find("data holds 20 bytes, expected 24 for shape (2, 3)"),
            std::string::npos);
  EXPECT_NE(errorFor(header(dict, 28)).find("data holds 28 bytes"),
            std::string::npos);
  // Shapes too large for a tensor (found by fuzz_npy) are errors, not
  // overflowing arithmetic, also beside a zero dimension; an empty array
  // with a large dimension still has no data.
  for (const std::string shape :
       {"(2, 3666, 36666664, 3666, 366666666666)",
        "(0, 36, 3666, 366666666666664, 3666, 3666666, 6666)"}) {
    EXPECT_NE(errorFor(header("{'descr': '<f4', 'fortran_order': True, "
                              "'shape': " +
                                  shape + ", }\n",
                              8))
                  .find("shape " + shape +
                        " of '<f4' is too large (more than 2^63 elements or "
                        "2^64 bytes)"),
              std::string::npos)
        << shape;
  }
  EXPECT_NE(errorFor(header("{'descr': '<f4', 'fortran_order': False, "
                            "'shape': (366666666666, 0), }\n",
                            8))
                .find("data holds 8 bytes, expected 0 for shape"),
            std::string::npos);
  // The same header with exactly 24 bytes of data reads.
  const std::string path = ::testing::TempDir() + "/good.npy";
  std::ofstream(path, std::ios::binary) << header(dict, 24);
  EXPECT_EQ(readNpy(path).sizes(), (std::vector<std::int64_t>{2, 3}));
}

TEST_F(NpyErrorTest, MalformedHeaders) {
  EXPECT_NE(errorFor(header("{'descr': '<f4', 'shape': (2,), }", 8))
                .find("lacks one of"),
            std::string::npos);
  EXPECT_NE(errorFor(header("{'descr': '<f4', 'fortran_order': Maybe, "
                            "'shape': (2,), }",
                            8))
                .find("expected True or False"),
            std::string::npos);
  EXPECT_NE(errorFor(header("{'descr': [('a', '<f4')], 'fortran_order': "
                            "False, 'shape': (2,), }",
                            8))
                .find("structured dtypes are not supported"),
            std::string::npos);
  EXPECT_NE(errorFor(std::string("\x93NUMPY\x04\x00\x10\x00", 10))
                .find("unsupported .npy format version 4"),
            std::string::npos);
}

}  // namespace
}  // namespace labrun::io
