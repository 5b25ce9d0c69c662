// End-to-end tests of the `labrun` binary, run as a user would run it.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "store/RunStore.h"

namespace {
namespace fs = std::filesystem;

const std::string kSource = LABRUN_SOURCE_DIR;
const std::string kSmoke = kSource + "/experiments/smoke.yaml";
// Small enough for a unit test, large enough to learn.
const std::string kFast =
    " data.synthetic.train_size=384 data.synthetic.val_size=128 "
    "train.epochs=2 train.log_every=0";

std::string slurp(const std::string& path) {
  std::ifstream in(path);
  return {std::istreambuf_iterator<char>(in), {}};
}

struct Result {
  int code = -1;
  std::string out, err;
};

class CliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = fs::path(::testing::TempDir()) / "labrun_cli" / info->name();
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }

  // Runs `labrun ARGS` inside the test's folder with its own store.
  Result labrun(const std::string& args) const {
    const std::string out = (dir_ / "stdout").string();
    const std::string err = (dir_ / "stderr").string();
    const std::string command = "cd '" + dir_.string() + "' && '" +
                                LABRUN_BINARY + "' --db '" + db() + "' " +
                                args + " >'" + out + "' 2>'" + err + "'";
    const int status = std::system(command.c_str());
    Result result;
    result.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    result.out = slurp(out);
    result.err = slurp(err);
    return result;
  }

  std::string db() const { return (dir_ / "runs.db").string(); }

  std::string writeSpec(const std::string& name, const std::string& text) const {
    const std::string path = (dir_ / name).string();
    std::ofstream(path) << text;
    return path;
  }

  std::int64_t runCount() const {
    if (!fs::exists(db())) return 0;
    auto store = labrun::store::RunStore::open(db(), /*read_only=*/true);
    return std::stoll(*store->query("SELECT count(*) FROM runs").rows[0][0]);
  }

  // A spec error: exit code 2, exactly one stderr line, and no run recorded.
  void expectSpecError(const std::string& args, const std::string& expected) {
    const Result result = labrun(args);
    EXPECT_EQ(result.code, 2) << result.err;
    EXPECT_NE(result.err.find(expected), std::string::npos) << result.err;
    EXPECT_EQ(std::count(result.err.begin(), result.err.end(), '\n'), 1)
        << result.err;
    EXPECT_EQ(runCount(), 0);
  }

  fs::path dir_;
};

TEST_F(CliTest, HelpOnEverySubcommand) {
  for (const char* command : {"", "run", "runs", "show", "sql", "plugins"}) {
    const Result result = labrun(std::string(command) + " --help");
    EXPECT_EQ(result.code, 0) << command;
    EXPECT_NE(result.out.find("Exit codes: 0 ok, 1 run failed, 2 usage"),
              std::string::npos)
        << command << ": " << result.out;
  }
}

TEST_F(CliTest, UnknownSubcommandIsUsageError) {
  EXPECT_EQ(labrun("frobnicate").code, 2);
  EXPECT_EQ(labrun("run").code, 2);  // SPEC is required
}

TEST_F(CliTest, PluginsListsSmokePluginsWithParameters) {
  const Result result = labrun("plugins");
  ASSERT_EQ(result.code, 0) << result.err;
  for (const char* expected :
       {"backbone smallconv", "head fc", "loss bce", "metric map", "channels",
        "pool", "pos_weight", "voc_interpolated|sklearn"}) {
    EXPECT_NE(result.out.find(expected), std::string::npos) << expected;
  }
  const Result one = labrun("plugins fc");
  EXPECT_EQ(one.code, 0);
  EXPECT_EQ(one.out.find("smallconv"), std::string::npos);
  const Result unknown = labrun("plugins nope");
  EXPECT_EQ(unknown.code, 2);
  EXPECT_NE(unknown.err.find("unknown plugin 'nope'; known: "),
            std::string::npos);
}

TEST_F(CliTest, DryRunPrintsResolvedSpecWithDefaultsAndOverrides) {
  const Result result = labrun("run " + kSmoke + " --dry-run optim.lr=0.5");
  ASSERT_EQ(result.code, 0) << result.err;
  EXPECT_NE(result.out.find("lr: 0.5"), std::string::npos) << result.out;
  EXPECT_NE(result.out.find("weight_decay"), std::string::npos);  // default
  EXPECT_NE(result.out.find("pos_weight"), std::string::npos);    // plugin default
  EXPECT_EQ(result.out.find("extends"), std::string::npos);
  EXPECT_EQ(runCount(), 0);
}

TEST_F(CliTest, MisspelledKeyNamesPlaceAndSuggests) {
  const std::string spec =
      writeSpec("typo.yaml", "extends: " + kSmoke + "\noptim:\n  lrr: 0.1\n");
  expectSpecError("run " + spec,
                  spec + ":3:3: optim.lrr: unknown key; did you mean 'optim.lr'?");
}

TEST_F(CliTest, WrongTypeNamesPlaceExpectedAndFound) {
  const std::string spec =
      writeSpec("type.yaml", "extends: " + kSmoke + "\ntrain:\n  epochs: three\n");
  expectSpecError("run " + spec, spec + ":3:11: train.epochs: expected integer");
}

TEST_F(CliTest, MissingExtendsFileIsNamed) {
  const std::string spec = writeSpec("base.yaml", "extends: nowhere.yaml\n");
  expectSpecError("run " + spec, "nowhere.yaml");
}

TEST_F(CliTest, MissingPluginListsKnownOnes) {
  expectSpecError("run " + kSmoke + " model.head.name=fcc",
                  "unknown head plugin 'fcc'; known: fc");
}

TEST_F(CliTest, BadOverridesAreRejected) {
  expectSpecError("run " + kSmoke + " optim.lr", "override 'optim.lr'");
  expectSpecError("run " + kSmoke + " optim.nope=1", "override 'optim.nope=1'");
}

TEST_F(CliTest, SmokeRunIsRecordedAndQueryable) {
  const Result run = labrun("run " + kSmoke + kFast);
  ASSERT_EQ(run.code, 0) << run.out << run.err;
  ASSERT_EQ(runCount(), 1);

  auto store = labrun::store::RunStore::open(db(), /*read_only=*/true);
  const auto summary = store->query(
      "SELECT name, status, best_map, lr, head FROM run_summary");
  ASSERT_EQ(summary.rows.size(), 1u);
  EXPECT_EQ(*summary.rows[0][0], "smoke");
  EXPECT_EQ(*summary.rows[0][1], "FINISHED");
  // Chance level is the mean label prevalence, about 26% on this set.
  EXPECT_GT(std::stod(*summary.rows[0][2]), 45.0);
  EXPECT_EQ(std::stod(*summary.rows[0][3]), 0.003);
  EXPECT_EQ(*summary.rows[0][4], "fc");
  const auto counts = store->query(
      "SELECT (SELECT count(*) FROM checkpoints), "
      "(SELECT count(*) FROM class_metrics), (SELECT count(*) FROM run_plugins), "
      "(SELECT count(*) FROM metrics WHERE key = 'train/loss')");
  EXPECT_EQ(*counts.rows[0][0], "2");   // one per epoch
  EXPECT_EQ(*counts.rows[0][1], "16");  // 8 classes x 2 epochs
  EXPECT_EQ(*counts.rows[0][2], "4");
  EXPECT_EQ(*counts.rows[0][3], "24");  // 12 steps x 2 epochs

  const Result show = labrun("show smoke");
  EXPECT_EQ(show.code, 0) << show.err;
  for (const char* expected :
       {"FINISHED", "resolved spec:", "optim.lr", "val/mAP", "checkpoints:",
        "epoch-0002.pt", "smallconv"}) {
    EXPECT_NE(show.out.find(expected), std::string::npos) << expected;
  }

  const Result runs = labrun("runs");
  EXPECT_EQ(runs.code, 0);
  EXPECT_NE(runs.out.find("smoke"), std::string::npos);

  const Result json = labrun("sql \"SELECT name, best_map FROM run_summary\" --json");
  EXPECT_EQ(json.code, 0) << json.err;
  EXPECT_NE(json.out.find("\"name\": \"smoke\""), std::string::npos) << json.out;
  const Result csv = labrun("sql \"SELECT name, status FROM runs\" --csv");
  EXPECT_EQ(csv.out, "name,status\r\nsmoke,FINISHED\r\n");

  const Result write = labrun("sql \"DELETE FROM runs\"");
  EXPECT_EQ(write.code, 2);
  EXPECT_EQ(runCount(), 1);
}

TEST_F(CliTest, ReadCommandsWithoutStoreAreUsageErrors) {
  const Result result = labrun("runs");
  EXPECT_EQ(result.code, 2);
  EXPECT_NE(result.err.find("no run store at " + db()), std::string::npos);
}

}  // namespace
