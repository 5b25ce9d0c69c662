#include <gtest/gtest.h>
#include <torch/torch.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>

#include "fixtures/ErrorOf.h"
#include "fixtures/ReferenceTensors.h"
#include "io/TorchCheckpoint.h"
#include "io/Unpickler.h"

namespace labrun::io {
namespace {

using fixtures::errorOf;
namespace fs = std::filesystem;
using Kind = PickleValue::Kind;

const std::string kDir = std::string(LABRUN_MODEL_FIXTURES) + "/checkpoints/";

// Writes `bytes` to a file in the test's temp dir; returns its path.
std::string writeTemp(const std::string& name, const std::string& bytes) {
  const std::string path = ::testing::TempDir() + "/checkpoint_test_" + name;
  std::ofstream(path, std::ios::binary) << bytes;
  return path;
}

std::string readAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}

void expectSameTensors(const StateDict& loaded,
                       const std::map<std::string, torch::Tensor>& expected,
                       const std::string& prefix = "") {
  ASSERT_EQ(loaded.size(), expected.size());
  for (const auto& [key, want] : expected) {
    SCOPED_TRACE(key);
    const auto it = loaded.find(prefix + key);
    ASSERT_NE(it, loaded.end());
    EXPECT_EQ(it->second.dtype(), want.dtype());
    EXPECT_EQ(it->second.sizes(), want.sizes());
    EXPECT_TRUE(torch::equal(it->second, want));
  }
}

// The bytes of a string literal, NULs included.
template <std::size_t N>
std::string bytesOf(const char (&literal)[N]) {
  return std::string(literal, N - 1);
}

PickleRef unpickle(const std::string& bytes) {
  std::istringstream in(bytes);
  const Unpickler::Globals none;
  return Unpickler(in, none).load();
}

TEST(Unpickler, ReadsProtocol4Pickle) {
  // pickle.dumps({'a': [1, -2, 3.5, 2**70, -300],
  //               'b': (True, None, b'\x00\xff'), 'c': 'é', 'd': <'a'>},
  //              protocol=4)
  const std::string bytes = bytesOf(
      "\x80\x04\x95\x49\x00\x00\x00\x00\x00\x00\x00\x7d\x94\x28\x8c\x01\x61"
      "\x94\x5d\x94\x28\x4b\x01\x4a\xfe\xff\xff\xff\x47\x40\x0c\x00\x00\x00"
      "\x00\x00\x00\x8a\x09\x00\x00\x00\x00\x00\x00\x00\x00\x40\x4a\xd4\xfe"
      "\xff\xff\x65\x8c\x01\x62\x94\x88\x4e\x43\x02\x00\xff\x94\x87\x94\x8c"
      "\x01\x63\x94\x8c\x02\xc3\xa9\x94\x8c\x01\x64\x94\x68\x02\x75\x2e");
  const PickleRef root = unpickle(bytes);
  ASSERT_EQ(root->kind, Kind::kDict);
  const PickleRef a = root->get("a");
  ASSERT_EQ(a->kind, Kind::kList);
  ASSERT_EQ(a->items.size(), 5u);
  EXPECT_EQ(a->items[0]->integer, 1);
  EXPECT_EQ(a->items[1]->integer, -2);
  EXPECT_EQ(a->items[2]->number, 3.5);
  EXPECT_EQ(a->items[3]->kind, Kind::kBigInt);
  EXPECT_EQ(a->items[3]->text, bytesOf("\0\0\0\0\0\0\0\0\x40"));
  EXPECT_EQ(a->items[4]->integer, -300);
  const PickleRef b = root->get("b");
  ASSERT_EQ(b->kind, Kind::kTuple);
  EXPECT_TRUE(b->items[0]->boolean);
  EXPECT_EQ(b->items[1]->kind, Kind::kNone);
  EXPECT_EQ(b->items[2]->kind, Kind::kBytes);
  EXPECT_EQ(b->items[2]->text, bytesOf("\0\xff"));
  EXPECT_EQ(root->get("c")->text, "\xc3\xa9");
  // The memo shares the list, as Python does.
  EXPECT_EQ(root->get("d").get(), a.get());
}

TEST(Unpickler, SignExtendsLong1) {
  // pickle.dumps(-2**40, protocol=2)
  EXPECT_EQ(unpickle(bytesOf("\x80\x02\x8a\x06\0\0\0\0\0\xff."))->integer,
            -(std::int64_t{1} << 40));
}

TEST(Unpickler, RefusesGlobalsOutsideTheAllowList) {
  // pickle.dumps(os.system) called with 'ls' by REDUCE.
  const std::string evil =
      bytesOf("\x80\x02\x63os\nsystem\nX\x02\0\0\0ls\x85R.");
  EXPECT_EQ(errorOf([&] { unpickle(evil); }),
            "byte 2: unsupported global 'os.system' (only tensors and plain "
            "data are loaded; no code is run)");
}

TEST(Unpickler, ReportsTruncationAndUnderflow) {
  EXPECT_EQ(errorOf([] { unpickle(bytesOf("\x80\x02}q\0(X\x05\0\0\0ab")); }),
            "byte 6: truncated pickle (file ends before STOP)");
  EXPECT_EQ(errorOf([] { unpickle("\x80\x02s."); }),
            "byte 2: malformed pickle (stack underflow)");
}

class CheckpointFormats : public ::testing::TestWithParam<std::string> {};

TEST_P(CheckpointFormats, EveryTensorMatchesPython) {
  expectSameTensors(loadStateDict(kDir + GetParam()),
                    fixtures::readReferenceTensors(kDir + "plain"));
}

TEST_P(CheckpointFormats, ViewsShareTheirStorage) {
  StateDict state = loadStateDict(kDir + GetParam());
  const torch::Tensor& base = state.at("view.base");
  const torch::Tensor& transposed = state.at("view.transposed");
  const torch::Tensor& slice = state.at("view.slice");
  EXPECT_EQ(state.at("tied.a").data_ptr(), state.at("tied.b").data_ptr());
  EXPECT_EQ(transposed.data_ptr(), base.data_ptr());
  EXPECT_EQ(transposed.strides(), (std::vector<std::int64_t>{1, 6}));
  EXPECT_EQ(slice.data_ptr<float>(), base.data_ptr<float>() + 8);
  EXPECT_EQ(state.at("view.expanded").strides(),
            (std::vector<std::int64_t>{1, 0}));
  // Memory is shared, not copied: a write through one view shows in all.
  base[1][2] = 42.0f;
  EXPECT_EQ(transposed[2][1].item<float>(), 42.0f);
  EXPECT_EQ(slice[0][0].item<float>(), 42.0f);
}

INSTANTIATE_TEST_SUITE_P(Files, CheckpointFormats,
                         ::testing::Values("plain_zip.pt", "plain_legacy.pt",
                                           "plain_proto4.pt"));

class TrainingCheckpoints : public ::testing::TestWithParam<std::string> {};

TEST_P(TrainingCheckpoints, UnwrapsStateDictAndDataParallelPrefix) {
  expectSameTensors(loadStateDict(kDir + GetParam()),
                    fixtures::readReferenceTensors(kDir + "small"));
  const PickleRef root = loadTorchFile(kDir + GetParam());
  EXPECT_EQ(root->get("epoch")->integer, 7);
  EXPECT_EQ(root->get("best_mAP")->kind, Kind::kFloat);
  EXPECT_EQ(root->get("best_mAP")->number, 81.25);
  const PickleRef group = root->get("optimizer")->get("param_groups")->items[0];
  EXPECT_EQ(group->get("lr")->number, 0.1);
  EXPECT_EQ(group->get("betas")->items[1]->number, 0.999);
}

INSTANTIATE_TEST_SUITE_P(Files, TrainingCheckpoints,
                         ::testing::Values("nested_zip.pt",
                                           "nested_legacy.pt"));

TEST(Checkpoint, UnwrapsModelKey) {
  expectSameTensors(loadStateDict(kDir + "model_key.pt"),
                    fixtures::readReferenceTensors(kDir + "small"));
}

TEST(Checkpoint, ReadsPython2LegacyFileLikeReleasedSsgrl) {
  expectSameTensors(loadStateDict(kDir + "py2_legacy.pt"),
                    fixtures::readReferenceTensors(kDir + "small"),
                    /*prefix=*/"resnet_101.");
  const PickleRef root = loadTorchFile(kDir + "py2_legacy.pt");
  EXPECT_EQ(root->get("epoch")->integer, 20);
  EXPECT_EQ(root->get("best_mAP")->number, 0.8525);
}

TEST(Checkpoint, RefusesWhatIsNotACheckpoint) {
  const std::string text = writeTemp("notes.pt", "just some notes\n");
  EXPECT_EQ(errorOf([&] { loadStateDict(text); }),
            text +
                ": not a PyTorch checkpoint (expected a zip archive or a "
                "legacy torch.save file)");
  const std::string empty = writeTemp("empty.pt", "");
  EXPECT_EQ(errorOf([&] { loadStateDict(empty); }),
            empty + ": empty file, not a PyTorch checkpoint");
  const std::string missing =
      ::testing::TempDir() + "/checkpoint_test_missing.pt";
  EXPECT_EQ(errorOf([&] { loadStateDict(missing); }),
            missing + ": cannot open the file");
  // A plain pickle is not a legacy checkpoint either.
  const std::string pickle = writeTemp("pickle.pt", "\x80\x02K\x07.");
  EXPECT_EQ(errorOf([&] { loadStateDict(pickle); }),
            pickle +
                ": not a PyTorch checkpoint (a pickle without "
                "torch.save's magic number)");
  // Nor is a zip archive of something else.
  const std::string zip = writeTemp("other.zip", "PK\x03\x04 not really");
  EXPECT_NE(errorOf([&] {
              loadStateDict(zip);
            }).find(zip + ": unreadable zip archive"),
            std::string::npos);
}

TEST(Checkpoint, RefusesTruncatedFiles) {
  for (const std::string name : {"plain_legacy.pt", "plain_zip.pt"}) {
    const std::string bytes = readAll(kDir + name);
    for (const std::size_t size :
         {std::size_t{64}, bytes.size() / 2, bytes.size() - 1}) {
      SCOPED_TRACE(name + " cut at " + std::to_string(size));
      const std::string cut = writeTemp("cut_" + name, bytes.substr(0, size));
      const std::string error = errorOf([&] { loadStateDict(cut); });
      EXPECT_EQ(error.rfind(cut + ": ", 0), 0u) << error;
      const bool zip = name == "plain_zip.pt";
      EXPECT_NE(error.find(zip ? "unreadable zip archive" : "truncated"),
                std::string::npos)
          << error;
    }
  }
}

TEST(Checkpoint, NamesUnsupportedGlobalsAndOpcodes) {
  const std::string module = kDir + "module.pt";
  EXPECT_EQ(errorOf([&] { loadStateDict(module); }),
            module +
                ": data.pkl byte 2: unsupported global "
                "'torch.nn.modules.linear.Linear' (only tensors and "
                "plain data are loaded; no code is run)");
  const std::string set = kDir + "set_proto4.pt";
  const std::string error = errorOf([&] { loadStateDict(set); });
  EXPECT_EQ(error.rfind(set + ": data.pkl byte ", 0), 0u) << error;
  EXPECT_NE(error.find("unsupported pickle opcode EMPTY_SET (0x8f)"),
            std::string::npos)
      << error;
}

TEST(Checkpoint, ReportsMissingTensors) {
  const std::string path = kDir + "no_tensors.pt";
  EXPECT_EQ(errorOf([&] { loadStateDict(path); }),
            path + ": no tensors found (keys: epoch, name)");
}

}  // namespace
}  // namespace labrun::io
