// End-to-end tests of the `labrun` binary, run as a user would run it.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <nlohmann/json.hpp>
#include <random>
#include <set>
#include <sstream>
#include <thread>

#include "spec/Node.h"
#include "spec/SpecLoader.h"
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

// The store after any kill: intact, and
// no metric row twice.
void expectStoreConsistent(const std::string& db) {
  auto store = labrun::store::RunStore::open(db, /*read_only=*/true);
  EXPECT_EQ(*store->query("PRAGMA integrity_check").rows.at(0)[0], "ok");
  EXPECT_EQ(*store
                 ->query("SELECT count(*) FROM (SELECT 1 FROM metrics GROUP "
                         "BY run, key, step HAVING count(*) > 1)")
                 .rows.at(0)[0],
            "0");
}

struct Result {
  int code = -1;
  std::string out, err;
};

class CliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    // Per process: test_cli of other checkouts may run at the same time.
    dir_ = fs::path(::testing::TempDir()) /
           ("labrun_cli-" + std::to_string(::getpid())) / info->name();
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  // A failed test's folder stays for a look.
  void TearDown() override {
    if (!HasFailure()) fs::remove_all(dir_.parent_path());
  }

  // Runs `labrun ARGS` inside the test's folder with its own store.
  Result labrun(const std::string& args) const {
    return shell(labrunCommand(args));
  }

  // The shell command of `labrun ARGS` on the test's store.
  std::string labrunCommand(const std::string& args) const {
    return "'" + std::string(LABRUN_BINARY) + "' --db '" + db() + "' " + args;
  }

  // Runs the shell command `command` inside the test's folder.
  Result shell(const std::string& command) const {
    const std::string out = (dir_ / "stdout").string();
    const std::string err = (dir_ / "stderr").string();
    const std::string line = "cd '" + dir_.string() + "' && " + command +
                             " >'" + out + "' 2>'" + err + "'";
    const int status = std::system(line.c_str());
    Result result;
    result.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    result.out = slurp(out);
    result.err = slurp(err);
    return result;
  }

  std::string db() const { return (dir_ / "runs.db").string(); }

  // Runs `labrun ARGS` with the kill shim (KillAtIo.cpp) sending it
  // `signals` ("INT", "TERM", "KILL", or several: "INT+INT") once its
  // checkpoint of `step` is in place: the same point on any machine,
  // however fast or loaded.
  Result labrunSignalled(const std::string& signals, int step,
                         const std::string& args) const {
    char checkpoint[32];
    std::snprintf(checkpoint, sizeof(checkpoint), "step-%08d.pt", step);
    return shell(std::string("LD_PRELOAD='") + LABRUN_KILL_SHIM +
                 "' LABRUN_SIGNAL_AFTER_RENAME='" + signals + ":" + checkpoint +
                 "' " + labrunCommand(args));
  }

  // Runs `labrun ARGS` and has it killed (SIGKILL) once its checkpoint of
  // `step` is in place: the file is written, its row not yet, so the newest
  // recorded checkpoint is the one before and the file is left unrecorded.
  void killAfterCheckpoint(const std::string& args, int step) const {
    const Result killed = labrunSignalled("KILL", step, args);
    ASSERT_EQ(killed.code, 128 + SIGKILL) << killed.out << killed.err;
  }

  // The named run's rows of `key` as "step=value" lines, in step order.
  std::vector<std::string> series(const std::string& name,
                                  const std::string& key) const {
    auto store = labrun::store::RunStore::open(db(), /*read_only=*/true);
    const auto table = store->query(
        "SELECT m.step || '=' || printf('%.17g', m.value) FROM metrics m JOIN "
        "runs r ON r.uuid = m.run WHERE r.name = ?1 AND m.key = ?2 ORDER BY "
        "m.step",
        {name, key});
    std::vector<std::string> lines;
    for (const auto& row : table.rows) lines.push_back(*row[0]);
    return lines;
  }

  // Run `a` logged what run `b` did, value for value.
  void expectSameMetrics(const std::string& a, const std::string& b) const {
    EXPECT_EQ(series(a, "train/loss"), series(b, "train/loss")) << a;
    EXPECT_EQ(series(a, "val/mAP"), series(b, "val/mAP")) << a;
  }

  std::string writeSpec(const std::string& name,
                        const std::string& text) const {
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
  for (const char* command :
       {"", "run", "resume", "eval", "prepare", "prepare fashion-mosaic",
        "runs", "show", "sql", "plugins", "compare", "sweep", "report",
        "spec-doc"}) {
    const Result result = labrun(std::string(command) + " --help");
    EXPECT_EQ(result.code, 0) << command;
    EXPECT_NE(
        result.out.find("Exit codes: 0 ok, 1 run failed or stopped, 2 usage"),
        std::string::npos)
        << command << ": " << result.out;
  }
}

// `prepare` runs in the front end, which hands `prepare fashion-mosaic` (it
// needs OpenCV) to labrun-torch: the help is labrun-torch's word for word,
// and the set is built, or its bad size refused, as labrun-torch does.
TEST_F(CliTest, PrepareInTheFrontEndIsLabrunTorchs) {
  const std::string torch =
      "'" + (fs::path(LABRUN_BINARY).parent_path() / "labrun-torch").string() +
      "' ";
  for (const char* command : {"prepare", "prepare fashion-mosaic"}) {
    const Result front = labrun(std::string(command) + " --help");
    EXPECT_EQ(front.out, shell(torch + command + " --help").out) << command;
    EXPECT_EQ(front.code, 0) << command;
  }
  const std::string out = (dir_ / "mosaic").string();
  const Result built = labrun("prepare fashion-mosaic --out '" + out +
                              "' --train 3 --val 2 --size 64");
  EXPECT_EQ(built.code, 0) << built.err;
  EXPECT_EQ(built.out.rfind("fashion-mosaic: 3 train images in " + out, 0), 0u)
      << built.out;
  EXPECT_TRUE(fs::exists(fs::path(out) / "annotations/instances_val.json"));
  const Result bad = labrun("prepare fashion-mosaic --out '" + out +
                            "-small' --train 3 --val 2 --size 10");
  EXPECT_EQ(bad.code, 2) << bad.err;
  EXPECT_EQ(bad.err, shell(torch + "prepare fashion-mosaic --out '" + out +
                           "-small' --train 3 --val 2 --size 10")
                         .err);
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
  // Columns stay aligned past the short widths: resnet's long names
  // ("weights_prefix") and type ("boolean or list of strings"), map's
  // 16-character default ("voc_interpolated").
  for (const char* plugin : {"resnet", "map"}) {
    const Result listed = labrun(std::string("plugins ") + plugin);
    ASSERT_EQ(listed.code, 0) << listed.err;
    std::set<std::size_t> type_columns, default_columns, doc_columns;
    std::istringstream lines(listed.out);
    std::string line;
    while (std::getline(lines, line)) {
      if (line.rfind("  ", 0) != 0 || line.rfind("  file: ", 0) == 0) continue;
      const std::size_t name_end = line.find(' ', 2);
      type_columns.insert(line.find_first_not_of(' ', name_end));
      const std::size_t default_at = line.find(" default ");
      default_columns.insert(default_at);
      const std::size_t value_end = line.find(' ', default_at + 9);
      doc_columns.insert(line.find_first_not_of(' ', value_end));
    }
    EXPECT_EQ(type_columns.size(), 1u) << listed.out;
    EXPECT_EQ(default_columns.size(), 1u) << listed.out;
    EXPECT_EQ(doc_columns.size(), 1u) << listed.out;
  }
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
  EXPECT_NE(result.out.find("pos_weight"),
            std::string::npos);  // plugin default
  EXPECT_EQ(result.out.find("extends"), std::string::npos);
  EXPECT_EQ(runCount(), 0);
}

// Whether two spec values are the same: numbers by value, other scalars by
// text, lists item by item.
bool sameValue(const labrun::spec::Node& a, const labrun::spec::Node& b) {
  using labrun::spec::Node;
  if (a.isList() && b.isList()) {
    return a.items().size() == b.items().size() &&
           std::equal(a.items().begin(), a.items().end(), b.items().begin(),
                      sameValue);
  }
  if (!a.isScalar() || !b.isScalar()) return false;
  const auto number = [](const Node& node) {
    return node.scalarType() == Node::ScalarType::kInt ||
           node.scalarType() == Node::ScalarType::kFloat;
  };
  if (number(a) && number(b)) return a.asDouble() == b.asDouble();
  return a.text() == b.text();
}

// Key and value (YAML text) that a resolved spec must have.
using Expected = std::vector<std::pair<std::string, std::string>>;

// docs/REPRODUCE.md, with a Markdown table cell's \| written |.
std::string reproduceDoc() {
  std::string doc = slurp(kSource + "/docs/REPRODUCE.md");
  for (std::size_t at; (at = doc.find("\\|")) != std::string::npos;) {
    doc.erase(at, 1);
  }
  return doc;
}

// A `--dry-run` printed spec `name` with every key: value of `groups`, each
// also named in `doc` as `key: value`.
void expectRecipe(const Result& result, const std::string& name,
                  const std::vector<const Expected*>& groups,
                  const std::string& doc) {
  ASSERT_EQ(result.code, 0) << result.err;
  const labrun::spec::Node spec =
      labrun::spec::parseYamlText(result.out, labrun::spec::Origin{});
  EXPECT_EQ(spec.at("name").text(), name);
  for (const Expected* group : groups) {
    for (const auto& [key, value] : *group) {
      const labrun::spec::Node expected =
          labrun::spec::parseYamlText(value, labrun::spec::Origin{});
      EXPECT_TRUE(sameValue(spec.at(key), expected))
          << key << ": " << labrun::spec::toFlowYaml(spec.at(key))
          << ", expected " << value;
      EXPECT_NE(doc.find("`" + key + ": " + value + "`"), std::string::npos)
          << "docs/REPRODUCE.md does not name `" << key << ": " << value << "`";
    }
  }
}

// The released SSGRL training, transcribed from HCPLab-SYSU/SSGRL (main.py,
// main_coco.sh, main_voc07.sh, utils/transforms.py, datasets/*.py; the lines
// are cited in docs/REPRODUCE.md): every paper spec must resolve to it, and
// REPRODUCE.md's table must name each value.
TEST_F(CliTest, RecipeSpecsResolveToTheReleasedTraining) {
  const Expected common = {
      {"model.backbone.name", "resnet"},
      {"model.backbone.depth", "101"},
      {"model.backbone.freeze", "[conv1, bn1, layer1, layer2, layer3]"},
      {"model.backbone.frozen_bn", "[bn1, layer1, layer2, layer3]"},
      {"data.transforms.train",
       "[resize 640x640, random_crop 640|576|512|384|320, resize 576x576, "
       "normalize]"},
      {"data.transforms.val", "[resize 640x640, center_crop 576, normalize]"},
      {"data.batch_size", "4"},
      {"optim.name", "adam"},
      {"optim.lr", "0.00001"},
      {"optim.weight_decay", "0.0"},
      {"train.epochs", "200"},
      {"eval.every_epochs", "1"},
      {"checkpoint.best_by", "val/mAP"},
      {"checkpoint.best_mode", "max"},
      {"loss.name", "bce"},
  };
  const Expected released = {{"schedule.name", "constant"}};
  const Expected paper = {{"schedule.name", "plateau"},
                          {"schedule.metric", "val/mAP"},
                          {"schedule.mode", "max"},
                          {"schedule.factor", "0.1"},
                          {"schedule.patience", "2"}};
  const Expected ssgrl = {{"model.head.name", "ssgrl"},
                          {"model.head.time_steps", "3"},
                          {"model.backbone.extra_pool", "2"}};
  const Expected baseline = {{"model.head.name", "fc"},
                             {"model.head.pool", "avg"},
                             {"model.backbone.extra_pool", "0"}};
  const Expected coco = {{"data.format", "coco"},
                         {"data.drop_unannotated", "false"}};
  const Expected voc = {{"data.format", "voc"}, {"data.difficult", "negative"}};

  const std::string doc = reproduceDoc();
  for (const char* set : {"coco2014", "voc2007"}) {
    for (const char* head : {"baseline", "ssgrl"}) {
      for (const char* variant : {"", "_paper"}) {
        const std::string name =
            std::string(set) + "_" + head + "_r101" + variant;
        SCOPED_TRACE(name);
        expectRecipe(labrun("run " + kSource + "/experiments/" + name +
                            ".yaml --dry-run"),
                     name,
                     {&common, *variant ? &paper : &released,
                      std::string(head) == "ssgrl" ? &ssgrl : &baseline,
                      std::string(set) == "coco2014" ? &coco : &voc},
                     doc);
      }
    }
  }
}

// The released ML-GCN and CSRA trainings (Megvii-Nanjing/ML-GCN
// demo_coco_gcn.py, engine.py; Kevinz-code/CSRA main.py,
// pipeline/resnet_dataset.py; cited in docs/REPRODUCE.md section 7): their
// COCO specs resolve to them, and REPRODUCE.md's tables name each value.
TEST_F(CliTest, MlGcnAndCsraSpecsResolveToTheirReleasedTraining) {
  const Expected common = {{"model.backbone.name", "resnet"},
                           {"model.backbone.depth", "101"},
                           {"data.batch_size", "16"},
                           {"data.drop_unannotated", "true"},
                           {"optim.name", "sgd"},
                           {"optim.momentum", "0.9"},
                           {"optim.weight_decay", "0.0001"},
                           {"checkpoint.best_by", "val/mAP"},
                           {"loss.name", "bce"}};
  const Expected mlgcn = {
      {"model.head.name", "mlgcn"},
      {"model.head.adjacency_threshold", "0.4"},
      {"model.head.adjacency_reweight", "0.25"},
      {"model.head.compat", "released"},
      {"model.head.embeddings", "../configs/data/coco2014/glove_300d.npy"},
      {"data.transforms.train",
       "[resize 448x448, random_crop 448|392|336|296|224, resize 448x448, "
       "hflip, normalize]"},
      {"data.transforms.val", "[resize 448x448, normalize]"},
      {"optim.lr", "0.1"},
      {"optim.lr_mult", "[backbone=0.1]"},
      {"optim.clip_grad_norm", "10.0"},
      {"schedule.name", "constant"},
      {"train.epochs", "20"}};
  const Expected csra = {
      {"model.head.name", "csra"},
      {"model.head.num_heads", "4"},
      {"model.head.lam", "0.5"},
      {"data.classes", "''"},
      {"data.transforms.train",
       "[hflip, resize 448x448, random_crop 448|432|416|400|384|376, resize "
       "448x448, normalize 0 0 0 1 1 1]"},
      {"data.transforms.val", "[resize 448x448, normalize 0 0 0 1 1 1]"},
      {"optim.lr", "0.01"},
      {"optim.lr_mult", "[head=10]"},
      {"schedule.name", "step"},
      {"schedule.step_size", "5"},
      {"schedule.gamma", "0.1"},
      {"schedule.warmup_steps", "10262"},
      {"schedule.warmup_start", "0.0"},
      {"train.epochs", "30"},
      {"eval.every_epochs", "1"}};
  const std::string doc = reproduceDoc();
  // The released-checkpoint specs evaluate under the same recipe.
  for (const auto& [name, head] :
       {std::pair{"coco2014_mlgcn_r101", &mlgcn},
        std::pair{"coco2014_mlgcn_released", &mlgcn},
        std::pair{"coco2014_csra_r101", &csra},
        std::pair{"coco2014_csra_released", &csra}}) {
    SCOPED_TRACE(name);
    expectRecipe(
        labrun("run " + kSource + "/experiments/" + name + ".yaml --dry-run"),
        name, {&common, head}, doc);
  }
}

// The spec that scores the released SSGRL checkpoint resolves against the
// real plugins (the checkpoint itself is not here).
TEST_F(CliTest, ReleasedCheckpointSpecPassesDryRun) {
  const Result result = labrun("run " + kSource +
                               "/experiments/coco2014_ssgrl_released.yaml "
                               "--dry-run");
  ASSERT_EQ(result.code, 0) << result.err;
  EXPECT_NE(result.out.find("depth: 101"), std::string::npos);
  EXPECT_NE(result.out.find("compat: released"), std::string::npos);
}

// The Query2Label recipe (SlongLiu/query2labels' README command and
// main_mlc.py; REPRODUCE.md section 8): both specs resolve to it against the
// real plugins, and the table names every value.
TEST_F(CliTest, Query2LabelSpecsResolveToTheReleasedTraining) {
  const Expected recipe = {
      {"model.backbone.name", "resnet"},
      {"model.backbone.depth", "101"},
      {"model.backbone.frozen_bn", "true"},
      {"model.backbone.freeze", "[conv1, bn1, layer1]"},
      {"model.head.name", "q2l"},
      {"data.transforms.train", "[resize 448x448, normalize]"},
      {"data.transforms.val", "[resize 448x448, normalize]"},
      {"data.batch_size", "64"},
      {"data.classes", "''"},
      {"data.drop_unannotated", "false"},
      {"optim.name", "adamw"},
      {"optim.lr", "0.0001"},
      {"optim.weight_decay", "0.01"},
      {"optim.ema", "0.9997"},
      {"schedule.name", "onecycle"},
      {"schedule.pct_start", "0.2"},
      {"train.epochs", "80"},
      {"train.early_stop.metric", "val_ema/mAP"},
      {"train.early_stop.patience", "9"},
      {"checkpoint.best_by", "val_ema/mAP"},
      {"loss.name", "asl"},
      {"loss.gamma_neg", "2.0"},
      {"loss.gamma_pos", "0.0"},
      {"loss.clip", "0.05"},
      {"loss.eps", "0.00001"},
      {"loss.focusing_grad", "false"},
      {"loss.reduction", "sum"},
  };
  const std::string doc = reproduceDoc();
  for (const std::string name :
       {"coco2014_q2l_r101", "coco2014_q2l_released"}) {
    SCOPED_TRACE(name);
    const Result result =
        labrun("run " + kSource + "/experiments/" + name + ".yaml --dry-run");
    expectRecipe(result, name, {&recipe}, doc);
    // The head's defaults are the released COCO model's.
    const labrun::spec::Node spec =
        labrun::spec::parseYamlText(result.out, labrun::spec::Origin{});
    EXPECT_EQ(spec.at("model.head.hidden_dim").text(), "2048");
    EXPECT_EQ(spec.at("model.head.dim_feedforward").text(), "8192");
  }
}

TEST_F(CliTest, MisspelledKeyNamesPlaceAndSuggests) {
  const std::string spec =
      writeSpec("typo.yaml", "extends: " + kSmoke + "\noptim:\n  lrr: 0.1\n");
  expectSpecError(
      "run " + spec,
      spec + ":3:3: optim.lrr: unknown key; did you mean 'optim.lr'?");
}

TEST_F(CliTest, WrongTypeNamesPlaceExpectedAndFound) {
  const std::string spec = writeSpec(
      "type.yaml", "extends: " + kSmoke + "\ntrain:\n  epochs: three\n");
  expectSpecError("run " + spec,
                  spec + ":3:11: train.epochs: expected integer");
}

TEST_F(CliTest, MissingExtendsFileIsNamed) {
  const std::string spec = writeSpec("base.yaml", "extends: nowhere.yaml\n");
  expectSpecError("run " + spec, "nowhere.yaml");
}

TEST_F(CliTest, MissingPluginListsKnownOnes) {
  expectSpecError("run " + kSmoke + " model.head.name=fcc",
                  "unknown head plugin 'fcc'; known: csra, fc, mlgcn");
}

// `a.b=v` sets a key the schema declares even when the spec lacks it; a
// misspelt one gets the schema's own error, with the nearest known key,
// the core's and a plugin's alike.
TEST_F(CliTest, BadOverridesAreRejected) {
  expectSpecError("run " + kSmoke + " optim.lr", "override 'optim.lr'");
  expectSpecError("run " + kSmoke + " optim.lrr=1",
                  "labrun: error: override 'optim.lrr=1': optim.lrr: unknown "
                  "key; did you mean 'optim.lr'?\n");
  expectSpecError("run " + kSmoke + " model.head.time_steps=2",
                  "labrun: error: override 'model.head.time_steps=2': "
                  "model.head.time_steps: unknown parameter of head plugin "
                  "'fc'; known: pool, dropout, weights, weights_prefix\n");
  const Result declared =
      labrun("run " + kSmoke + " train.precision=bf16 --dry-run");
  ASSERT_EQ(declared.code, 0) << declared.err;
  EXPECT_NE(declared.out.find("  precision: bf16\n"), std::string::npos)
      << declared.out;
}

// A run's peak RSS is its own, not that of the process that started it
// (a sweep, here this test holding 768 MiB): getrusage's peak survives
// execve (1,214 MiB recorded under a 600 MiB parent before).
TEST_F(CliTest, PeakRssIsTheRunsOwnNotItsStarters) {
  std::vector<char> ballast(std::size_t{768} << 20);
  std::memset(ballast.data(), 1, ballast.size());  // resident
  const Result run =
      labrun("run " + kSmoke +
             " data.synthetic.train_size=64 data.synthetic.val_size=32 "
             "train.epochs=1 train.log_every=0");
  ASSERT_EQ(run.code, 0) << run.out << run.err;
  EXPECT_EQ(ballast[ballast.size() / 2], 1);
  auto store = labrun::store::RunStore::open(db(), /*read_only=*/true);
  const double peak = std::stod(*store
                                     ->query("SELECT max(value) FROM metrics "
                                             "WHERE key = 'train/peak_rss_mib'")
                                     .rows[0][0]);
  EXPECT_GT(peak, 20.0);
  EXPECT_LT(peak, 600.0);
}

TEST_F(CliTest, SmokeRunIsRecordedAndQueryable) {
  const Result run = labrun("run " + kSmoke + kFast);
  ASSERT_EQ(run.code, 0) << run.out << run.err;
  ASSERT_EQ(runCount(), 1);

  auto store = labrun::store::RunStore::open(db(), /*read_only=*/true);
  const auto summary =
      store->query("SELECT name, status, best_map, lr, head FROM run_summary");
  ASSERT_EQ(summary.rows.size(), 1u);
  EXPECT_EQ(*summary.rows[0][0], "smoke");
  EXPECT_EQ(*summary.rows[0][1], "FINISHED");
  // Chance level is the mean label prevalence, about 26% on this set.
  EXPECT_GT(std::stod(*summary.rows[0][2]), 45.0);
  EXPECT_EQ(std::stod(*summary.rows[0][3]), 0.003);
  EXPECT_EQ(*summary.rows[0][4], "fc");
  const auto counts = store->query(
      "SELECT (SELECT count(*) FROM checkpoints), "
      "(SELECT count(*) FROM class_metrics), (SELECT count(*) FROM "
      "run_plugins), "
      "(SELECT count(*) FROM metrics WHERE key = 'train/loss')");
  EXPECT_EQ(*counts.rows[0][0], "2");   // one per epoch
  EXPECT_EQ(*counts.rows[0][1], "16");  // 8 classes x 2 epochs
  EXPECT_EQ(*counts.rows[0][2], "4");
  EXPECT_EQ(*counts.rows[0][3], "24");  // 12 steps x 2 epochs

  const Result show = labrun("show smoke");
  EXPECT_EQ(show.code, 0) << show.err;
  for (const char* expected :
       {"FINISHED", "resolved spec:", "optim.lr", "val/mAP",
        "checkpoints:", "step-00000024.pt", "smallconv"}) {
    EXPECT_NE(show.out.find(expected), std::string::npos) << expected;
  }

  const Result runs = labrun("runs");
  EXPECT_EQ(runs.code, 0);
  EXPECT_NE(runs.out.find("smoke"), std::string::npos);

  const Result json =
      labrun("sql \"SELECT name, best_map FROM run_summary\" --json");
  EXPECT_EQ(json.code, 0) << json.err;
  EXPECT_NE(json.out.find("\"name\": \"smoke\""), std::string::npos)
      << json.out;
  const Result csv = labrun("sql \"SELECT name, status FROM runs\" --csv");
  EXPECT_EQ(csv.out, "name,status\r\nsmoke,FINISHED\r\n");
  // A row at a time, each value typed as SQLite holds it: a column of
  // several types (once "error: stoll", and 1e20 printed as 1).
  const std::string mixed =
      "sql \"SELECT 1 AS v, 'a' AS w UNION ALL SELECT 'x,y', NULL UNION ALL "
      "SELECT 1e20, 2.5\" ";
  const Result typed = labrun(mixed + "--json");
  EXPECT_EQ(typed.code, 0) << typed.err;
  EXPECT_EQ(typed.out,
            "[\n  {\n    \"v\": 1,\n    \"w\": \"a\"\n  },\n  {\n    \"v\": "
            "\"x,y\",\n    \"w\": null\n  },\n  {\n    \"v\": 1e+20,\n    "
            "\"w\": 2.5\n  }\n]\n");
  EXPECT_EQ(labrun(mixed + "--csv").out,
            "v,w\r\n1,a\r\n\"x,y\",\r\n1.0e+20,2.5\r\n");
  EXPECT_EQ(labrun("sql \"SELECT 1 AS v WHERE 0\" --json").out, "[]\n");
  // Values after the query bind ?1, ?2, ... as text.
  const std::string bound =
      "sql \"SELECT name FROM run_summary WHERE lr < CAST(?1 AS REAL) AND "
      "name GLOB ?2\" --csv ";
  EXPECT_EQ(labrun(bound + "0.005 'smo*'").out, "name\r\nsmoke\r\n");
  EXPECT_EQ(labrun(bound + "0.001 'smo*'").out, "name\r\n");
  const Result unbound = labrun(bound + "0.005");
  EXPECT_EQ(unbound.code, 2);
  EXPECT_NE(unbound.err.find("query takes 2 parameter(s), 1 given"),
            std::string::npos)
      << unbound.err;

  const Result write = labrun("sql \"DELETE FROM runs\"");
  EXPECT_EQ(write.code, 2);
  EXPECT_EQ(runCount(), 1);
  // A read-only connection would still let VACUUM INTO write a file.
  const Result copy = labrun("sql \"VACUUM INTO 'copy.db'\"");
  EXPECT_EQ(copy.code, 2);
  EXPECT_NE(copy.err.find("the store is open for reading, and this statement "
                          "writes"),
            std::string::npos)
      << copy.err;
  EXPECT_FALSE(fs::exists(dir_ / "copy.db"));
}

// `labrun delete`: lists the runs it picks unless --yes; with it, the runs
// go from the store with their checkpoint files and folders, and the
// others stay whole. A live run is refused, and then nothing goes.
TEST_F(CliTest, DeleteListsThenRemovesRunsAndTheirCheckpointFiles) {
  for (const char* name : {"a", "b", "c"}) {
    const Result run = labrun("run " + kSmoke + kFast + " -q name=" + name);
    ASSERT_EQ(run.code, 0) << run.err;
  }
  auto store = labrun::store::RunStore::open(db(), /*read_only=*/true);
  const auto files = [&](const std::string& name) {
    std::vector<std::string> paths;
    for (const auto& row : store
                               ->query("SELECT c.path FROM checkpoints AS c "
                                       "JOIN runs AS r ON r.uuid = c.run "
                                       "WHERE r.name = ?1",
                                       {name})
                               .rows) {
      paths.push_back(*row[0]);
    }
    return paths;
  };
  const std::vector<std::string> a_files = files("a"), b_files = files("b"),
                                 c_files = files("c");
  ASSERT_EQ(a_files.size(), 2u);
  const auto all_exist = [](const std::vector<std::string>& paths) {
    return std::all_of(paths.begin(), paths.end(),
                       [](const std::string& p) { return fs::exists(p); });
  };
  ASSERT_TRUE(all_exist(a_files) && all_exist(b_files));

  const Result unnamed = labrun("delete");
  EXPECT_EQ(unnamed.code, 2);
  EXPECT_NE(unnamed.err.find("delete: name the runs to delete (RUN..., "
                             "--status, --name or --where)"),
            std::string::npos)
      << unnamed.err;
  EXPECT_EQ(labrun("delete nosuch").code, 2);
  const Result none = labrun("delete --status FAILED");
  EXPECT_EQ(none.code, 0) << none.err;
  EXPECT_EQ(none.out, "no run matches; nothing deleted\n");
  // Without --yes: a list, nothing deleted.
  const Result listed = labrun("delete a");
  EXPECT_EQ(listed.code, 0) << listed.err;
  EXPECT_NE(listed.out.find(" a "), std::string::npos) << listed.out;
  EXPECT_EQ(listed.out.find(" b "), std::string::npos) << listed.out;
  EXPECT_NE(listed.out.find("would delete 1 run and 2 checkpoint files ("),
            std::string::npos)
      << listed.out;
  EXPECT_EQ(runCount(), 3);
  EXPECT_TRUE(all_exist(a_files));

  // A run still running (fresh heartbeat) is refused with the others.
  labrun::store::RunInfo info;
  info.name = "live";
  const std::string live = labrun::store::RunStore::open(db())->createRun(info);
  const Result busy = labrun("delete --name '*' --yes");
  EXPECT_EQ(busy.code, 2);
  EXPECT_NE(busy.err.find("delete: run live (" + live +
                          ") is still running: stop it first"),
            std::string::npos)
      << busy.err;
  EXPECT_EQ(runCount(), 4);
  EXPECT_TRUE(all_exist(a_files) && all_exist(b_files));

  const Result deleted = labrun("delete a --yes");
  ASSERT_EQ(deleted.code, 0) << deleted.err;
  EXPECT_NE(deleted.out.find("deleted 1 run and 2 checkpoint files ("),
            std::string::npos)
      << deleted.out;
  EXPECT_EQ(runCount(), 3);
  EXPECT_EQ(*store
                 ->query("SELECT count(*) FROM metrics AS m LEFT JOIN runs "
                         "AS r ON r.uuid = m.run WHERE r.uuid IS NULL")
                 .rows[0][0],
            "0");
  for (const auto& path : a_files) EXPECT_FALSE(fs::exists(path)) << path;
  EXPECT_FALSE(fs::exists(fs::path(a_files[0]).parent_path()));
  EXPECT_TRUE(all_exist(b_files));
  EXPECT_EQ(labrun("show b").code, 0);
  // --keep-files: the records go, the files stay.
  const Result records = labrun("delete b -y --keep-files");
  ASSERT_EQ(records.code, 0) << records.err;
  EXPECT_NE(records.out.find("; their 2 checkpoint files ("), std::string::npos)
      << records.out;
  EXPECT_EQ(runCount(), 2);
  EXPECT_TRUE(all_exist(b_files));
  // A file that cannot be removed (here a folder that is not empty) is
  // named, with exit 1; the records are gone, and so is every other file.
  fs::remove(c_files[0]);
  fs::create_directories(fs::path(c_files[0]) / "inside");
  const Result stuck = labrun("delete c -y");
  EXPECT_EQ(stuck.code, 1);
  EXPECT_NE(stuck.out.find("deleted 1 run and 1 of 2 checkpoint files from "),
            std::string::npos)
      << stuck.out;
  EXPECT_NE(stuck.err.find("the runs are deleted, but 1 checkpoint file "
                           "could not be removed:\n  " +
                           c_files[0] + " ("),
            std::string::npos)
      << stuck.err;
  EXPECT_EQ(runCount(), 1);
  EXPECT_FALSE(fs::exists(c_files[1]));
}

TEST_F(CliTest, ReadCommandsWithoutStoreAreUsageErrors) {
  const Result result = labrun("runs");
  EXPECT_EQ(result.code, 2);
  EXPECT_NE(result.err.find("no run store at " + db()), std::string::npos);
}

// Option and spec values that would be taken silently otherwise: exit 2,
// naming the option or key, before anything is recorded.
TEST_F(CliTest, BadOptionValuesAreUsageErrorsNamingTheOption) {
  fs::create_directories(dir_ / "folder");
  const std::string binary = std::string("'") + LABRUN_BINARY + "' ";
  const auto expectRefused = [&](const Result& result,
                                 const std::string& expected) {
    EXPECT_EQ(result.code, 2) << result.err;
    EXPECT_NE(result.err.find(expected), std::string::npos) << result.err;
  };
  expectRefused(shell(binary + "--db '' runs"),
                "--db: expected a file path, found ''");
  expectRefused(shell(binary + "--db folder runs"),
                "run store 'folder': a folder, not a run store file; name a "
                "file in it, e.g. folder/labrun.db");
  expectRefused(shell(binary + "--db folder run " + kSmoke + kFast),
                "run store 'folder': a folder, not a run store file");
  expectRefused(labrun("runs --limit -3"),
                "--limit: expected an integer >= 1, found -3");
  expectRefused(labrun("run " + kSmoke + " --log-every -1"),
                "--log-every: expected an integer >= 0, found -1");
  expectRefused(labrun("run " + kSmoke + " threads=0"),
                "override 'threads=0': threads: expected an integer >= 1 or "
                "auto, found 0");
  expectRefused(labrun("run " + kSmoke + " 'init_modules=[backbone]'"),
                "init_modules: takes module prefixes from init_from's "
                "checkpoint, and init_from is not set");
  expectRefused(labrun("eval " + kSmoke + " --checkpoint folder"),
                "--checkpoint folder: a folder, not a checkpoint file");
  expectRefused(labrun("predict run x.png --threshold nan"),
                "--threshold: expected a probability from 0 to 1, found nan");
  expectRefused(labrun("predict run x.png -o ''"),
                "--output: an empty file name; expected a file to write");
  expectRefused(labrun("eval run --scores /dev/null"),
                "--scores: /dev/null: a device, expected a file name");
  expectRefused(labrun("export run -o -"),
                "--output: '-' (standard output) is not taken here");
  expectRefused(labrun("eval missing.yaml"),
                "eval missing.yaml: no such spec file (nor a run of that name "
                "in " +
                    db() + ")");
  expectRefused(labrun("predict run --list folder"),
                "predict: --list folder: a folder; expected a file naming one "
                "image a line");
  {
    std::ofstream binary(dir_ / "binary.txt", std::ios::binary);
    binary << "a.jpg\n" << std::string("b\0c", 3) << "\n";
  }
  expectRefused(labrun("predict run --list binary.txt"),
                "predict: --list binary.txt:2: binary data; expected a file "
                "naming one image a line");
  // A plugin's own error says where the spec names the plugin, and the
  // file as it resolved.
  const std::string weights =
      "'model.backbone={name: resnet, depth: 18, weights: sub/../nope.pth}'";
  const Result plugin = labrun("run " + kSmoke + " " + weights);
  expectRefused(plugin, "override " + weights.substr(0, weights.size() - 1) +
                            "': model.backbone: backbone plugin 'resnet' (");
  expectRefused(plugin,
                "): " + kSource + "/experiments/nope.pth: cannot open the file");
  { std::ofstream(dir_ / "on_folder.yaml") << "extends: [folder]\n"; }
  expectRefused(labrun("run on_folder.yaml"),
                "on_folder.yaml:1:11: extends: base is a folder, not a spec "
                "file: folder");
  EXPECT_FALSE(fs::exists(db()));
}

// Resumable training: a run stopped by SIGINT (checkpoint, KILLED) or killed
// with -9 (stale heartbeat) continues with `labrun resume` and reproduces
// the uninterrupted run's losses step for step.
// Damages `path` in place (a byte of the middle inverted); twice restores it.
void flipByte(const std::string& path) {
  std::fstream file(path, std::ios::in | std::ios::out | std::ios::binary);
  file.seekg(100);
  const char byte = static_cast<char>(file.get());
  file.seekp(100);
  file.put(static_cast<char>(byte ^ 0x5a));
}

const std::string kResumable =
    kFast + " train.log_every=1 checkpoint.every_steps=4";

// Ctrl-C (SIGINT) and SIGTERM finish the step, keep a checkpoint and mark
// the run KILLED (exit 1); a second signal aborts at once (exit 128 + 2),
// before step 8's checkpoint is recorded. Either way the resumed run is the
// uninterrupted one.
TEST_F(CliTest, SignalsStopCleanlyAndResumeReproducesTheRun) {
  ASSERT_EQ(labrun("run " + kSmoke + kResumable + " name=whole -q").code, 0);
  const struct {
    const char* signals;
    int code;
    const char* said;
    const char* status;
  } cases[] = {
      {"INT", 1, "KILLED: stopped by signal 2", "KILLED"},
      {"TERM", 1, "KILLED: stopped by signal 15", "KILLED"},
      {"INT+INT", 128 + SIGINT, "second signal, aborting now", "RUNNING"},
  };
  for (const auto& signal : cases) {
    SCOPED_TRACE(signal.signals);
    const std::string name = std::string("cut_") + signal.signals;
    const Result cut =
        labrunSignalled(signal.signals, 8,
                        "run " + kSmoke + kResumable + " name=" + name + " -q");
    EXPECT_EQ(cut.code, signal.code) << cut.err;
    EXPECT_NE(cut.err.find(signal.said), std::string::npos) << cut.err;
    {
      auto store = labrun::store::RunStore::open(db(), /*read_only=*/true);
      EXPECT_EQ(*store->query("SELECT status FROM runs WHERE name = ?1", {name})
                     .rows.at(0)
                     .at(0),
                signal.status);
    }
    expectStoreConsistent(db());
    const Result resumed = labrun("resume " + name + " -q");
    ASSERT_EQ(resumed.code, 0) << resumed.out << resumed.err;
    EXPECT_NE(resumed.out.find("resuming run"), std::string::npos);
    expectSameMetrics(name, "whole");
    // None lost or doubled.
    EXPECT_EQ(series(name, "train/loss").size(), 24u);
  }
}

TEST_F(CliTest, KilledProcessShowsAsCrashedAndResumes) {
  ASSERT_EQ(labrun("run " + kSmoke + kResumable + " name=whole -q").code, 0);
  killAfterCheckpoint("run " + kSmoke + kResumable + " name=cut -q", 8);
  {
    // Another host's run with a fresh heartbeat looks alive: refused.
    labrun::store::RunStore::open(db())->query(
        "UPDATE runs SET host = 'elsewhere' WHERE name = 'cut'");
  }
  const Result early = labrun("resume cut -q");
  EXPECT_EQ(early.code, 2);
  EXPECT_NE(early.err.find("is still running on elsewhere"), std::string::npos)
      << early.err;
  {
    // A minute without a heartbeat: CRASHED, whatever the host.
    labrun::store::RunStore::open(db())->query(
        "UPDATE runs SET heartbeat_at = heartbeat_at - 120 WHERE name = 'cut'");
  }
  EXPECT_NE(labrun("runs").out.find("CRASHED"), std::string::npos);
  const Result resumed = labrun("resume cut -q");
  ASSERT_EQ(resumed.code, 0) << resumed.out << resumed.err;
  EXPECT_EQ(series("cut", "train/loss"), series("whole", "train/loss"));
  EXPECT_EQ(series("cut", "val/mAP"), series("whole", "val/mAP"));
}

// Exact resume of what a checkpoint holds beyond Adam's state: SGD's
// momentum, a warm-up + cosine schedule, the EMA weights, and a step of 2
// micro-batches; killed in the middle of epoch 2 (6 steps an epoch, the
// newest recorded checkpoint at step 6). EMA changes only what is
// evaluated: the training losses are those of the run without it.
TEST_F(CliTest, ResumeIsExactWithMomentumScheduleEmaAndAccumulation) {
  const std::string recipe =
      kFast +
      " train.log_every=1 checkpoint.every_steps=2 optim.name=sgd "
      "optim.lr=0.05 optim.accumulate=2 schedule.name=cosine "
      "schedule.warmup_steps=3 optim.ema=0.9";
  ASSERT_EQ(labrun("run " + kSmoke + recipe + " name=whole -q").code, 0);
  ASSERT_EQ(
      labrun("run " + kSmoke + recipe + " optim.ema=0 name=plain -q").code, 0);
  killAfterCheckpoint("run " + kSmoke + recipe + " name=cut -q", 8);
  const Result resumed = labrun("resume cut -q");
  ASSERT_EQ(resumed.code, 0) << resumed.out << resumed.err;
  EXPECT_NE(resumed.out.find("(step 6)"), std::string::npos) << resumed.out;
  expectSameMetrics("cut", "whole");
  for (const char* key : {"train/lr", "val_ema/mAP"}) {
    EXPECT_EQ(series("cut", key), series("whole", key)) << key;
  }
  EXPECT_EQ(series("whole", "train/lr").size(), 12u);
  EXPECT_EQ(series("plain", "train/loss"), series("whole", "train/loss"));
  EXPECT_EQ(series("whole", "val_ema/mAP").size(), 2u);
  EXPECT_NE(series("whole", "val_ema/mAP"), series("whole", "val/mAP"));
}

// train.precision: bf16 (autocast on the CPU) takes the smoke run along
// fp32's course, is recorded with the run, and resumes exactly from a kill
// in the middle of an epoch (the last checkpoint is step 4 of 12). fp16 is
// refused off CUDA, naming where it was asked for.
TEST_F(CliTest, Bf16RunFollowsFp32AndResumesExactlyAfterAKill) {
  const std::string bf16 = kResumable + " train.precision=bf16";
  ASSERT_EQ(labrun("run " + kSmoke + kResumable + " name=fp32 -q").code, 0);
  ASSERT_EQ(labrun("run " + kSmoke + bf16 + " name=whole -q").code, 0);
  killAfterCheckpoint("run " + kSmoke + bf16 + " name=cut -q", 8);
  const Result resumed = labrun("resume cut -q");
  ASSERT_EQ(resumed.code, 0) << resumed.out << resumed.err;
  EXPECT_NE(resumed.out.find("(step 4)"), std::string::npos) << resumed.out;
  expectSameMetrics("cut", "whole");

  auto store = labrun::store::RunStore::open(db(), /*read_only=*/true);
  EXPECT_EQ(*store
                 ->query("SELECT p.value FROM params p JOIN runs r ON r.uuid "
                         "= p.run WHERE r.name = 'cut' AND p.key = "
                         "'train.precision'")
                 .rows.at(0)
                 .at(0),
            "bf16");
  // Each epoch's mean loss within 1% of fp32's, but not equal to it.
  const auto epoch_losses = [&](const std::string& name) {
    std::vector<double> values;
    for (const auto& row :
         store
             ->query("SELECT m.value FROM metrics m JOIN runs r ON r.uuid = "
                     "m.run WHERE r.name = ?1 AND m.key = 'train/epoch_loss' "
                     "ORDER BY m.step",
                     {name})
             .rows) {
      values.push_back(std::stod(*row.at(0)));
    }
    return values;
  };
  const auto fp32 = epoch_losses("fp32"), half = epoch_losses("whole");
  ASSERT_EQ(fp32.size(), 2u);
  ASSERT_EQ(half.size(), 2u);
  EXPECT_NE(fp32, half);
  for (std::size_t i = 0; i < fp32.size(); ++i) {
    EXPECT_NEAR(half[i], fp32[i], 0.01 * fp32[i]);
  }

  const Result fp16 = labrun("run " + kSmoke + kFast + " train.precision=fp16");
  EXPECT_EQ(fp16.code, 2);
  EXPECT_NE(fp16.err.find("override 'train.precision=fp16': "
                          "train.precision: fp16 needs a CUDA device"),
            std::string::npos)
      << fp16.err;
}

TEST_F(CliTest, ResumeRightAfterKillOnTheSameHost) {
  ASSERT_EQ(labrun("run " + kSmoke + kResumable + " name=whole -q").code, 0);
  killAfterCheckpoint("run " + kSmoke + kResumable + " name=cut -q", 8);
  // The heartbeat is fresh, but the recorded process is gone.
  const Result resumed = labrun("resume cut -q");
  ASSERT_EQ(resumed.code, 0) << resumed.err;
  expectSameMetrics("cut", "whole");
  auto store = labrun::store::RunStore::open(db(), /*read_only=*/true);
  EXPECT_EQ(*store
                 ->query("SELECT status || ' ' || resumes FROM runs WHERE "
                         "name = 'cut'")
                 .rows.at(0)
                 .at(0),
            "FINISHED 1");
}

// The recorded pid now belongs to another program (here this test): the
// run's process is gone too, although kill(pid, 0) finds one.
TEST_F(CliTest, ResumeRightAfterKillWhenThePidWasReused) {
  ASSERT_EQ(labrun("run " + kSmoke + kResumable + " name=whole -q").code, 0);
  killAfterCheckpoint("run " + kSmoke + kResumable + " name=cut -q", 8);
  labrun::store::RunStore::open(db())->query(
      "UPDATE runs SET pid = ?1 WHERE name = 'cut'",
      {std::to_string(::getpid())});
  const Result resumed = labrun("resume cut -q");
  ASSERT_EQ(resumed.code, 0) << resumed.err;
  expectSameMetrics("cut", "whole");
}

struct CheckpointRow {
  std::int64_t step = 0;
  std::string path;
  bool best = false;
};

// The checkpoint rows of run `name`, newest first.
std::vector<CheckpointRow> checkpointRows(const std::string& db,
                                          const std::string& name) {
  auto store = labrun::store::RunStore::open(db, /*read_only=*/true);
  std::vector<CheckpointRow> rows;
  for (const auto& row :
       store
           ->query("SELECT c.step, c.path, c.best FROM checkpoints c JOIN "
                   "runs r ON r.uuid = c.run WHERE r.name = ?1 ORDER BY "
                   "c.step DESC",
                   {name})
           .rows) {
    rows.push_back({std::stoll(*row.at(0)), *row.at(1), *row.at(2) == "1"});
  }
  return rows;
}

// checkpoint.keep_last: the newest N and the best stay, as rows and as
// files; the others are gone from both.
TEST_F(CliTest, KeepLastLeavesTheNewestAndTheBestCheckpoints) {
  ASSERT_EQ(labrun("run " + kSmoke + kResumable +
                   " checkpoint.keep_last=2 name=kept -q")
                .code,
            0);
  const auto rows = checkpointRows(db(), "kept");
  ASSERT_GE(rows.size(), 2u);
  ASSERT_LE(rows.size(), 3u);
  // 2 epochs x 12 steps, one every 4 steps: the newest are steps 24, 20;
  // a third row can only be the best.
  EXPECT_EQ(rows[0].step, 24);
  EXPECT_EQ(rows[1].step, 20);
  if (rows.size() == 3) EXPECT_TRUE(rows[2].best);
  std::set<std::string> recorded, files;
  bool best = false;
  for (const CheckpointRow& row : rows) {
    recorded.insert(row.path);
    best |= row.best;
  }
  EXPECT_TRUE(best);
  for (const auto& entry :
       fs::directory_iterator(fs::path(rows[0].path).parent_path())) {
    files.insert(entry.path().string());
  }
  EXPECT_EQ(files, recorded);
}

// Resume takes the newest checkpoint that is intact: a damaged one (a byte
// flipped) and one that cannot be read are named and passed over, and the
// run still ends as the uninterrupted one did.
TEST_F(CliTest, ResumePassesOverDamagedAndUnreadableCheckpoints) {
  ASSERT_EQ(labrun("run " + kSmoke + kResumable + " name=whole -q").code, 0);
  killAfterCheckpoint("run " + kSmoke + kResumable + " name=cut -q", 16);
  const auto rows = checkpointRows(db(), "cut");
  ASSERT_EQ(rows.size(), 3u);  // steps 12, 8 and 4
  const std::string damaged = rows[0].path, unreadable = rows[1].path;
  flipByte(damaged);
  // A folder where the file was: it exists, but reading it fails (root
  // reads a chmod 000 file, so that would prove nothing under root).
  fs::remove(unreadable);
  fs::create_directory(unreadable);
  const Result resumed = labrun("resume cut -q");
  ASSERT_EQ(resumed.code, 0) << resumed.out << resumed.err;
  const std::string said = resumed.out + resumed.err;
  EXPECT_NE(said.find("checkpoint " + damaged +
                      " is damaged (its sha256 is not the one recorded); "
                      "trying an older one"),
            std::string::npos)
      << said;
  EXPECT_NE(said.find("checkpoint " + unreadable + " cannot be read ("),
            std::string::npos)
      << said;
  EXPECT_NE(said.find(rows[2].path + " (step 4)"), std::string::npos) << said;
  expectSameMetrics("cut", "whole");
}

// An output_dir that cannot take checkpoints fails before the run is
// recorded, naming the key, not at the first checkpoint after an epoch.
TEST_F(CliTest, UnwritableOutputDirIsASpecErrorBeforeTraining) {
  { std::ofstream(dir_ / "taken") << "a file, not a folder\n"; }
  const Result refused =
      labrun("run " + kSmoke + kFast + " output_dir=taken/checkpoints -q");
  EXPECT_EQ(refused.code, 2) << refused.out << refused.err;
  EXPECT_NE(refused.err.find("output_dir: cannot write checkpoints into " +
                             (dir_ / "taken/checkpoints").string() + ": "),
            std::string::npos)
      << refused.err;
  EXPECT_NE(refused.err.find("override 'output_dir=taken/checkpoints': "),
            std::string::npos)
      << refused.err;
  auto store = labrun::store::RunStore::open(db(), /*read_only=*/true);
  EXPECT_EQ(*store->query("SELECT count(*) FROM runs").rows.at(0)[0], "0");
}

// When every recorded checkpoint is gone (a moved folder, an unmounted
// disk), resume refuses (exit 2) and changes nothing; --restart starts
// the run over.
TEST_F(CliTest, ResumeWithNoIntactCheckpointIsRefusedUnlessRestart) {
  ASSERT_EQ(labrun("run " + kSmoke + kResumable + " name=whole -q").code, 0);
  killAfterCheckpoint("run " + kSmoke + kResumable + " name=cut -q", 16);
  const auto rows = checkpointRows(db(), "cut");
  ASSERT_EQ(rows.size(), 3u);
  const fs::path folder = fs::path(rows[0].path).parent_path();
  fs::rename(folder, dir_ / "moved");
  const auto recorded = [&] {
    auto store = labrun::store::RunStore::open(db(), /*read_only=*/true);
    return *store
                ->query(
                    "SELECT r.status || ' ' || r.resumes || ' ' || (SELECT "
                    "count(*) FROM metrics WHERE run = r.uuid) || ' ' || "
                    "(SELECT count(*) FROM checkpoints WHERE run = r.uuid) "
                    "FROM runs r WHERE name = 'cut'")
                .rows.at(0)[0];
  };
  const std::string before = recorded();
  const Result refused = labrun("resume cut -q");
  EXPECT_EQ(refused.code, 2) << refused.out << refused.err;
  EXPECT_NE(refused.err.find("recorded 3 checkpoint(s) and none is intact"),
            std::string::npos)
      << refused.err;
  EXPECT_NE(refused.err.find("--restart"), std::string::npos);
  EXPECT_NE(refused.err.find("checkpoint " + rows[0].path + " is missing"),
            std::string::npos)
      << refused.err;
  EXPECT_EQ(recorded(), before);

  const Result restarted = labrun("resume cut --restart -q");
  ASSERT_EQ(restarted.code, 0) << restarted.out << restarted.err;
  EXPECT_NE(restarted.out.find("has no intact checkpoint; starting over"),
            std::string::npos)
      << restarted.out;
  expectSameMetrics("cut", "whole");
}

// A loss that turns non-finite fails the run (exit 1, FAILED, the step
// named), and every checkpoint recorded before is intact and older than
// that step.
TEST_F(CliTest, NonFiniteLossFailsTheRunAndKeepsIntactCheckpoints) {
  const Result failed =
      labrun("run " + kSmoke + kFast +
             " optim.lr=1e30 checkpoint.every_steps=1 name=boom -q");
  EXPECT_EQ(failed.code, 1) << failed.out << failed.err;
  auto store = labrun::store::RunStore::open(db(), /*read_only=*/true);
  const auto run = store->query("SELECT status, error FROM runs");
  ASSERT_EQ(run.rows.size(), 1u);
  EXPECT_EQ(*run.rows[0][0], "FAILED");
  const std::string& error = *run.rows[0][1];
  const std::size_t at = error.find(" at step ");
  ASSERT_NE(at, std::string::npos) << error;
  EXPECT_EQ(error.rfind("loss is ", 0), 0u) << error;
  const std::int64_t bad_step = std::stoll(error.substr(at + 9));
  EXPECT_NE(failed.err.find(error), std::string::npos) << failed.err;
  const auto rows =
      store->query("SELECT c.step, c.path, c.sha256 FROM checkpoints c");
  ASSERT_FALSE(rows.rows.empty()) << "lr 1e30 failed before step 2";
  for (const auto& row : rows.rows) {
    EXPECT_LT(std::stoll(*row[0]), bad_step);
    const Result sum = shell("sha256sum '" + *row[1] + "'");
    EXPECT_EQ(sum.out.substr(0, 64), *row[2]) << *row[1];
  }
}

// Early stopping (train.early_stop): min_delta 100 makes every evaluation
// after the first count against patience 2, so the run ends FINISHED after
// epoch 3 of 6. A run stopped by SIGINT after its second evaluation and
// resumed stops at the same epoch with the same losses: the stage's state
// comes back from the checkpoint.
TEST_F(CliTest, EarlyStopEndsTheRunAndResumesToTheSameEpoch) {
  const std::string early =
      " data.synthetic.train_size=768 data.synthetic.val_size=128 "
      "train.epochs=6 train.log_every=0 train.early_stop.metric=val/mAP "
      "train.early_stop.patience=2 train.early_stop.min_delta=100";
  const Result whole = labrun("run " + kSmoke + early + " name=whole -q");
  ASSERT_EQ(whole.code, 0) << whole.out << whole.err;
  EXPECT_NE(whole.out.find("epoch 3: stopped early: val/mAP has not improved "
                           "by more than 100 for 2 evaluations"),
            std::string::npos)
      << whole.out;
  // Stopped once epoch 2's checkpoint (step 48) is in place, after one
  // evaluation without gain.
  ASSERT_EQ(
      labrunSignalled("INT", 48, "run " + kSmoke + early + " name=cut -q").code,
      1);
  const Result resumed = labrun("resume cut -q");
  ASSERT_EQ(resumed.code, 0) << resumed.out << resumed.err;
  EXPECT_NE(resumed.out.find("epoch 3: stopped early"), std::string::npos)
      << resumed.out;
  auto store = labrun::store::RunStore::open(db(), /*read_only=*/true);
  const auto runs = store->query(
      "SELECT name, status, resumes, (SELECT max(epoch) FROM metrics WHERE "
      "run = uuid AND key = 'train/epoch_loss') FROM runs ORDER BY name");
  ASSERT_EQ(runs.rows.size(), 2u);
  EXPECT_EQ(*runs.rows[0][0], "cut");
  EXPECT_EQ(*runs.rows[0][1], "FINISHED");
  EXPECT_EQ(*runs.rows[0][2], "1");  // it was stopped, not finished
  EXPECT_EQ(*runs.rows[0][3], "3");
  EXPECT_EQ(*runs.rows[1][1], "FINISHED");
  EXPECT_EQ(*runs.rows[1][3], "3");
  EXPECT_EQ(series("cut", "train/early_stop"),
            series("whole", "train/early_stop"));
  EXPECT_EQ(series("whole", "train/early_stop").size(), 1u);
  expectSameMetrics("cut", "whole");
}

TEST_F(CliTest, EarlyStopNeedsAValidationKey) {
  expectSpecError("run " + kSmoke + " train.early_stop.metric=train/loss",
                  "train.early_stop.metric: expected a validation key, "
                  "val/<name> (val/loss, val/mAP, ...), found 'train/loss'");
  expectSpecError("run " + kSmoke + " train.early_stop.metric=val_ema/mAP",
                  "found 'val_ema/mAP'");
  expectSpecError("run " + kSmoke +
                      " train.early_stop.metric=val/mAP "
                      "train.early_stop.patience=0",
                  "train.early_stop.patience: expected an integer >= 1, "
                  "found 0");
}

// A key that early stopping, checkpoint ranking or the plateau schedule
// watches but no metric records (a typo) is a spec error naming where it was
// written and the keys there are, found before a run is recorded.
TEST_F(CliTest, WatchedKeysNoMetricRecordsAreSpecErrors) {
  const std::string known = "; known: val/loss, val/mAP, val/mAP_classes";
  const std::pair<std::string, std::string> cases[] = {
      {"train:\n  early_stop:\n    metric: val/mAp\n",
       ":4:13: train.early_stop.metric: unknown validation key 'val/mAp'" +
           known + "; did you mean 'val/mAP'?"},
      {"checkpoint:\n  best_by: val/CF1\n",
       ":3:12: checkpoint.best_by: unknown validation key 'val/CF1'" + known},
      {"schedule:\n  name: plateau\n  metric: val/los\n",
       ":4:11: schedule.metric: unknown validation key 'val/los'" + known +
           "; did you mean 'val/loss'?"},
  };
  for (const auto& [yaml, expected] : cases) {
    const std::string spec =
        writeSpec("typo.yaml", "extends: " + kSmoke + "\n" + yaml);
    expectSpecError("run '" + spec + "'", spec + expected);
  }
  // A labelled instance's keys carry its label; with a weight average the
  // averaged model's keys are known too.
  const std::string labelled =
      writeSpec("labelled.yaml", "extends: " + kSmoke +
                                     "\nmetrics: [{name: map, label: sk}]\n"
                                     "optim: {ema: 0.9}\n");
  expectSpecError(
      "run '" + labelled + "' checkpoint.best_by=val/mAP",
      "override 'checkpoint.best_by=val/mAP': checkpoint.best_by: unknown "
      "validation key 'val/mAP'; known: val/loss, val/mAP@sk, "
      "val/mAP_classes@sk, val_ema/loss, val_ema/mAP@sk, "
      "val_ema/mAP_classes@sk");
  // Found before the store is even opened, or a checkpoint folder made.
  EXPECT_FALSE(fs::exists(db()));
  EXPECT_FALSE(fs::exists(dir_ / "runs"));
}

// What a run records is accepted however it is named: a labelled instance's
// key, prf's top-k names (top_k: 2), the weight average's keys. A default
// is not checked: best_by's val/mAP with prf alone keeps checkpoints
// unranked, as before.
TEST_F(CliTest, WatchedKeysThatARunRecordsAreAccepted) {
  const std::string spec = writeSpec("keys.yaml", "extends: " + kSmoke + R"(
name: keys
metrics:
  - {name: map, ap: sklearn, label: sk}
  - {name: prf, top_k: 2}
optim: {ema: 0.9}
train:
  early_stop: {metric: val_ema/OF1_top2, patience: 5}
checkpoint: {best_by: val/mAP@sk}
schedule: {name: plateau, metric: val/CF1_top2}
)");
  const Result run = labrun("run '" + spec + "'" + kFast + " -q");
  ASSERT_EQ(run.code, 0) << run.err;
  EXPECT_EQ(series("keys", "val_ema/OF1_top2").size(), 2u);
  EXPECT_EQ(series("keys", "val/CF1_top2").size(), 2u);
  auto store = labrun::store::RunStore::open(db(), /*read_only=*/true);
  const auto best = store->query(
      "SELECT count(*) FROM checkpoints WHERE best = 1 AND metric = (SELECT "
      "max(value) FROM metrics WHERE key = 'val/mAP@sk')");
  EXPECT_EQ(*best.rows[0][0], "1");

  const std::string prf = writeSpec(
      "prf.yaml", "extends: " + kSmoke + "\nname: prf\nmetrics: [prf]\n");
  const Result unranked = labrun("run '" + prf + "'" + kFast + " -q");
  ASSERT_EQ(unranked.code, 0) << unranked.err;
  EXPECT_EQ(*store->query("SELECT count(*) FROM checkpoints WHERE best = 1")
                 .rows[0][0],
            "1");  // still only the first run's
  // A key no stage in use watches is not checked either.
  const Result unused = labrun(
      "run " + kSmoke + kFast +
      " name=unused checkpoint.enabled=false checkpoint.best_by=val/nope "
      "schedule.name=step schedule.metric=val/nope -q");
  EXPECT_EQ(unused.code, 0) << unused.err;
}

TEST_F(CliTest, EvalRecordsAnEvaluationAndWritesScores) {
  ASSERT_EQ(labrun("run " + kSmoke + kFast + " -q").code, 0);
  const std::string scores = (dir_ / "scores.npy").string();
  const Result eval =
      labrun("eval smoke --checkpoint best --scores '" + scores + "'");
  ASSERT_EQ(eval.code, 0) << eval.err;
  auto store = labrun::store::RunStore::open(db(), /*read_only=*/true);
  const auto row = store->query(
      "SELECT (SELECT value FROM evaluation_metrics WHERE key = 'mAP'), "
      "(SELECT value FROM metrics WHERE key = 'val/mAP' ORDER BY value DESC "
      "LIMIT 1), (SELECT count(*) FROM evaluation_class_metrics)");
  // The best checkpoint re-evaluated gives the best recorded mAP.
  EXPECT_DOUBLE_EQ(std::stod(*row.rows[0][0]), std::stod(*row.rows[0][1]));
  EXPECT_EQ(*row.rows[0][2], "8");
  // .npy: 128 validation images x 8 classes of float32 after the header.
  const std::string npy = slurp(scores);
  EXPECT_EQ(npy.substr(0, 6), "\x93NUMPY");
  EXPECT_NE(npy.find("'shape': (128, 8)"), std::string::npos);
  EXPECT_EQ(npy.size() % 64, (128 * 8 * 4) % 64);
  // The generated set has no files: an image file takes the form of its
  // images (32x32, normalised as they are), not data.transforms.val's.
  ASSERT_EQ(labrun("export smoke -o smoke.pt").code, 0);
  const auto input =
      nlohmann::json::parse(slurp((dir_ / "smoke.json").string()))["input"];
  EXPECT_EQ(input.dump(),
            R"({"height":32,"normalize":{"mean":[0.5,0.5,0.5],"std":[0.25,)"
            R"(0.25,0.25]},"steps":["resize 32x32","normalize 0.5 0.5 0.5 )"
            R"(0.25 0.25 0.25"],"width":32})");
  // A checkpoint that is not there, or a file that is not a checkpoint of
  // this model, is a usage error (2), worded alike by the commands that
  // take one, without LibTorch's backtrace, and nothing is recorded.
  { std::ofstream(dir_ / "garbage.pt") << std::string(4096, 'x'); }
  for (const std::string command :
       {std::string("eval smoke"), std::string("export smoke"),
        "predict smoke " + kSmoke}) {
    const Result missing = labrun(command + " --checkpoint nowhere.pt");
    EXPECT_EQ(missing.code, 2) << command;
    EXPECT_NE(missing.err.find(" smoke: --checkpoint nowhere.pt: no such file "
                               "(a run takes best, last or a checkpoint file)"),
              std::string::npos)
        << missing.err;
    const Result garbage = labrun(command + " --checkpoint garbage.pt");
    EXPECT_EQ(garbage.code, 2) << command;
    EXPECT_NE(garbage.err.find("garbage.pt is not a labrun checkpoint: "),
              std::string::npos)
        << garbage.err;
    EXPECT_EQ(garbage.err.find("Exception raised from"), std::string::npos)
        << garbage.err;
  }
  const Result init = labrun("predict smoke " + kSmoke + " --checkpoint init");
  EXPECT_EQ(init.code, 2);
  EXPECT_NE(init.err.find("predict smoke: --checkpoint init: a run takes best, "
                          "last or a checkpoint file (init: a spec's initial "
                          "weights; best, last: a run's)"),
            std::string::npos)
      << init.err;
  const Result ignored = labrun("eval smoke data.batch_size=7");
  EXPECT_EQ(ignored.code, 2);
  EXPECT_NE(ignored.err.find("eval smoke: overrides go with a spec file, not "
                             "a run reference"),
            std::string::npos)
      << ignored.err;
  const Result last = labrun("eval " + kSmoke + " --checkpoint last");
  EXPECT_EQ(last.code, 2);
  EXPECT_NE(last.err.find(": --checkpoint last: a spec file takes init or a "
                          "checkpoint file"),
            std::string::npos)
      << last.err;
  // A recorded checkpoint that is damaged: named, and nothing recorded.
  const std::string best = *store
                                ->query(
                                    "SELECT path FROM checkpoints WHERE "
                                    "best ORDER BY step DESC LIMIT 1")
                                .rows.at(0)[0];
  flipByte(best);
  const Result damaged = labrun("eval smoke");
  flipByte(best);  // back as it was
  EXPECT_EQ(damaged.code, 2);
  EXPECT_NE(damaged.err.find("recorded " + best +
                             " but it is damaged (its sha256 is not the one "
                             "recorded)"),
            std::string::npos)
      << damaged.err;
  EXPECT_EQ(*store->query("SELECT count(*) FROM evaluations").rows[0][0], "1");
}

TEST_F(CliTest, TwoInstancesOfAMetricAreBothRecorded) {
  // The acceptance case of issue #14: map twice, with different `ap`, and
  // prf twice; checkpoints ranked by the labelled instance.
  const std::string spec = writeSpec(
      "two.yaml", "extends: " + kSmoke +
                      "\nname: two\nmetrics:\n  - map\n"
                      "  - {name: map, ap: sklearn}\n"
                      "  - prf\n"
                      "  - {name: prf, threshold: 0.7, label: strict}\n"
                      "checkpoint:\n  best_by: val/mAP@ap=sklearn\n");
  const Result run = labrun("run '" + spec + "'" + kFast + " -q");
  ASSERT_EQ(run.code, 0) << run.err;
  EXPECT_EQ(series("two", "val/mAP").size(), 2u);
  const auto sklearn = series("two", "val/mAP@ap=sklearn");
  EXPECT_EQ(sklearn.size(), 2u);
  EXPECT_EQ(series("two", "val/OF1").size(), 2u);
  EXPECT_EQ(series("two", "val/OF1@strict").size(), 2u);
  auto store = labrun::store::RunStore::open(db(), /*read_only=*/true);
  const auto per_class = store->query(
      "SELECT metric, count(*) FROM class_metrics GROUP BY metric ORDER BY "
      "metric");
  ASSERT_EQ(per_class.rows.size(), 4u);
  EXPECT_EQ(*per_class.rows[0][0], "AP");
  EXPECT_EQ(*per_class.rows[1][0], "AP@ap=sklearn");
  EXPECT_EQ(*per_class.rows[2][0], "F1");
  EXPECT_EQ(*per_class.rows[3][0], "F1@strict");
  // The best checkpoint is ranked by val/mAP@ap=sklearn; run_summary shows
  // that key and every labelled one.
  const auto summary = store->query(
      "SELECT best_by, printf('%.17g', best_by_value), val_metrics, "
      "printf('%.17g', (SELECT metric FROM checkpoints WHERE best = 1)) "
      "FROM run_summary");
  EXPECT_EQ(*summary.rows[0][0], "val/mAP@ap=sklearn");
  EXPECT_EQ(*summary.rows[0][1], *summary.rows[0][3]);
  const std::string keys = *summary.rows[0][2];
  for (const std::string key :
       {"val/mAP ", "val/mAP@ap=sklearn ", "val/OF1 ", "val/OF1@strict "}) {
    EXPECT_NE((keys + " ").find(key), std::string::npos) << keys;
  }
  // The instances are distinct: a 0.7 threshold predicts fewer labels.
  const auto thresholds = store->query(
      "SELECT (SELECT max(value) FROM metrics WHERE key = 'val/OP'), "
      "(SELECT max(value) FROM metrics WHERE key = 'val/OP@strict'), "
      "(SELECT max(value) FROM metrics WHERE key = 'val/OR'), "
      "(SELECT max(value) FROM metrics WHERE key = 'val/OR@strict')");
  EXPECT_GE(std::stod(*thresholds.rows[0][2]),
            std::stod(*thresholds.rows[0][3]));
  EXPECT_NE(*thresholds.rows[0][0], *thresholds.rows[0][1]);

  const Result eval = labrun("eval two");
  ASSERT_EQ(eval.code, 0) << eval.err;
  EXPECT_NE(eval.out.find("mAP@ap=sklearn"), std::string::npos) << eval.out;
  const auto evaluated = store->query(
      "SELECT key, printf('%.17g', value) FROM evaluation_metrics WHERE key "
      "IN ('mAP', 'mAP@ap=sklearn', 'OF1', 'OF1@strict') ORDER BY key");
  ASSERT_EQ(evaluated.rows.size(), 4u);
  // The best checkpoint re-evaluated gives what ranked it.
  EXPECT_EQ(*evaluated.rows[3][0], "mAP@ap=sklearn");
  EXPECT_EQ(*evaluated.rows[3][1], *summary.rows[0][1]);
  EXPECT_EQ(store
                ->query("SELECT count(DISTINCT metric) FROM "
                        "evaluation_class_metrics")
                .rows[0][0]
                .value(),
            "4");
  const Result compare = labrun("compare two");
  ASSERT_EQ(compare.code, 0) << compare.err;
  EXPECT_NE(compare.out.find("val/mAP@ap=sklearn"), std::string::npos)
      << compare.out;
  EXPECT_NE(compare.out.find("val/OF1@strict"), std::string::npos);
  EXPECT_NE(compare.out.find("per-class AP at the last evaluated epoch"),
            std::string::npos);
  EXPECT_NE(
      compare.out.find("per-class AP@ap=sklearn at the last evaluated epoch"),
      std::string::npos);
  const Result csv = labrun("compare two --csv");
  ASSERT_EQ(csv.code, 0) << csv.err;
  EXPECT_NE(csv.out.find("\nclass_ap@ap=sklearn,"), std::string::npos);
  const std::string html = (dir_ / "two.html").string();
  const Result report = labrun("report two -o '" + html + "'");
  ASSERT_EQ(report.code, 0) << report.err;
  const std::string page = slurp(html);
  for (const char* title :
       {"Validation val/mAP per epoch",
        "Validation val/mAP@ap=sklearn per "
        "epoch",
        "AP per class at the last", "AP@ap=sklearn per class at"}) {
    EXPECT_NE(page.find(title), std::string::npos) << title;
  }
}

// The float32 values of a C-order '<f4' .npy file with this `shape` text.
std::vector<float> readFloatNpy(const std::string& path,
                                const std::string& shape) {
  const std::string npy = slurp(path);
  EXPECT_EQ(npy.substr(0, 6), "\x93NUMPY");
  EXPECT_NE(npy.find("'descr': '<f4'"), std::string::npos);
  EXPECT_NE(npy.find("'shape': " + shape), std::string::npos);
  const std::size_t header = 10 + static_cast<unsigned char>(npy.at(8)) +
                             256 * static_cast<unsigned char>(npy.at(9));
  std::vector<float> values((npy.size() - header) / sizeof(float));
  std::memcpy(values.data(), npy.data() + header,
              values.size() * sizeof(float));
  return values;
}

// Lines "KEY v v v ..." of a reference.txt, in file order.
std::vector<std::vector<double>> referenceRows(const std::string& path,
                                               const std::string& key) {
  std::vector<std::vector<double>> rows;
  std::istringstream file(slurp(path));
  for (std::string line; std::getline(file, line);) {
    std::istringstream fields(line);
    std::string name;
    fields >> name;
    if (name != key) continue;
    rows.emplace_back(std::istream_iterator<double>(fields),
                      std::istream_iterator<double>());
  }
  return rows;
}

// released_ssgrl.py --eval's images, labels and model, written to
// `folder`; returns the script's exit status.
int writeReleasedEvalSet(const std::string& folder) {
  return std::system(("/usr/bin/python3 '" + kSource +
                      "/tests/fixtures/released_ssgrl.py' --eval '" + folder +
                      "'")
                         .c_str());
}

// The data section of a spec in that folder.
const std::string kReleasedEvalData = R"(data:
  format: list
  root: .
  classes: classes.txt
  train: {annotations: labels.txt, images: images}
  val: {annotations: labels.txt, images: images}
  batch_size: 3
  transforms:
    train: [center_crop 128, normalize]
    val: [center_crop 128, normalize]
)";

// A released-format SSGRL checkpoint (released_ssgrl.py --eval: the released
// layout with a ResNet-18 under resnet_101.*) scored without training: the
// logits and mAP are the Python reference's, and the store holds a run
// marked evaluation-only with its evaluation.
TEST_F(CliTest, EvalOfASpecScoresTheWeightsItImports) {
  const std::string fixture = (dir_ / "released").string();
  ASSERT_EQ(writeReleasedEvalSet(fixture), 0);
  const std::string spec = writeSpec("released/eval.yaml", R"(name: released
threads: 1
)" + kReleasedEvalData + R"(model:
  backbone: {name: resnet, depth: 18, extra_pool: 2,
             weights: ssgrl_eval.pth.tar, weights_prefix: resnet_101.}
  head: {name: ssgrl, compat: released, weights: ssgrl_eval.pth.tar,
         embeddings: words.npy, adjacency: adjacency.npy, attention_dim: 16,
         output_dim: 12, time_steps: 3}
loss: {name: bce}
metrics: [{name: map, ap: sklearn}]
)");
  const std::string scores = (dir_ / "scores.npy").string();
  const Result eval = labrun("eval '" + spec + "' --scores '" + scores + "'");
  ASSERT_EQ(eval.code, 0) << eval.err;
  EXPECT_NE(eval.out.find("(evaluation only) recorded in"), std::string::npos)
      << eval.out;

  const std::string reference = fixture + "/reference.txt";
  const auto logits = referenceRows(reference, "logits");
  const std::vector<float> probabilities = readFloatNpy(scores, "(8, 5)");
  ASSERT_EQ(logits.size(), 8u);
  ASSERT_EQ(probabilities.size(), 40u);
  double worst = 0;
  for (std::size_t i = 0; i < 8; ++i) {
    for (std::size_t k = 0; k < 5; ++k) {
      const double p = probabilities[i * 5 + k];
      worst = std::max(worst, std::abs(std::log(p / (1 - p)) - logits[i][k]));
    }
  }
  EXPECT_LE(worst, 1e-5) << "max |logit difference|";

  auto store = labrun::store::RunStore::open(db(), /*read_only=*/true);
  const auto run = store->query(
      "SELECT r.kind, r.status, (SELECT count(*) FROM checkpoints), "
      "(SELECT count(*) FROM metrics), e.checkpoint, e.scores_path, "
      "(SELECT value FROM evaluation_metrics WHERE evaluation = e.id AND "
      "key = 'mAP'), s.kind FROM runs r JOIN evaluations e ON e.run = r.uuid "
      "JOIN run_summary s ON s.uuid = r.uuid");
  ASSERT_EQ(run.rows.size(), 1u);
  const auto& row = run.rows[0];
  EXPECT_EQ(*row[0], "eval");
  EXPECT_EQ(*row[1], "FINISHED");
  EXPECT_EQ(*row[2], "0");  // nothing trained, nothing saved
  EXPECT_EQ(*row[3], "0");
  EXPECT_EQ(*row[4], "init");
  EXPECT_EQ(*row[5], scores);
  EXPECT_NEAR(std::stod(*row[6]), referenceRows(reference, "mAP")[0][0], 1e-9);
  EXPECT_EQ(*row[7], "eval");
  const auto ap = store->query(
      "SELECT value FROM evaluation_class_metrics WHERE metric = 'AP' "
      "ORDER BY class_index");
  const std::vector<double> want = referenceRows(reference, "AP")[0];
  ASSERT_EQ(ap.rows.size(), want.size());
  for (std::size_t k = 0; k < want.size(); ++k) {
    EXPECT_NEAR(std::stod(*ap.rows[k][0]), want[k], 1e-9) << "class " << k;
  }
  EXPECT_NE(labrun("runs").out.find(" eval "), std::string::npos);
  EXPECT_NE(labrun("show released").out.find("kind:           eval"),
            std::string::npos);
}

// Exit codes as for `labrun run`: a spec error records nothing (2); a
// failure while evaluating marks the evaluation-only run FAILED (1).
TEST_F(CliTest, EvalOfASpecFailsAsARunDoes) {
  expectSpecError("eval " + kSmoke + " model.head.name=nohead", "nohead");
  EXPECT_EQ(labrun("eval smoke --checkpoint init").code, 2);
  // A file in a folder that does not exist: a usage error, before anything.
  const Result nowhere =
      labrun("eval " + kSmoke + kFast + " --scores nowhere/scores.npy");
  EXPECT_EQ(nowhere.code, 2);
  EXPECT_NE(nowhere.err.find("nowhere/scores.npy: no such folder"),
            std::string::npos)
      << nowhere.err;
  EXPECT_EQ(runCount(), 0);
  // A file that cannot be put in place (the kill shim fails its rename):
  // found when the scores are written, after the evaluation.
  const Result failed =
      shell(std::string("LD_PRELOAD='") + LABRUN_KILL_SHIM +
            "' LABRUN_FAIL_RENAME_TO=taken.npy " +
            labrunCommand("eval " + kSmoke + kFast + " --scores taken.npy"));
  EXPECT_EQ(failed.code, 1);
  EXPECT_NE(failed.err.find("taken.npy: rename failed: Input/output error"),
            std::string::npos)
      << failed.err;
  EXPECT_FALSE(fs::exists(dir_ / "taken.npy"));
  for (const auto& entry : fs::directory_iterator(dir_)) {
    EXPECT_EQ(entry.path().filename().string().find("taken.npy.tmp"),
              std::string::npos);
  }
  auto store = labrun::store::RunStore::open(db(), /*read_only=*/true);
  const auto row = store->query(
      "SELECT kind, status, (SELECT count(*) FROM evaluations) "
      "FROM runs");
  ASSERT_EQ(row.rows.size(), 1u);
  EXPECT_EQ(*row.rows[0][0], "eval");
  EXPECT_EQ(*row.rows[0][1], "FAILED");
  EXPECT_EQ(*row.rows[0][2], "0");
  // Resuming it would train it (it once did, recording training metrics
  // and checkpoints under an evaluation-only run).
  const Result resumed = labrun("resume smoke");
  EXPECT_EQ(resumed.code, 2);
  EXPECT_NE(resumed.err.find("is an evaluation-only run (labrun eval SPEC): "
                             "it trains nothing"),
            std::string::npos)
      << resumed.err;
  EXPECT_EQ(store
                ->query("SELECT status, resumes, (SELECT count(*) FROM "
                        "metrics) FROM runs")
                .rows.at(0),
            (std::vector<std::optional<std::string>>{"FAILED", "0", "0"}));
}

TEST_F(CliTest, MetricInstancesThatWouldShareKeysAreASpecError) {
  const std::string twice =
      writeSpec("twice.yaml",
                "extends: " + kSmoke + "\nmetrics:\n  - map\n  - name: map\n");
  const Result clash = labrun("run '" + twice + "'");
  EXPECT_EQ(clash.code, 2);
  // Both entries, with file:line.
  EXPECT_NE(clash.err.find("twice.yaml:4:5: metrics.1: records the same keys "
                           "as metrics.0 (" +
                           twice + ":3:5)"),
            std::string::npos)
      << clash.err;
  EXPECT_NE(clash.err.find("label"), std::string::npos);
  const std::string same =
      writeSpec("same.yaml", "extends: " + kSmoke +
                                 "\nmetrics:\n  - {name: prf, label: a}\n"
                                 "  - {name: prf, threshold: 0.7, label: a}\n");
  EXPECT_EQ(labrun("run '" + same + "'").code, 2);
  // --dry-run finds it too: it needs no data.
  const Result dry = labrun("run '" + same + "' --dry-run");
  EXPECT_EQ(dry.code, 2);
  EXPECT_NE(dry.err.find("metrics.1: records the same keys as metrics.0"),
            std::string::npos)
      << dry.err;
  EXPECT_EQ(dry.out, "");
  // So do the watched keys where the class names need no annotation file:
  // the generated set, a recipe's data.classes list (COCO is not here), and
  // VOC's own classes.
  for (const std::string spec :
       {kSmoke, kSource + "/experiments/coco2014_ssgrl_r101.yaml",
        kSource + "/experiments/voc2007_baseline_r101.yaml"}) {
    const Result watched =
        labrun("run " + spec + " checkpoint.best_by=val/nope --dry-run");
    EXPECT_EQ(watched.code, 2) << spec;
    EXPECT_NE(watched.err.find("checkpoint.best_by: unknown validation key "
                               "'val/nope'"),
              std::string::npos)
        << watched.err;
  }
  // Where only the annotations give the classes, the dry run says what it
  // left to the run.
  const Result unchecked = labrun("run " + kSource +
                                  "/experiments/coco2014_ssgrl_released.yaml "
                                  "checkpoint.best_by=val/nope --dry-run");
  EXPECT_EQ(unchecked.code, 0) << unchecked.err;
  EXPECT_NE(unchecked.err.find("not checked yet: checkpoint.best_by (the run "
                               "checks them once it has read the class "
                               "names from the annotations"),
            std::string::npos)
      << unchecked.err;
  const std::string odd = writeSpec(
      "odd.yaml",
      "extends: " + kSmoke + "\nmetrics:\n  - {name: map, label: 'a b/c'}\n");
  const Result bad = labrun("run '" + odd + "'");
  EXPECT_EQ(bad.code, 2);
  EXPECT_NE(bad.err.find("odd.yaml:3:24: metrics.0: label 'a b/c'"),
            std::string::npos)
      << bad.err;
  EXPECT_FALSE(fs::exists(db()) && labrun::store::RunStore::open(db(), true)
                                           ->query("SELECT count(*) FROM runs")
                                           .rows[0][0]
                                           .value() != "0");
}

TEST_F(CliTest, ScoresJoinToSamplesWithTruthAndLogits) {
  ASSERT_EQ(labrun("run " + kSmoke + kFast + " -q").code, 0);
  const std::string csv = (dir_ / "scores.csv").string();
  const Result eval =
      labrun("eval smoke --scores '" + csv + "' --scores-with truth,logits");
  ASSERT_EQ(eval.code, 0) << eval.err;
  std::istringstream lines(slurp(csv));
  std::string header;
  std::getline(lines, header);
  EXPECT_EQ(header.rfind("index,image,shape0,", 0), 0u) << header;
  EXPECT_NE(header.find(",shape7,truth:shape0,"), std::string::npos);
  EXPECT_NE(header.find(",truth:shape7,logit:shape0,"), std::string::npos);
  std::vector<std::vector<std::string>> rows;
  for (std::string line; std::getline(lines, line);) {
    std::vector<std::string> cells;
    std::istringstream fields(line);
    for (std::string cell; std::getline(fields, cell, ',');) {
      cells.push_back(cell);
    }
    rows.push_back(cells);
  }
  ASSERT_EQ(rows.size(), 128u);
  for (std::size_t i = 0; i < rows.size(); ++i) {
    ASSERT_EQ(rows[i].size(), 2u + 3 * 8);
    // The synthetic set has no files: the sample index names a sample.
    EXPECT_EQ(rows[i][0], std::to_string(i));
    EXPECT_EQ(rows[i][1], std::to_string(i));
    for (int k = 0; k < 8; ++k) {
      const double probability = std::stod(rows[i][2 + k]);
      const std::string truth = rows[i][10 + k];
      EXPECT_TRUE(truth == "0" || truth == "1") << truth;
      const double logit = std::stod(rows[i][18 + k]);
      EXPECT_NEAR(probability, 1 / (1 + std::exp(-logit)), 1e-6);
    }
  }
  // .npy: probabilities, and beside them the rows, truth and logits.
  const std::string npy = (dir_ / "scores.npy").string();
  ASSERT_EQ(
      labrun("eval smoke --scores '" + npy + "' --scores-with truth").code, 0);
  std::istringstream side(slurp((dir_ / "scores.rows.csv").string()));
  std::string line;
  std::getline(side, line);
  EXPECT_EQ(line, "index,image");
  std::getline(side, line);
  EXPECT_EQ(line, "0,0");
  EXPECT_NE(slurp((dir_ / "scores.truth.npy").string()).find("(128, 8)"),
            std::string::npos);
  EXPECT_FALSE(fs::exists(dir_ / "scores.logits.npy"));
  // --scores-with needs --scores, and knows its words.
  EXPECT_EQ(labrun("eval smoke --scores-with truth").code, 2);
  EXPECT_EQ(labrun("eval smoke --scores x.csv --scores-with labels").code, 2);
}

// Splits CSV lines (LF or CRLF, no quoted fields) into cells; the header is
// dropped.
std::vector<std::vector<std::string>> csvRows(const std::string& text) {
  std::istringstream lines(text);
  std::vector<std::vector<std::string>> rows;
  std::string line;
  std::getline(lines, line);
  while (std::getline(lines, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    std::vector<std::string> cells;
    std::istringstream fields(line);
    for (std::string cell; std::getline(fields, cell, ',');) {
      cells.push_back(cell);
    }
    if (!line.empty() && line.back() == ',') cells.emplace_back();
    rows.push_back(cells);
  }
  return rows;
}

// The acceptance case of issue #15: predict over a folder with a truncated
// JPEG and a text file named .jpg reports both, predicts the rest, exits 0;
// scores equal those of `labrun eval --scores` for the same images, and the
// per-class thresholds chosen by `eval --thresholds f1` are applied.
TEST_F(CliTest, PredictLabelsAFolderSkippingUnusableImages) {
  // 16 images of coloured squares (red, green, blue: one class each), the
  // labels as a list, and a folder to label.
  writeSpec("make_images.py", R"py(import os, random
from PIL import Image
random.seed(3)
colours = [(230, 30, 30), (30, 200, 30), (30, 30, 230)]
os.makedirs("images"); os.makedirs("inbox/sub")
with open("classes.txt", "w") as f:
    f.write("red\ngreen\nblue\n")
with open("labels.txt", "w") as f:
    for i in range(16):
        image = Image.new("RGB", (24, 20), (128, 128, 128))
        present = [k for k in range(3) if random.random() < 0.5]
        for k in present:
            x = random.randint(0, 14)
            image.paste(colours[k], (x, 2 + 6 * k, x + 9, 7 + 6 * k))
        image.save("images/%02d.png" % i)
        f.write("images/%02d.png %s\n" % (i, " ".join(map(str, present))))
Image.open("images/00.png").save("inbox/a.png")
Image.open("images/01.png").save("inbox/sub/b.jpg", quality=95)
data = open("inbox/sub/b.jpg", "rb").read()
open("inbox/sub/truncated.jpg", "wb").write(data[: len(data) // 2])
open("inbox/notes.jpg", "w").write("not an image\n")
open("inbox/readme.txt", "w").write("not listed: not an image name\n")
os.makedirs("empty")
)py");
  ASSERT_EQ(std::system(("cd '" + dir_.string() +
                         "' && /usr/bin/python3 make_images.py")
                            .c_str()),
            0);
  writeSpec("colours.yaml", R"(name: colours
seed: 0
threads: 1
data:
  format: list
  root: .
  classes: classes.txt
  train: {annotations: labels.txt}
  val: {annotations: labels.txt}
  batch_size: 4
  workers: 2
  transforms:
    train: [resize 20x24, normalize]
    val: [resize 20x24, normalize]
model:
  backbone: {name: smallconv, channels: [8, 16]}
  head: {name: fc, pool: avg}
loss: {name: bce}
metrics: [{name: map}]
train: {epochs: 2, log_every: 0}
)");
  const Result trained = labrun("run colours.yaml -q");
  ASSERT_EQ(trained.code, 0) << trained.err;

  // Without thresholds yet: a global 0.5.
  const Result plain = labrun("predict colours inbox --format csv");
  ASSERT_EQ(plain.code, 0) << plain.err;
  EXPECT_NE(plain.err.find("inbox/sub/truncated.jpg: "), std::string::npos)
      << plain.err;
  EXPECT_NE(plain.err.find("inbox/notes.jpg: "), std::string::npos)
      << plain.err;
  EXPECT_NE(plain.err.find("predicted 2 images, skipped 2 unusable, at "
                           "threshold 0.5"),
            std::string::npos)
      << plain.err;
  // RFC 4180: CRLF line ends.
  EXPECT_EQ(plain.out.rfind("image,labels,label_1,score_1,label_2,score_2,"
                            "label_3,score_3\r\n",
                            0),
            0u)
      << plain.out;
  const auto predicted = csvRows(plain.out);
  ASSERT_EQ(predicted.size(), 2u) << plain.out;
  EXPECT_EQ(predicted[0][0], "inbox/a.png");
  EXPECT_EQ(predicted[1][0], "inbox/sub/b.jpg");

  // Every image of the set, all classes listed, against eval's scores.
  const Result chosen = labrun("eval colours --thresholds f1 --scores '" +
                               (dir_ / "scores.csv").string() + "'");
  ASSERT_EQ(chosen.code, 0) << chosen.err;
  EXPECT_NE(chosen.out.find(" CF1@thresholds "), std::string::npos)
      << chosen.out;
  EXPECT_NE(chosen.out.find(" OF1@thresholds "), std::string::npos)
      << chosen.out;
  const Result all = labrun("predict colours '" + (dir_ / "images").string() +
                            "' --format csv -o all.csv -q");
  ASSERT_EQ(all.code, 0) << all.err;
  EXPECT_NE(all.err.find("predicted 16 images, skipped 0 unusable, at "
                         "per-class thresholds of evaluation 1"),
            std::string::npos)
      << all.err;
  std::map<std::string, std::vector<double>> reference;  // file -> scores
  for (const auto& row : csvRows(slurp((dir_ / "scores.csv").string()))) {
    ASSERT_EQ(row.size(), 5u);
    reference[fs::path(row[1]).filename().string()] = {
        std::stod(row[2]), std::stod(row[3]), std::stod(row[4])};
  }
  auto store = labrun::store::RunStore::open(db(), /*read_only=*/true);
  const auto stored = store->query(
      "SELECT class_name, probability FROM evaluation_thresholds WHERE "
      "evaluation = 1 ORDER BY class_index");
  ASSERT_EQ(stored.rows.size(), 3u);
  const std::vector<std::string> classes = {"red", "green", "blue"};
  const auto rows = csvRows(slurp((dir_ / "all.csv").string()));
  ASSERT_EQ(rows.size(), 16u);
  for (const auto& row : rows) {
    ASSERT_EQ(row.size(), 8u);
    const std::string file = fs::path(row[0]).filename().string();
    ASSERT_EQ(reference.count(file), 1u) << file;
    for (int rank = 0; rank < 3; ++rank) {
      const auto k =
          std::find(classes.begin(), classes.end(), row[2 + 2 * rank]) -
          classes.begin();
      ASSERT_LT(k, 3) << row[2 + 2 * rank];
      const double score = std::stod(row[3 + 2 * rank]);
      EXPECT_NEAR(score, reference[file][k], 1e-6) << file << " " << classes[k];
      // Labelled where the score reaches the class's threshold (a class
      // without one: 0.5); a score at the threshold itself is not checked.
      const double threshold =
          stored.rows[k][1] ? std::stod(*stored.rows[k][1]) : 0.5;
      if (std::abs(score - threshold) > 1e-6) {
        EXPECT_EQ(row[1].find(classes[k]) != std::string::npos,
                  score > threshold)
            << file << " " << classes[k] << " labels " << row[1];
      }
    }
  }

  // --thresholds stored: the run's thresholds again, with their figures.
  const Result again = labrun("eval colours --thresholds stored");
  ASSERT_EQ(again.code, 0) << again.err;
  const auto same = store->query(
      "SELECT count(*) FROM evaluation_thresholds AS a JOIN "
      "evaluation_thresholds AS b ON b.class_index = a.class_index AND "
      "b.logit IS a.logit AND b.f1 IS a.f1 WHERE a.evaluation = 1 AND "
      "b.evaluation = 2");
  EXPECT_EQ(*same.rows[0][0], "3");
  EXPECT_EQ(labrun("eval colours.yaml --thresholds stored").code, 2);

  // An explicit --threshold applies to every class; JSON lines; no images.
  const Result lines = labrun(
      "predict colours inbox/a.png --threshold 0.9 --format jsonl "
      "--top-k 1");
  ASSERT_EQ(lines.code, 0) << lines.err;
  EXPECT_EQ(lines.out.rfind("{\"image\":\"inbox/a.png\",\"labels\":[", 0), 0u)
      << lines.out;
  EXPECT_EQ(std::count(lines.out.begin(), lines.out.end(), '\n'), 1);
  EXPECT_NE(lines.err.find("at threshold 0.9"), std::string::npos);
  EXPECT_EQ(labrun("predict colours empty").code, 2);
  EXPECT_EQ(labrun("predict colours nowhere").code, 2);
  const Result no_images = labrun("predict colours");
  EXPECT_EQ(no_images.code, 2);
  EXPECT_NE(no_images.err.find("predict: no images given: name image files, "
                               "folders of images or --list FILE"),
            std::string::npos)
      << no_images.err;

  // A spec with a checkpoint file and no store: the same scores, and no
  // store created (reading commands never create one).
  const std::string best = *store
                                ->query(
                                    "SELECT path FROM checkpoints WHERE "
                                    "best = 1")
                                .rows.at(0)[0];
  const Result storeless =
      shell("'" + std::string(LABRUN_BINARY) +
            "' --db none.db predict colours.yaml inbox/a.png --threshold 0.9 "
            "--format jsonl --top-k 1 --checkpoint '" +
            best + "'");
  ASSERT_EQ(storeless.code, 0) << storeless.err;
  EXPECT_EQ(storeless.out, lines.out);
  EXPECT_FALSE(fs::exists(dir_ / "none.db"));
  // The class list reordered since the run: refused, not mislabelled.
  { std::ofstream(dir_ / "classes.txt") << "green\nred\nblue\n"; }
  for (const char* command :
       {"predict colours inbox/a.png", "export colours", "eval colours"}) {
    const Result relabelled = labrun(command);
    EXPECT_EQ(relabelled.code, 2) << command;
    EXPECT_NE(relabelled.err.find(
                  "was trained on other classes than the spec's data gives "
                  "now (class 0 is 'green', recorded as 'red')"),
              std::string::npos)
        << relabelled.err;
  }
  // So is another spec's model with this run's checkpoint (8 classes).
  const Result other_model =
      labrun("predict " + kSmoke + " inbox/a.png --checkpoint '" + best + "'");
  EXPECT_EQ(other_model.code, 2);
  EXPECT_NE(other_model.err.find("was trained on other classes than the "
                                 "spec's data gives now (8 classes, "
                                 "recorded 3)"),
            std::string::npos)
      << other_model.err;
  EXPECT_FALSE(fs::exists(dir_ / "colours.pt"));
  { std::ofstream(dir_ / "classes.txt") << "red\ngreen\nblue\n"; }
  // The run's best checkpoint moved away: said before the model is built.
  fs::rename(best, best + ".moved");
  const Result moved = labrun("predict colours inbox/a.png");
  EXPECT_EQ(moved.code, 2);
  EXPECT_NE(moved.err.find("predict colours: --checkpoint best: run " +
                           store->resolveRun("colours") + " recorded " + best +
                           " but it is missing (moved or deleted)"),
            std::string::npos)
      << moved.err;
}

// What a command writes (-o, --scores) never replaces the store, an input,
// a recorded checkpoint or a device, under any spelling, and is refused
// before any work; a checkpoint is its run's under any name, or as a copy.
// A run name that is not UTF-8 still prints as JSON.
TEST_F(CliTest, OutputsAndCheckpointsAreKnownAsFilesWhateverTheirNames) {
  // The store that the evaluation would create, named otherwise.
  expectSpecError("eval " + kSmoke + kFast + " --scores ./runs.db",
                  "eval --scores ./runs.db: that is the run store");
  EXPECT_FALSE(fs::exists(db()));
  const std::string latin1 = "caf\xe9";
  ASSERT_EQ(labrun("run " + kSmoke + kFast + " -q name=a").code, 0);
  ASSERT_EQ(
      labrun("run " + kSmoke + kFast + " -q seed=1 name='" + latin1 + "'").code,
      0);
  auto store = labrun::store::RunStore::open(db(), /*read_only=*/true);
  const std::string b = store->resolveRun(latin1);
  const std::string b_best = *store
                                  ->query(
                                      "SELECT path FROM checkpoints WHERE "
                                      "run = ?1 AND best = 1",
                                      {b})
                                  .rows.at(0)[0];
  const std::string b_bytes = slurp(b_best);
  const std::string b_relative = "./" + fs::relative(b_best, dir_).string();
  const auto expectRefused = [&](const std::string& args,
                                 const std::string& expected) {
    const Result result = labrun(args);
    EXPECT_EQ(result.code, 2) << args << "\n" << result.err;
    EXPECT_NE(result.err.find(expected), std::string::npos) << result.err;
  };
  expectRefused("eval a --scores ./runs.db",
                "eval --scores ./runs.db: that is the run store");
  expectRefused("report a -o runs.db-wal",
                "report -o runs.db-wal: that is the run store");
  expectRefused(
      "export a -o " + b_relative,
      "export -o " + b_relative + ": that is a checkpoint of run " + b);
  { std::ofstream(dir_ / "input.png") << "not an image\n"; }
  expectRefused("predict a input.png -o ./input.png",
                "predict -o ./input.png: that is an input (input.png)");
  fs::create_symlink("input.png", dir_ / "link.csv");
  expectRefused("predict a input.png -o link.csv",
                "--output: link.csv: a symbolic link, expected a file name");
  // A file named as the run is no input: -o a passes, and the one image
  // fails.
  expectRefused("predict a input.png -o a",
                "predict: none of the 1 image(s) given could be read");
  EXPECT_FALSE(fs::exists(dir_ / "a"));
  EXPECT_EQ(slurp((dir_ / "input.png").string()), "not an image\n");
  EXPECT_EQ(slurp(b_best), b_bytes);
  EXPECT_EQ(*store->query("PRAGMA integrity_check").rows.at(0)[0], "ok");

  // b's checkpoint named another way, or copied: not run a's.
  const std::string not_a = "that file is a checkpoint of run ";
  expectRefused("eval a --checkpoint " + b_relative, not_a);
  fs::copy_file(b_best, dir_ / "copy.pt");
  expectRefused("eval a --checkpoint copy.pt", not_a + latin1);
  EXPECT_EQ(*store->query("SELECT count(*) FROM evaluations").rows.at(0)[0],
            "0");
  // A spec applied to it: an evaluation of b, naming the file as it is.
  ASSERT_EQ(labrun("eval " + kSmoke + kFast + " --checkpoint " + b_relative +
                   " --scores S.NPY")
                .code,
            0);
  const auto evaluation =
      store->query("SELECT run, checkpoint FROM evaluations").rows;
  ASSERT_EQ(evaluation.size(), 1u);
  EXPECT_EQ(*evaluation[0][0], b);
  EXPECT_EQ(*evaluation[0][1], b_best);
  // .NPY in capitals is numpy's format too, its rows beside it.
  EXPECT_EQ(slurp((dir_ / "S.NPY").string()).rfind("\x93NUMPY", 0), 0u);
  EXPECT_TRUE(fs::exists(dir_ / "S.rows.csv"));

  const Result json = labrun("runs --json");
  EXPECT_EQ(json.code, 0) << json.err;
  EXPECT_NE(json.out.find("\"name\": \"caf\xEF\xBF\xBD\""), std::string::npos)
      << json.out;
}

// The acceptance case of issue #15 item 3: `labrun export` of two fc runs
// (average and max pooling) and an ssgrl run (ResNet-18 on released_ssgrl.py's
// evaluation images) loads with torch.load into torchvision's ResNet + fc and
// into the transcription of the released SSGRL model
// (tests/fixtures/check_export.py), which compute labrun's logits within 1e-5;
// imported back through `weights:`, so does labrun. The JSON holds what using
// the model takes; `show` lists stored thresholds.
TEST_F(CliTest, ExportLoadsInPythonAndBackThroughWeights) {
  const fs::path fixture = dir_ / "released";
  ASSERT_EQ(writeReleasedEvalSet(fixture.string()), 0);
  const std::string common = "threads: 1\nseed: 0\n" + kReleasedEvalData +
                             R"(loss: {name: bce}
metrics: [{name: map}]
train: {epochs: 1, log_every: 0}
)";
  struct Case {
    std::string name, head_name, layout, backbone, head, imported_backbone;
  };
  const std::string ssgrl_head =
      "{name: ssgrl, compat: released, embeddings: words.npy, adjacency: "
      "adjacency.npy, attention_dim: 16, output_dim: 12, time_steps: 3";
  const std::vector<Case> cases = {
      {"fc", "fc", "torchvision", "{name: resnet, depth: 18", "{name: fc",
       "{name: resnet, depth: 18, weights: fc.pt}"},
      {"fc_max", "fc", "torchvision", "{name: resnet, depth: 18",
       "{name: fc, pool: max", "{name: resnet, depth: 18, weights: fc_max.pt}"},
      {"ssgrl", "ssgrl", "ssgrl-released",
       "{name: resnet, depth: 18, extra_pool: 2", ssgrl_head,
       "{name: resnet, depth: 18, extra_pool: 2, weights: ssgrl.pt, "
       "weights_prefix: resnet_101.}"}};
  auto store = [this] {
    return labrun::store::RunStore::open(db(), /*read_only=*/true);
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    const std::string spec = writeSpec("released/" + c.name + ".yaml",
                                       "name: " + c.name + "\n" + common +
                                           "model:\n  backbone: " + c.backbone +
                                           "}\n  head: " + c.head + "}\n");
    const Result trained = labrun("run '" + spec + "' -q");
    ASSERT_EQ(trained.code, 0) << trained.err;
    // labrun's logits; thresholds for the fc run only.
    const std::string scores = (fixture / (c.name + "_scores.npy")).string();
    const Result scored = labrun("eval " + c.name + " --scores '" + scores +
                                 "' --scores-with logits" +
                                 (c.name == "fc" ? " --thresholds f1" : ""));
    ASSERT_EQ(scored.code, 0) << scored.err;

    const std::string pt = (fixture / (c.name + ".pt")).string();
    const Result exported = labrun("export " + c.name + " -o '" + pt + "'");
    ASSERT_EQ(exported.code, 0) << exported.err;
    EXPECT_NE(exported.out.find("as " + c.layout + " ("), std::string::npos)
        << exported.out;
    const std::string json = (fixture / (c.name + ".json")).string();
    const Result python = shell(
        "/usr/bin/python3 '" + kSource + "/tests/fixtures/check_export.py' '" +
        json + "' '" + (fixture / (c.name + "_scores.rows.csv")).string() +
        "' '" + (fixture / (c.name + "_scores.logits.npy")).string() + "' '" +
        fixture.string() + "'");
    EXPECT_EQ(python.code, 0) << python.out << python.err;
    EXPECT_NE(python.out.find("layout " + c.layout +
                              ": 8 images x 5 classes, logits in ["),
              std::string::npos)
        << python.out;

    // What the JSON says, against the store.
    const auto facts = nlohmann::json::parse(slurp(json));
    EXPECT_EQ(facts.at("layout"), c.layout);
    EXPECT_EQ(facts.at("state_dict"), c.name + ".pt");
    EXPECT_EQ(facts.at("classes").get<std::vector<std::string>>(),
              (std::vector<std::string>{"class0", "class1", "class2", "class3",
                                        "class4"}));
    EXPECT_EQ(facts.at("input").at("height"), 128);
    EXPECT_EQ(facts.at("input").at("steps").get<std::vector<std::string>>(),
              (std::vector<std::string>{"center_crop 128", "normalize"}));
    EXPECT_EQ(
        facts.at("input").at("normalize").at("std").get<std::vector<double>>(),
        (std::vector<double>{0.229, 0.224, 0.225}));
    EXPECT_EQ(facts.at("model").at("backbone").at("name"), "resnet");
    EXPECT_EQ(facts.at("model").at("backbone").at("params").at("depth"), 18);
    EXPECT_EQ(facts.at("model").at("head").at("name"), c.head_name);
    const auto run = store()->query(
        "SELECT r.uuid, r.spec_hash, c.sha256 FROM runs r JOIN checkpoints c "
        "ON c.run = r.uuid AND c.best = 1 WHERE r.name = ?1",
        {c.name});
    ASSERT_EQ(run.rows.size(), 1u);
    EXPECT_EQ(facts.at("run").at("uuid"), *run.rows[0][0]);
    EXPECT_EQ(facts.at("spec_hash"), *run.rows[0][1]);
    EXPECT_EQ(facts.at("checkpoint").at("sha256"), *run.rows[0][2]);
    EXPECT_EQ(facts.at("checkpoint").at("which"), "best");
    if (c.name == "fc") {
      const auto stored = store()->query(
          "SELECT iif(logit IS NULL, NULL, printf('%.17g', logit)) FROM "
          "evaluation_thresholds ORDER BY "
          "class_index");
      ASSERT_EQ(stored.rows.size(), 5u);
      const auto& logits = facts.at("thresholds").at("logit");
      ASSERT_EQ(logits.size(), 5u);
      for (std::size_t k = 0; k < 5; ++k) {
        if (!stored.rows[k][0]) {
          EXPECT_TRUE(logits[k].is_null());
        } else {
          EXPECT_DOUBLE_EQ(logits[k].get<double>(),
                           std::stod(*stored.rows[k][0]));
        }
      }
    } else {
      EXPECT_TRUE(facts.at("thresholds").is_null());
    }

    // Back into labrun through the plugins' `weights:`.
    const std::string imported = writeSpec(
        "released/" + c.name + "_import.yaml",
        "name: " + c.name + "_import\n" + common +
            "model:\n  backbone: " + c.imported_backbone +
            "\n  head: " + c.head + ", weights: " + c.name + ".pt}\n");
    const std::string again =
        (fixture / (c.name + "_import_scores.npy")).string();
    const Result reimported = labrun("eval '" + imported + "' --scores '" +
                                     again + "' --scores-with logits");
    ASSERT_EQ(reimported.code, 0) << reimported.err;
    const auto want = readFloatNpy(
        (fixture / (c.name + "_scores.logits.npy")).string(), "(8, 5)");
    const auto got = readFloatNpy(
        (fixture / (c.name + "_import_scores.logits.npy")).string(), "(8, 5)");
    ASSERT_EQ(got.size(), 40u);
    ASSERT_EQ(want.size(), 40u);
    for (std::size_t i = 0; i < got.size(); ++i) {
      EXPECT_NEAR(got[i], want[i], 1e-5) << "logit " << i;
    }
  }

  // show: the fc run's thresholds, none for the ssgrl run.
  const Result shown = labrun("show fc");
  ASSERT_EQ(shown.code, 0) << shown.err;
  EXPECT_NE(shown.out.find("\nper-class thresholds (evaluation 1)\n"),
            std::string::npos)
      << shown.out;
  EXPECT_NE(shown.out.find(" class4 "), std::string::npos) << shown.out;
  EXPECT_EQ(labrun("show ssgrl").out.find("per-class thresholds"),
            std::string::npos);

  // Usage errors (2), naming what is wrong; nothing written.
  const Result unknown = labrun("export nosuchrun");
  EXPECT_EQ(unknown.code, 2);
  EXPECT_NE(unknown.err.find("nosuchrun"), std::string::npos) << unknown.err;
  // A run without checkpoints (an evaluation-only one): the same words
  // from each command that needs one.
  for (const auto& [command, rest] :
       std::vector<std::pair<std::string, std::string>>{
           {"export", " -o x.pt"}, {"eval", ""}, {"predict", " " + kSmoke}}) {
    const Result bare = labrun(command + " fc_import" + rest);
    EXPECT_EQ(bare.code, 2) << command;
    EXPECT_NE(bare.err.find(command +
                            " fc_import: --checkpoint best: run fc_import ("),
              std::string::npos)
        << bare.err;
    EXPECT_NE(bare.err.find(") has no best checkpoint (it ran with "
                            "checkpoint.enabled: false, ended before its first "
                            "checkpoint, or only evaluated); give one with "
                            "--checkpoint FILE"),
              std::string::npos)
        << bare.err;
  }
  const Result nowhere = labrun("export fc -o nowhere/fc.pt");
  EXPECT_EQ(nowhere.code, 2);
  EXPECT_NE(nowhere.err.find("nowhere/fc.pt: no such folder"),
            std::string::npos)
      << nowhere.err;
  fs::create_directories(dir_ / "a_folder");
  const Result folder = labrun("export fc -o a_folder");
  EXPECT_EQ(folder.code, 2);
  EXPECT_NE(folder.err.find("a_folder: a folder, expected a file name"),
            std::string::npos)
      << folder.err;
  EXPECT_EQ(labrun("export fc -o fc.json").code, 2);
  EXPECT_EQ(labrun("export fc --checkpoint nowhere.pt").code, 2);
  // Another run's checkpoint would be exported as this run's model.
  const auto runs = labrun::store::RunStore::open(db(), /*read_only=*/true);
  const std::string ssgrl_best =
      runs->pickCheckpoint(runs->resolveRun("ssgrl"),
                           labrun::store::RunStore::CheckpointPick::kBest)
          ->path;
  const Result foreign =
      labrun("export fc -o x.pt --checkpoint '" + ssgrl_best + "'");
  EXPECT_EQ(foreign.code, 2);
  EXPECT_NE(foreign.err.find("export fc: --checkpoint " + ssgrl_best +
                             ": that file is a checkpoint of run ssgrl ("),
            std::string::npos)
      << foreign.err;
  EXPECT_FALSE(fs::exists(dir_ / "x.pt"));
  EXPECT_FALSE(fs::exists(dir_ / "nowhere"));
}

// A run's initial weights (a plugin's `weights` file, init_from's run) are
// read when it starts: eval, export and resume of the run use its own
// checkpoints and work once those are gone (another machine, a moved
// pretrained file). Evaluating the initial weights still needs them.
TEST_F(CliTest, ARunOutlivesTheFilesItStartedFrom) {
  ASSERT_EQ(labrun("run " + kSmoke + kFast + " -q name=source").code, 0);
  const Result exported = labrun("export source -o init.pt");
  ASSERT_EQ(exported.code, 0) << exported.err;
  const std::string from_file =
      " model.head.weights='" + (dir_ / "init.pt").string() + "'";
  killAfterCheckpoint("run " + kSmoke + kResumable + from_file + " name=file",
                      /*step=*/8);
  const Result warm =
      labrun("run " + kSmoke + kFast + " init_from=source -q name=warm");
  ASSERT_EQ(warm.code, 0) << warm.err;
  fs::remove(dir_ / "init.pt");
  const Result deleted = labrun("delete source --yes");
  ASSERT_EQ(deleted.code, 0) << deleted.err;

  const Result resumed = labrun("resume file -q");
  EXPECT_EQ(resumed.code, 0) << resumed.err;
  for (const std::string run : {"file", "warm"}) {
    SCOPED_TRACE(run);
    const Result eval = labrun("eval " + run);
    EXPECT_EQ(eval.code, 0) << eval.err;
    const Result again = labrun("export " + run + " -o " + run + ".pt");
    EXPECT_EQ(again.code, 0) << again.err;
  }
  // The spec's own weights, evaluated: the file is needed, and named.
  const Result initial = labrun("eval " + kSmoke + kFast + from_file);
  EXPECT_EQ(initial.code, 2);
  EXPECT_NE(initial.err.find("model.head: head plugin 'fc'"), std::string::npos)
      << initial.err;
  EXPECT_NE(initial.err.find((dir_ / "init.pt").string()), std::string::npos)
      << initial.err;
}

// init_from: a checkpoint file or a run of the store, the whole model or
// only some module prefixes (transfer); entries that do not fit are listed
// by key and shape.
TEST_F(CliTest, InitFromStartsFromACheckpointOrARunWholeOrInPart) {
  // No BatchNorm: with lr 0 the weights, and so the evaluation, stay put.
  const std::string no_bn = kFast + " model.backbone.batch_norm=false -q";
  ASSERT_EQ(labrun("run " + kSmoke + no_bn + " name=source").code, 0);
  std::string best;
  {
    auto store = labrun::store::RunStore::open(db(), /*read_only=*/true);
    best = *store->query("SELECT path FROM checkpoints WHERE best = 1")
                .rows.at(0)[0];
  }
  // The file, and the run by name (its best checkpoint).
  for (const std::string& source : {"'" + best + "'", std::string("source")}) {
    SCOPED_TRACE(source);
    const Result warm = labrun("run " + kSmoke + no_bn +
                               " name=warm train.epochs=1 optim.lr=0 "
                               "init_from=" +
                               source);
    ASSERT_EQ(warm.code, 0) << warm.err;
  }
  std::string best_map;
  {
    auto store = labrun::store::RunStore::open(db(), /*read_only=*/true);
    best_map =
        *store
             ->query(
                 "SELECT printf('%.17g', max(m.value)) FROM metrics m JOIN "
                 "runs r ON "
                 "r.uuid = m.run WHERE r.name = 'source' AND m.key = 'val/mAP'")
             .rows.at(0)[0];
  }
  const auto warmed = series("warm", "val/mAP");
  ASSERT_EQ(warmed.size(), 2u);
  for (const std::string& line : warmed) {
    EXPECT_EQ(line.substr(line.find('=') + 1), best_map);
  }
  const Result missing =
      labrun("run " + kSmoke + " init_from=nowhere.pt --dry-run");
  EXPECT_EQ(missing.code, 0);  // dry-run only resolves the spec

  // Nothing is recorded for a refused start.
  const std::int64_t runs = runCount();
  const auto expectRefused = [&](const std::string& args,
                                 const std::string& expected) {
    const Result result = labrun("run " + kSmoke + args);
    EXPECT_EQ(result.code, 2) << result.err;
    EXPECT_NE(result.err.find(expected), std::string::npos) << result.err;
    EXPECT_EQ(std::count(result.err.begin(), result.err.end(), '\n'), 1)
        << result.err;
    EXPECT_EQ(runCount(), runs);
  };
  expectRefused(kFast + " init_from=" + kSmoke,
                "init_from: " + kSmoke + " is not a labrun checkpoint");
  expectRefused(kFast + " init_from=nowhere",
                "init_from: 'nowhere' is neither a checkpoint file nor a run: "
                "run store '" +
                    db() + "': no run matches 'nowhere'");
  // Six classes instead of eight: the head cannot come along, the backbone
  // can.
  const std::string six = no_bn + " data.synthetic.num_classes=6";
  expectRefused(six + " init_from=source",
                "do not fit this model: mis-shaped keys (2): "
                "head.classifier.bias [8] in the file, [6] in the model, "
                "head.classifier.weight [8, 64] in the file, [6, 64] in the "
                "model");
  expectRefused(six + " init_from=source 'init_modules=[backbone, neck]'",
                "init_from: init_modules: 'neck' names no parameter or buffer "
                "of this model");
  // A run's damaged checkpoint is not taken.
  flipByte(best);
  expectRefused(kFast + " init_from=source",
                " recorded " + best +
                    " but it is damaged (its sha256 is not the one "
                    "recorded); name a checkpoint file instead");
  flipByte(best);  // back as it was
  const Result transfer = labrun("run " + kSmoke + six +
                                 " name=transfer init_from=source "
                                 "'init_modules=[backbone]'");
  EXPECT_EQ(transfer.code, 0) << transfer.err;
}

// SIGKILL at 10 I/O calls chosen by a seeded generator, each followed by
// `labrun resume`. A test-only LD_PRELOAD library (KillAtIo.cpp) counts the
// process's write-side calls and kills it at the chosen one, before the call
// runs: a timed kill would rarely land inside a checkpoint write (a few ms
// of a run), while this one lands exactly there or inside a store commit,
// deterministically, with nothing added to the shipped binary. The calls
// are drawn from the trace of an uninterrupted run on a fresh store: 5 of
// the store's (WAL, journal, database) and 5 of the checkpoints' (writes,
// fsyncs, renames); each killed run starts on a fresh store too, so that
// its calls are the traced ones.
TEST_F(CliTest, TenSeededKillsLoseNothing) {
  const std::string run =
      "run " + kSmoke + kResumable + " train.epochs=1 -q name=";
  const std::string trace = (dir_ / "io.trace").string();
  ::setenv("LD_PRELOAD", LABRUN_KILL_SHIM, 1);
  ::setenv("LABRUN_IO_TRACE_FILE", trace.c_str(), 1);
  const Result whole = labrun(run + "whole");
  ::unsetenv("LABRUN_IO_TRACE_FILE");
  ASSERT_EQ(whole.code, 0) << whole.err;
  const auto loss = series("whole", "train/loss");
  const auto map = series("whole", "val/mAP");
  ASSERT_EQ(loss.size(), 12u);
  std::vector<std::int64_t> store_calls, checkpoint_calls;
  std::vector<std::string> calls;
  std::ifstream lines(trace);
  for (std::string line; std::getline(lines, line);) {
    calls.push_back(
        line.substr(0, line.find(' ')) +
        (line.find("/runs/") != std::string::npos ? " checkpoint "
                                                  : " store ") +
        fs::path(line.substr(line.find(' ') + 1)).filename().string());
    (line.find("/runs/") != std::string::npos ? checkpoint_calls : store_calls)
        .push_back(static_cast<std::int64_t>(calls.size()));
  }
  ASSERT_GT(checkpoint_calls.size(), 20u);
  ASSERT_GT(store_calls.size(), 100u);
  std::mt19937 random(8);
  std::vector<std::int64_t> chosen;
  for (const auto* from : {&store_calls, &checkpoint_calls}) {
    std::sample(from->begin(), from->end(), std::back_inserter(chosen), 5,
                random);
  }
  std::shuffle(chosen.begin(), chosen.end(), random);
  int kills = 0, resumes = 0;
  for (const std::int64_t call : chosen) {
    for (const char* file : {"runs.db", "runs.db-wal", "runs.db-shm", "runs"}) {
      fs::remove_all(dir_ / file);
    }
    ::setenv("LABRUN_KILL_AT_IO", std::to_string(call).c_str(), 1);
    const Result killed = labrun(run + "cut");
    ::unsetenv("LABRUN_KILL_AT_IO");
    kills += killed.code == 128 + SIGKILL;
    std::printf("[ kill %2d ] at I/O call %3lld of %zu: %s%s\n", kills,
                static_cast<long long>(call), calls.size(),
                calls[call - 1].c_str(),
                killed.code == 128 + SIGKILL ? "" : " (ended first)");
    if (!fs::exists(db())) continue;  // killed before the store existed
    std::string status;
    {
      // Read-write: a store killed while being created is migrated, as
      // the next labrun would.
      auto store = labrun::store::RunStore::open(db());
      const auto rows = store->query("SELECT status FROM runs").rows;
      status = rows.empty() ? "" : *rows.at(0)[0];
    }
    expectStoreConsistent(db());
    if (status.empty()) continue;  // killed before the run was recorded
    if (status != "FINISHED") {
      const Result resumed = labrun("resume cut -q");
      EXPECT_EQ(resumed.code, 0) << resumed.err;
      expectStoreConsistent(db());
      ++resumes;
      // The temporary of a checkpoint write that was killed is gone.
      for (const auto& entry :
           fs::recursive_directory_iterator(dir_ / "runs")) {
        EXPECT_EQ(entry.path().filename().string().find(".tmp."),
                  std::string::npos)
            << entry.path();
      }
    }
    EXPECT_EQ(series("cut", "train/loss"), loss) << "call " << call;
    EXPECT_EQ(series("cut", "val/mAP"), map) << "call " << call;
  }
  ::unsetenv("LD_PRELOAD");
  // The heartbeat thread may add a call on a slow machine, so that a run
  // chosen to die near its end finishes first; it is still checked above.
  EXPECT_GE(kills, 8);
  // Most kills leave a run to resume (7 of these 10 here; the others die
  // before the run is recorded or after it finished).
  std::printf("[ resumed ] %d of the killed runs\n", resumes);
  EXPECT_GE(resumes, 5);
}

// A run whose process is alive on this host is not resumed, however old
// its heartbeat (a stopped or hung process): it would go on writing the run
// when it wakes, beside the resumed one. Here the process stops itself
// (SIGSTOP, by the kill shim) once its checkpoint of step 4 is in place.
TEST_F(CliTest, ResumeRefusesARunWhoseProcessIsAlive) {
  const std::string line =
      "cd '" + dir_.string() + "' && (LD_PRELOAD='" + LABRUN_KILL_SHIM +
      "' LABRUN_SIGNAL_AFTER_RENAME='STOP:step-00000004.pt' " +
      labrunCommand("run " + kSmoke + kResumable + " -q name=frozen") +
      " >frozen.out 2>&1 &)";
  ASSERT_EQ(std::system(line.c_str()), 0);
  // Stopped: no time bound here, ctest's TIMEOUT is the bound; a process
  // that ends instead fails the test at once.
  std::int64_t pid = 0;
  for (std::string state; state != "T";
       std::this_thread::sleep_for(std::chrono::milliseconds(50))) {
    state.clear();
    std::vector<std::vector<std::optional<std::string>>> rows;
    try {
      // Not there yet, or still being migrated by the run.
      rows = labrun::store::RunStore::open(db(), /*read_only=*/true)
                 ->query("SELECT pid FROM runs")
                 .rows;
    } catch (const labrun::store::StoreError&) {
    }
    if (rows.empty()) continue;
    pid = std::stoll(*rows.at(0).at(0));
    std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
    ASSERT_TRUE(stat.is_open()) << slurp((dir_ / "frozen.out").string());
    std::string skip;
    stat >> skip >> skip >> state;  // pid, (comm), state
    ASSERT_NE(state, "Z") << slurp((dir_ / "frozen.out").string());
  }
  labrun::store::RunStore::open(db())->query(
      "UPDATE runs SET heartbeat_at = heartbeat_at - 120");
  const Result refused = labrun("resume frozen");
  EXPECT_EQ(refused.code, 2);
  EXPECT_NE(refused.err.find("is still being trained by process " +
                             std::to_string(pid) + " on this host"),
            std::string::npos)
      << refused.err;
  ASSERT_EQ(::kill(static_cast<pid_t>(pid), SIGCONT), 0);
  std::string status = "RUNNING";
  for (; status == "RUNNING";
       std::this_thread::sleep_for(std::chrono::milliseconds(50))) {
    auto store = labrun::store::RunStore::open(db(), /*read_only=*/true);
    status = *store->query("SELECT status FROM runs").rows.at(0).at(0);
  }
  ASSERT_EQ(status, "FINISHED") << slurp((dir_ / "frozen.out").string());
  auto store = labrun::store::RunStore::open(db(), /*read_only=*/true);
  EXPECT_EQ(*store->query("SELECT resumes FROM runs").rows.at(0).at(0), "0");
}

// Four runs writing one store at once: no "database is locked", and every
// run holds exactly the rows it logged.
TEST_F(CliTest, FourParallelWritersLoseNothing) {
  const Result sweep =
      labrun("sweep " + kSmoke + kResumable +
             " optim.lr=0.001,0.002,0.003,0.004 --parallel 4 -q threads=1");
  ASSERT_EQ(sweep.code, 0) << sweep.out << sweep.err;
  EXPECT_EQ(sweep.err.find("locked"), std::string::npos) << sweep.err;
  expectStoreConsistent(db());
  auto store = labrun::store::RunStore::open(db(), /*read_only=*/true);
  const auto counts = store->query(
      "SELECT r.status, (SELECT count(*) FROM metrics m WHERE m.run = r.uuid "
      "AND m.key = 'train/loss'), (SELECT count(DISTINCT m.step) FROM metrics "
      "m WHERE m.run = r.uuid AND m.key = 'train/loss'), (SELECT count(*) "
      "FROM metrics m WHERE m.run = r.uuid AND m.key = 'val/mAP'), (SELECT "
      "count(*) FROM metrics m WHERE m.run = r.uuid) FROM runs r");
  ASSERT_EQ(counts.rows.size(), 4u);
  for (const auto& row : counts.rows) {
    EXPECT_EQ(*row[0], "FINISHED");
    EXPECT_EQ(*row[1], "24");  // 2 epochs x 12 steps, logged every step
    EXPECT_EQ(*row[2], "24");
    EXPECT_EQ(*row[3], "2");                 // one evaluation per epoch
    EXPECT_EQ(*row[4], *counts.rows[0][4]);  // every key, alike in each run
  }
}

// A secret passed through the environment reaches the run, never the store.
TEST_F(CliTest, EnvironmentSecretsAreNotStored) {
  const std::string spec = writeSpec(
      "secret.yaml", "extends: " + kSmoke +
                         "\nname: run-${env:LABRUN_TEST_SECRET}-"
                         "${env:OMP_NUM_THREADS,1}\n"
                         "optim:\n  lr: ${env:LABRUN_TEST_LR,0.003}\n");
  ::setenv("LABRUN_TEST_SECRET", "hunter2-token", 1);
  ::setenv("LABRUN_TEST_LR", "0.02", 1);
  const Result run = labrun("run " + spec + kFast + " train.epochs=1 -q");
  ::unsetenv("LABRUN_TEST_SECRET");
  ::unsetenv("LABRUN_TEST_LR");
  ASSERT_EQ(run.code, 0) << run.err;
  const std::string bytes = slurp(db()) + slurp(db() + "-wal");
  EXPECT_EQ(bytes.find("hunter2"), std::string::npos);
  auto store = labrun::store::RunStore::open(db(), /*read_only=*/true);
  EXPECT_EQ(*store->query("SELECT name FROM runs").rows.at(0)[0],
            "run-${env:LABRUN_TEST_SECRET}-${env:OMP_NUM_THREADS,1}");
  // A number from the environment is a parameter as used, typed: SQL
  // compares it as a number. The spec keeps where it came from.
  EXPECT_EQ(*store
                 ->query("SELECT type || '|' || value || '|' || typeof(value) "
                         "FROM params WHERE key = 'optim.lr'")
                 .rows.at(0)[0],
            "float|0.02|real");
  EXPECT_EQ(*store->query("SELECT count(*) FROM run_summary WHERE lr > 0.01")
                 .rows.at(0)[0],
            "1");
  EXPECT_NE(store->query("SELECT spec_yaml FROM runs")
                .rows.at(0)[0]
                ->find("lr: ${env:LABRUN_TEST_LR,0.003}"),
            std::string::npos);
}

}  // namespace
