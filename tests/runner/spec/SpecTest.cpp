// Spec loading, overrides, interpolation, validation and emission.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

#include "spec/Node.h"
#include "spec/Range.h"
#include "spec/Schema.h"
#include "spec/SpecError.h"
#include "spec/SpecLoader.h"

namespace labrun::spec {
namespace {

namespace fs = std::filesystem;

const std::string kData = std::string(LABRUN_TEST_DATA) + "/spec/";

// Parses `text` as if it had been read from file `file`.
Node parse(const std::string& text, const std::string& file = "smoke.yaml") {
  Origin origin;
  origin.file = file;
  return parseYamlText(text, origin);
}

// The message of the SpecError that `action` throws.
template <typename Action>
std::string errorOf(Action&& action) {
  try {
    action();
  } catch (const SpecError& error) {
    return error.what();
  }
  return "<no SpecError>";
}

std::string where(const Node& node) { return node.origin().describe(); }

// A fresh folder for spec files written by one test.
class SpecFiles {
 public:
  SpecFiles() {
    const auto* test = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = fs::path(::testing::TempDir()) / "labrun_spec" / test->name();
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  std::string write(const std::string& name, const std::string& text) const {
    const fs::path path = dir_ / name;
    std::ofstream(path) << text;
    return path.string();
  }

 private:
  fs::path dir_;
};

// --- Test plugins and schema -------------------------------------------------

std::vector<ParamSpec> testPlugins(PluginKind kind, const std::string& name) {
  using T = ParamType;
  std::string known;
  switch (kind) {
    case PluginKind::kBackbone:
      if (name == "resnet") {
        return {{"depth", T::kInt, "18", "layers"},
                {"pretrained", T::kBool, "true", "ImageNet weights"}};
      }
      known = "resnet";
      break;
    case PluginKind::kHead:
      if (name == "fc") return {{"dropout", T::kFloat, "0.0", "drop rate"}};
      if (name == "mlp") {
        return {{"hidden", T::kInt, nullptr, "width"},
                {"activation", T::kString, "relu", "", "relu|gelu"}};
      }
      known = "fc, mlp";
      break;
    case PluginKind::kLoss:
      if (name == "bce") {
        return {{"reduction", T::kString, "mean", "", "mean|sum"}};
      }
      known = "bce";
      break;
    case PluginKind::kMetric:
      if (name == "map") return {};
      if (name == "top_k") {
        return {{"k", T::kInt, "5", "k"},
                {"classes", T::kStringList, "[]", "class names"}};
      }
      known = "map, top_k";
      break;
  }
  throw std::invalid_argument("unknown " + std::string(pluginKindName(kind)) +
                              " plugin '" + name + "'; known: " + known);
}

const Schema& testSchema() {
  using T = ParamType;
  static const Schema schema = {
      /*fields=*/{
          {"name", T::kString, "", "run name", "", /*range=*/"",
           /*required=*/true},
          {"seed", T::kInt, "0", "seed"},
          {"threads", T::kIntOrAuto, "auto", "threads"},
          {"note", T::kString, "", "optional, no default"},
          {"optim.name", T::kString, "adam", "optimizer", "adam|sgd"},
          {"optim.lr", T::kFloat, "0.001", "learning rate"},
          {"optim.nesterov", T::kBool, "false", "Nesterov"},
          {"data.sizes", T::kIntList, "[32, 32]", "image size"},
          {"data.mean", T::kFloatList, "[0.5]", "mean"},
          {"data.synthetic.num_classes", T::kInt, "8", "classes"},
      },
      /*slots=*/
      {
          {"model.backbone", PluginKind::kBackbone, false, "resnet", ""},
          {"model.head", PluginKind::kHead, false, "", ""},
          {"loss", PluginKind::kLoss, false, "bce", ""},
          {"metrics", PluginKind::kMetric, /*is_list=*/true, "map", ""},
      },
  };
  return schema;
}

// Validates `text` (as file smoke.yaml) against the test schema.
Node validated(const std::string& text) {
  Node root = parse(text);
  validate(root, testSchema(), testPlugins);
  return root;
}

std::string validationError(const std::string& text) {
  return errorOf([&] { validated(text); });
}

const char* const kMinimal =
    "name: demo\n"
    "model:\n"
    "  head:\n"
    "    name: fc\n";

// --- Node --------------------------------------------------------------------

TEST(Origin, DescribesFilePositionFileOrNote) {
  EXPECT_EQ((Origin{"a.yaml", 3, 7, ""}).describe(), "a.yaml:3:7");
  EXPECT_EQ((Origin{"a.yaml", 0, 0, ""}).describe(), "a.yaml");
  EXPECT_EQ((Origin{"", 0, 0, "override 'x=1'"}).describe(), "override 'x=1'");
  EXPECT_EQ(Origin{}.describe(), "<unknown>");
}

TEST(Node, TypedReadsFollowYaml12CoreSchema) {
  const Node root = parse(
      "i: -42\n"
      "hex: 0x1F\n"
      "oct: 0o17\n"
      "f: 1.5e-3\n"
      "inf: -.inf\n"
      "t: True\n"
      "q: \"1\"\n"
      "big: 123456789012345678901\n"
      "yes: yes\n");
  EXPECT_EQ(root.at("i").asInt(), -42);
  EXPECT_EQ(root.at("hex").asInt(), 31);
  EXPECT_EQ(root.at("oct").asInt(), 15);
  EXPECT_DOUBLE_EQ(root.at("f").asDouble(), 1.5e-3);
  EXPECT_DOUBLE_EQ(root.at("i").asDouble(), -42.0);  // ints are numbers
  EXPECT_EQ(root.at("inf").asDouble(),
            -std::numeric_limits<double>::infinity());
  EXPECT_TRUE(root.at("t").asBool());
  EXPECT_EQ(root.at("q").asString(), "1");
  EXPECT_EQ(root.at("q").scalarType(), Node::ScalarType::kString);
  EXPECT_EQ(root.at("big").scalarType(), Node::ScalarType::kFloat);
  EXPECT_EQ(root.at("yes").scalarType(), Node::ScalarType::kString);

  EXPECT_EQ(errorOf([&] { root.at("q").asInt(); }),
            "smoke.yaml:7:4: expected integer, found string '1'");
  EXPECT_EQ(errorOf([&] { root.at("big").asInt(); }),
            "smoke.yaml:8:6: expected integer, found number "
            "123456789012345678901");
  EXPECT_EQ(errorOf([&] { root.at("f").asBool(); }),
            "smoke.yaml:4:4: expected boolean, found number 1.5e-3");
  EXPECT_EQ(errorOf([&] { root.at("yes").asBool(); }),
            "smoke.yaml:9:6: expected boolean, found string 'yes' (YAML 1.2 "
            "booleans are true and false)");
  EXPECT_EQ(errorOf([&] { root.asString(); }),
            "smoke.yaml:1:1: expected string, found a map");
}

TEST(Node, PathsAndEditing) {
  Node root = parse("a:\n  b: [x, {c: 1}]\nz: 2\n");
  EXPECT_EQ(root.at("a.b.0").text(), "x");
  EXPECT_EQ(root.at("a.b.1.c").asInt(), 1);
  EXPECT_EQ(root.findPath("a.b.2"), nullptr);
  EXPECT_EQ(root.findPath("a.b.x"), nullptr);
  EXPECT_EQ(root.findPath("z.q"), nullptr);
  EXPECT_EQ(errorOf([&] { root.at("a.nope"); }), "a.nope: missing");

  root.set("a", Node::scalar("3", false, {}));  // replaces in place
  root.set("new", Node::null({}));
  std::vector<std::string> keys;
  for (const auto& entry : root.entries()) keys.push_back(entry.first);
  EXPECT_EQ(keys, (std::vector<std::string>{"a", "z", "new"}));
  EXPECT_TRUE(root.erase("z"));
  EXPECT_FALSE(root.erase("z"));
  EXPECT_EQ(root.entries().size(), 2u);
}

// --- Parsing -----------------------------------------------------------------

TEST(Parse, RecordsOneBasedFileLineColumn) {
  const Node root = parse(
      "seed: 7\n"
      "optim:\n"
      "  lr: 0.1\n"
      "  betas: [0.9, 0.999]\n"
      "metrics:\n"
      "  - map\n"
      "  - name: top_k\n"
      "empty:\n");
  EXPECT_EQ(where(root), "smoke.yaml:1:1");
  EXPECT_EQ(where(root.at("seed")), "smoke.yaml:1:7");
  EXPECT_EQ(where(root.at("optim")), "smoke.yaml:3:3");
  EXPECT_EQ(where(root.at("optim.lr")), "smoke.yaml:3:7");
  EXPECT_EQ(root.at("optim.lr").keyOrigin().describe(), "smoke.yaml:3:3");
  EXPECT_EQ(where(root.at("optim.betas.1")), "smoke.yaml:4:16");
  EXPECT_EQ(where(root.at("metrics.0")), "smoke.yaml:6:5");
  EXPECT_EQ(where(root.at("metrics.1.name")), "smoke.yaml:7:11");
  // yaml-cpp places an empty value at the next token; the key is clearer.
  EXPECT_TRUE(root.at("empty").isNull());
  EXPECT_EQ(where(root.at("empty")), "smoke.yaml:8:1");
}

TEST(Parse, QuotedScalarsAreStrings) {
  const Node root = parse("a: '1'\nb: 1\nc: \"true\"\nd: ''\ne: ~\n");
  EXPECT_TRUE(root.at("a").quoted());
  EXPECT_FALSE(root.at("b").quoted());
  EXPECT_EQ(root.at("b").scalarType(), Node::ScalarType::kInt);
  EXPECT_EQ(root.at("c").scalarType(), Node::ScalarType::kString);
  EXPECT_EQ(root.at("d").scalarType(), Node::ScalarType::kString);
  EXPECT_TRUE(root.at("e").isNull());
}

TEST(Parse, ErrorsNameTheSource) {
  EXPECT_EQ(errorOf([] { parse("a: 1\nb: [1, 2\n"); }),
            "smoke.yaml:3:1: invalid YAML: end of sequence flow not found");
  EXPECT_EQ(errorOf([] { parse("a: 1\nb: 2\na: 3\n"); }),
            "smoke.yaml:3:1: duplicate key 'a'");
  // The second document starts at its "---".
  EXPECT_EQ(errorOf([] { parse("a: 1\n---\nb: 2\n"); }),
            "smoke.yaml:2:1: expected one YAML document, found 2");
  // yaml-cpp would report empty documents forever here (found by fuzzing).
  EXPECT_EQ(errorOf([] { parse("\n, a: 1\n"); }),
            "smoke.yaml:2:1: invalid YAML: unexpected ','");
  EXPECT_EQ(errorOf([] { parseYamlFile(kData + "absent.yaml"); }),
            kData + "absent.yaml: no such file");
}

TEST(Parse, UnclosedQuotesAreErrorsNotSwallowedKeys) {
  // yaml-cpp alone reads name as "abc train: epochs: 7" and drops train.
  EXPECT_EQ(errorOf([] { parse("name: \"abc\ntrain:\n  epochs: 7\n"); }),
            "smoke.yaml:1:7: invalid YAML: the quoted string opened here is "
            "never closed");
  EXPECT_EQ(errorOf([] { parse("a: 1\n'b: 2\n"); }),
            "smoke.yaml:2:1: invalid YAML: the quoted string opened here is "
            "never closed");
  // Escaped quotes, a doubled single quote and a string over two lines are
  // closed.
  const Node root =
      parse("a: \"say \\\"hi\\\"\"\nb: 'it''s'\nc: \"two\n  lines\"\n");
  EXPECT_EQ(root.at("a").text(), "say \"hi\"");
  EXPECT_EQ(root.at("b").text(), "it's");
  EXPECT_EQ(root.at("c").text(), "two lines");
}

TEST(Parse, AliasesThatExpandPastAHundredThousandValuesAreRefused) {
  // Nine levels of ten aliases: 10^9 values from 10 lines.
  std::string text = "l0: &l0 [x, x, x, x, x, x, x, x, x, x]\n";
  for (int level = 1; level < 10; ++level) {
    const std::string below = "*l" + std::to_string(level - 1);
    text += "l" + std::to_string(level) + ": &l" + std::to_string(level) +
            " [" + below;
    for (int i = 1; i < 10; ++i) text += ", " + below;
    text += "]\n";
  }
  EXPECT_EQ(errorOf([&] { parse(text); }),
            "smoke.yaml: more than 100000 values once YAML aliases are "
            "expanded");
  // A few aliases are fine.
  EXPECT_EQ(parse("a: &v [1, 2]\nb: *v\n").at("b.1").text(), "2");
}

TEST(Parse, ReadsFiles) {
  const Node root = parseYamlFile(kData + "extra.yaml");
  EXPECT_EQ(where(root.at("train.epochs")), kData + "extra.yaml:4:11");
}

// --- Merging and extends -----------------------------------------------------

TEST(Merge, MapsMergeScalarsAndListsReplace) {
  Node base = parse("a: {x: 1, y: [1, 2]}\nb: 1\nc: {k: v}\n", "base.yaml");
  mergeInto(base,
            parse("a: {y: [3], z: 2}\nb: {now: map}\nc: 5\n", "over.yaml"));
  EXPECT_EQ(toYaml(base),
            "a:\n"
            "  x: 1\n"
            "  y:\n"
            "    - 3\n"
            "  z: 2\n"
            "b:\n"
            "  now: map\n"
            "c: 5\n");
  EXPECT_EQ(where(base.at("a.x")), "base.yaml:1:8");
  EXPECT_EQ(where(base.at("a.z")), "over.yaml:1:16");
  EXPECT_EQ(where(base.at("a")), "over.yaml:1:4");  // last writer
}

TEST(Merge, ReplaceMarkerReplacesTheWholeMap) {
  Node base = parse("head: {name: fc, dropout: 0.5}\n");
  mergeInto(base, parse("head: {_replace_: true, name: mlp}\n"
                        "new: {_replace_: true, k: 1}\n"
                        "keep: {_replace_: false, k: 2}\n"));
  EXPECT_EQ(toYaml(base), "head:\n  name: mlp\nnew:\n  k: 1\nkeep:\n  k: 2\n");
  Node other = parse("head: {a: 1}\n");
  EXPECT_EQ(errorOf([&] {
              mergeInto(other, parse("head: {_replace_: yes}\n", "o.yaml"));
            }),
            "o.yaml:1:19: expected boolean, found string 'yes' (YAML 1.2 "
            "booleans are true and false)");
}

TEST(Extends, SingleBaseMergesUnderTheFile) {
  const Node root = loadSpecFile(kData + "child.yaml");
  EXPECT_EQ(root.find("extends"), nullptr);
  EXPECT_EQ(toYaml(root),
            "seed: 1\n"
            "optim:\n"
            "  name: sgd\n"
            "  lr: 0.01\n"
            "  momentum: 0.9\n"
            "data:\n"
            "  sizes:\n"
            "    - 64\n"
            "model:\n"
            "  head:\n"
            "    name: mlp\n"
            "    hidden: 8\n");
  EXPECT_EQ(where(root.at("seed")), kData + "base.yaml:2:7");
  EXPECT_EQ(where(root.at("optim.lr")), kData + "child.yaml:3:7");
}

TEST(Extends, ListOfBasesMergesInOrder) {
  const Node root = loadSpecFile(kData + "multi.yaml");
  EXPECT_EQ(root.at("seed").asInt(), 3);
  EXPECT_DOUBLE_EQ(root.at("optim.lr").asDouble(), 0.2);  // extra over base
  EXPECT_EQ(where(root.at("optim.lr")), kData + "extra.yaml:2:7");
  EXPECT_DOUBLE_EQ(root.at("optim.momentum").asDouble(), 0.9);
  EXPECT_EQ(root.at("train.epochs").asInt(), 3);
  EXPECT_EQ(root.find("extends"), nullptr);
}

TEST(Extends, NestedBasesResolveRelativeToTheirFile) {
  const Node root = loadSpecFile(kData + "nested/leaf.yaml");
  EXPECT_EQ(root.at("train.epochs").asInt(), 9);
  EXPECT_EQ(root.at("model.head.name").text(), "mlp");
  EXPECT_EQ(where(root.at("seed")), kData + "base.yaml:2:7");
  EXPECT_EQ(where(root.at("optim.lr")), kData + "child.yaml:3:7");
}

TEST(Extends, MissingBaseNamesTheEntryAndThePath) {
  EXPECT_EQ(errorOf([] { loadSpecFile(kData + "missing_base.yaml"); }),
            kData + "missing_base.yaml:3:5: extends: base file not found: " +
                kData + "no/such.yaml");
  EXPECT_EQ(errorOf([] { loadSpecFile(kData + "absent.yaml"); }),
            kData + "absent.yaml: no such file");
}

TEST(Extends, CyclesAreReported) {
  const std::string a = kData + "cycle_a.yaml";
  const std::string b = kData + "cycle_b.yaml";
  EXPECT_EQ(errorOf([&] { loadSpecFile(a); }),
            b + ":1:10: extends: cycle: " + a + " -> " + b + " -> " + a);
  SpecFiles files;
  const std::string self = files.write("self.yaml", "extends: [self.yaml]\n");
  EXPECT_EQ(errorOf([&] { loadSpecFile(self); }),
            self + ":1:11: extends: cycle: " + self + " -> " + self);
}

TEST(Extends, DiamondIsNotACycle) {
  SpecFiles files;
  files.write("common.yaml", "seed: 1\n");
  files.write("left.yaml", "extends: common.yaml\nleft: 1\n");
  files.write("right.yaml", "extends: common.yaml\nright: 1\n");
  const Node root = loadSpecFile(
      files.write("top.yaml", "extends: [left.yaml, right.yaml]\n"));
  EXPECT_EQ(toYaml(root), "seed: 1\nleft: 1\nright: 1\n");
}

TEST(Extends, ValueMustNameFiles) {
  SpecFiles files;
  const std::string path = files.write("bad.yaml", "extends: {a: 1}\n");
  EXPECT_EQ(errorOf([&] { loadSpecFile(path); }),
            path +
                ":1:10: extends: expected a file name or a list of file "
                "names, found a map");
  const std::string list = files.write("list.yaml", "- 1\n");
  EXPECT_EQ(errorOf([&] { loadSpecFile(list); }),
            list + ":1:1: expected a map at the top level, found a list");
  EXPECT_TRUE(loadSpecFile(files.write("empty.yaml", "")).isMap());
}

// --- Overrides ---------------------------------------------------------------

class Overrides : public ::testing::Test {
 protected:
  Node root_ = parse(
      "optim:\n"
      "  lr: 0.1\n"
      "  name: sgd\n"
      "metrics:\n"
      "  - name: map\n"
      "  - name: top_k\n");

  std::string overrideError(const std::string& text) {
    return errorOf([&] { applyOverride(root_, text); });
  }
};

TEST_F(Overrides, SetChangesAnExistingKey) {
  applyOverrides(root_, {"optim.lr=0.5", "metrics.1.name=top5"});
  EXPECT_DOUBLE_EQ(root_.at("optim.lr").asDouble(), 0.5);
  EXPECT_EQ(where(root_.at("optim.lr")), "override 'optim.lr=0.5'");
  EXPECT_EQ(root_.at("optim.lr").keyOrigin().describe(),
            "override 'optim.lr=0.5'");
  EXPECT_EQ(root_.at("metrics.1.name").text(), "top5");
  EXPECT_EQ(overrideError("optim.lrr=0.5"),
            "override 'optim.lrr=0.5': key 'optim.lrr' is not in the spec; "
            "use '+optim.lrr=0.5' to add it");
  // Left to a schema's validation, which knows the declared keys.
  applyOverride(root_, "optim.lrr=0.5", /*schema_validated=*/true);
  EXPECT_EQ(where(root_.at("optim.lrr")), "override 'optim.lrr=0.5'");
}

TEST_F(Overrides, AddCreatesANewKeyAndItsParents) {
  applyOverride(root_, "+train.schedule.warmup=5");
  EXPECT_EQ(root_.at("train.schedule.warmup").asInt(), 5);
  EXPECT_EQ(where(root_.at("train.schedule")),
            "override '+train.schedule.warmup=5'");
  EXPECT_EQ(overrideError("+optim.lr=1"),
            "override '+optim.lr=1': key 'optim.lr' is already in the spec; "
            "use 'optim.lr=1' to change it");
  EXPECT_EQ(overrideError("+optim.lr.x=1"),
            "override '+optim.lr.x=1': 'optim.lr' is not a map");
  EXPECT_EQ(overrideError("+metrics.2=x"),
            "override '+metrics.2=x': 'metrics' is not a map");
  // An index names an item of a list that is there; a map keyed "5" would
  // take the list's place.
  EXPECT_EQ(overrideError("+metrics.5.name=x"),
            "override '+metrics.5.name=x': 'metrics' is a list of 2 item(s); "
            "'5' is not one of its indices");
  EXPECT_EQ(overrideError("+train.metrics.0.name=x"),
            "override '+train.metrics.0.name=x': 'train.metrics' is not in "
            "the spec, so it has no item 0; set the whole list "
            "('+train.metrics=[...]')");
  applyOverride(root_, "+metrics.1.label=top");
  EXPECT_EQ(root_.at("metrics.1.label").text(), "top");
}

TEST_F(Overrides, SetOrAddDoesEither) {
  applyOverrides(root_, {"++optim.lr=0.3", "++optim.wd=0.01"});
  EXPECT_DOUBLE_EQ(root_.at("optim.lr").asDouble(), 0.3);
  EXPECT_DOUBLE_EQ(root_.at("optim.wd").asDouble(), 0.01);
}

TEST_F(Overrides, DeleteRemovesKeysAndListItems) {
  applyOverrides(root_, {"~optim.name", "~metrics.0"});
  EXPECT_EQ(root_.findPath("optim.name"), nullptr);
  ASSERT_EQ(root_.at("metrics").items().size(), 1u);
  EXPECT_EQ(root_.at("metrics.0.name").text(), "top_k");
  EXPECT_EQ(overrideError("~optim.name"),
            "override '~optim.name': key 'optim.name' is not in the spec");
  EXPECT_EQ(overrideError("~optim.lr=0.1"),
            "override '~optim.lr=0.1': a deletion takes no value; write "
            "'~key'");
}

TEST_F(Overrides, ValuesAreYaml) {
  applyOverrides(root_, {"++a=[1, 2]", "++b='1'", "++c={k: v}",
                         "++d=", "++e=null", "++f=text with spaces"});
  EXPECT_EQ(toYaml(root_.at("a")), "- 1\n- 2\n");
  EXPECT_EQ(root_.at("b").scalarType(), Node::ScalarType::kString);
  EXPECT_EQ(root_.at("c.k").text(), "v");
  EXPECT_EQ(where(root_.at("c.k")), "override '++c={k: v}'");
  EXPECT_EQ(root_.at("d").scalarType(), Node::ScalarType::kString);  // Hydra
  EXPECT_EQ(root_.at("d").text(), "");
  EXPECT_TRUE(root_.at("e").isNull());
  EXPECT_EQ(root_.at("f").text(), "text with spaces");
}

TEST_F(Overrides, MalformedOverridesGiveOneLine) {
  EXPECT_EQ(overrideError("optim.lr"),
            "override 'optim.lr': expected 'key=value', '+key=value', "
            "'++key=value' or '~key'");
  EXPECT_EQ(overrideError("=1"), "override '=1': empty key");
  EXPECT_EQ(overrideError("+=1"), "override '+=1': empty key");
  EXPECT_EQ(overrideError("~"), "override '~': empty key");
  EXPECT_EQ(overrideError("optim..lr=1"),
            "override 'optim..lr=1': malformed key 'optim..lr'");
  EXPECT_EQ(overrideError("optim. lr=1"),
            "override 'optim. lr=1': malformed key 'optim. lr'");
  EXPECT_EQ(overrideError("optim.lr=[1"),
            "override 'optim.lr=[1': invalid YAML: end of sequence flow not "
            "found");
}

// --- Interpolation -----------------------------------------------------------

TEST(Interpolation, WholeValueKeepsTheType) {
  Node root = parse(
      "a: ${b.c}\n"
      "b:\n"
      "  c: ${d}\n"
      "  list: [1, 2]\n"
      "d: 4\n"
      "copy: ${b}\n"
      "item: ${b.list.1}\n");
  resolveInterpolations(root);
  EXPECT_EQ(root.at("a").scalarType(), Node::ScalarType::kInt);
  EXPECT_EQ(root.at("a").asInt(), 4);
  EXPECT_EQ(where(root.at("a")), "smoke.yaml:1:4");  // where it was written
  EXPECT_TRUE(root.at("copy").isMap());
  EXPECT_EQ(toYaml(root.at("copy")), "c: 4\nlist:\n  - 1\n  - 2\n");
  EXPECT_EQ(root.at("item").asInt(), 2);
}

TEST(Interpolation, EmbeddedValuesBecomeText) {
  Node root = parse(
      "epochs: 3\n"
      "name: run-${epochs}-${flag}\n"
      "flag: true\n"
      "literal: cost \\${not} ${epochs}\n");
  resolveInterpolations(root);
  EXPECT_EQ(root.at("name").text(), "run-3-true");
  EXPECT_EQ(root.at("name").scalarType(), Node::ScalarType::kString);
  EXPECT_EQ(root.at("literal").text(), "cost ${not} 3");
}

TEST(Interpolation, EnvironmentVariables) {
  ::setenv("LABRUN_SPEC_TEST_SET", "16", 1);
  ::unsetenv("LABRUN_SPEC_TEST_UNSET");
  Node root = parse(
      "a: ${env:LABRUN_SPEC_TEST_SET}\n"
      "b: ${env:LABRUN_SPEC_TEST_UNSET,7}\n"
      "c: ${env:LABRUN_SPEC_TEST_SET, 1}\n"
      "d: dir/${env:LABRUN_SPEC_TEST_UNSET,x}\n"
      "e: ${env:LABRUN_SPEC_TEST_UNSET,}\n"
      "f: '${env:LABRUN_SPEC_TEST_SET}'\n");
  resolveInterpolations(root);
  EXPECT_EQ(root.at("a").asInt(), 16);
  EXPECT_EQ(root.at("b").asInt(), 7);
  EXPECT_EQ(root.at("c").asInt(), 16);
  EXPECT_EQ(root.at("d").text(), "dir/x");
  EXPECT_EQ(root.at("e").scalarType(), Node::ScalarType::kString);
  EXPECT_EQ(root.at("f").scalarType(), Node::ScalarType::kString);

  Node unset = parse("x:\n  y: ${env:LABRUN_SPEC_TEST_UNSET}\n");
  EXPECT_EQ(errorOf([&] { resolveInterpolations(unset); }),
            "smoke.yaml:2:6: x.y: environment variable "
            "'LABRUN_SPEC_TEST_UNSET' is not set and "
            "'${env:LABRUN_SPEC_TEST_UNSET}' has no default");
}

// A resolved spec is stored: values from environment variables outside the
// allow-list (tokens, credentials) must not reach it, not even through a
// ${a.b} reference, while the run itself sees them.
TEST(Interpolation, RecordedFormKeepsEnvironmentValuesOut) {
  ::setenv("LABRUN_SPEC_TEST_TOKEN", "s3cr3t-t0ken", 1);
  ::setenv("CUDA_VISIBLE_DEVICES", "1", 1);
  Node root = parse(
      "auth:\n"
      "  token: ${env:LABRUN_SPEC_TEST_TOKEN}\n"
      "url: https://host/${auth.token}/w\n"
      "copy: ${auth}\n"
      "devices: ${env:CUDA_VISIBLE_DEVICES}\n"
      "unset: ${env:LABRUN_SPEC_TEST_UNSET,fallback}\n"
      "lr: 0.1\n"
      "lr_copy: ${lr}\n"
      "literal: cost \\${not}\n");
  const std::vector<EnvDerived> derived = resolveInterpolations(root);
  EXPECT_EQ(root.at("url").text(), "https://host/s3cr3t-t0ken/w");
  EXPECT_EQ(root.at("copy.token").text(), "s3cr3t-t0ken");
  std::vector<std::string> paths;
  for (const EnvDerived& value : derived) paths.push_back(value.path);
  EXPECT_EQ(paths,
            (std::vector<std::string>{"auth.token", "url", "copy", "unset"}));

  const std::string stored = toYaml(recordedForm(root, derived));
  EXPECT_EQ(stored.find("s3cr3t"), std::string::npos) << stored;
  EXPECT_EQ(stored,
            "auth:\n"
            "  token: ${env:LABRUN_SPEC_TEST_TOKEN}\n"
            "url: https://host/${auth.token}/w\n"
            "copy: ${auth}\n"
            "devices: 1\n"
            "unset: ${env:LABRUN_SPEC_TEST_UNSET,fallback}\n"
            "lr: 0.1\n"
            "lr_copy: 0.1\n"
            "literal: cost \\${not}\n");

  // Resolving the stored form (as resume does) gives the run's tree back.
  Node again = parse(stored);
  resolveInterpolations(again);
  EXPECT_EQ(toYaml(again), toYaml(root));
  ::unsetenv("LABRUN_SPEC_TEST_TOKEN");
  ::unsetenv("CUDA_VISIBLE_DEVICES");
}

TEST(Interpolation, ErrorsNameTheReferencingValue) {
  auto resolveError = [](const std::string& text) {
    Node root = parse(text);
    return errorOf([&] { resolveInterpolations(root); });
  };
  EXPECT_EQ(resolveError("a: 1\nb: ${a.c}\n"),
            "smoke.yaml:2:4: b: unknown key 'a.c' in '${a.c}'");
  EXPECT_EQ(resolveError("x: ${y}\ny: ${z}\nz: ${x}\n"),
            "smoke.yaml:3:4: z: interpolation cycle: x -> y -> z -> x");
  EXPECT_EQ(resolveError("a:\n  b: ${a}\n"),
            "smoke.yaml:2:6: a.b: interpolation cycle: a -> a.b -> a");
  EXPECT_EQ(resolveError("a: ${b\n"),
            "smoke.yaml:1:4: a: unterminated '${' in '${b'");
  EXPECT_EQ(resolveError("a: ${oc.select:b}\n"),
            "smoke.yaml:1:4: a: unknown resolver 'oc.select' in "
            "'${oc.select:b}' (only 'env' is supported)");
  EXPECT_EQ(resolveError("m: {k: 1}\na: x${m}\n"),
            "smoke.yaml:2:4: a: cannot embed a map in a string ('${m}')");
}

TEST(Interpolation, ThroughAnInterpolatedMap) {
  Node root = parse("a: ${b}\nb: {c: 5}\nd: ${a.c}\n");
  resolveInterpolations(root);
  EXPECT_EQ(root.at("d").asInt(), 5);
}

// --- Validation --------------------------------------------------------------

TEST(Validate, FillsDefaultsOfFieldsAndPlugins) {
  const Node root = validated(kMinimal);
  EXPECT_EQ(toYaml(root),
            "name: demo\n"
            "model:\n"
            "  head:\n"
            "    name: fc\n"
            "    dropout: 0.0\n"
            "  backbone:\n"
            "    name: resnet\n"
            "    depth: 18\n"
            "    pretrained: true\n"
            "seed: 0\n"
            "threads: auto\n"
            "optim:\n"
            "  name: adam\n"
            "  lr: 0.001\n"
            "  nesterov: false\n"
            "data:\n"
            "  sizes:\n"
            "    - 32\n"
            "    - 32\n"
            "  mean:\n"
            "    - 0.5\n"
            "  synthetic:\n"
            "    num_classes: 8\n"
            "loss:\n"
            "  name: bce\n"
            "  reduction: mean\n"
            "metrics:\n"
            "  - name: map\n");
  // A default is located at the map it went into, where it would have
  // been written.
  EXPECT_EQ(where(root.at("seed")), "smoke.yaml:1:1 (default)");
  EXPECT_EQ(where(root.at("model.head.dropout")), "smoke.yaml:4:5 (default)");
  EXPECT_TRUE(root.at("seed").origin().isDefault());
  EXPECT_FALSE(root.at("model.head.name").origin().isDefault());
  EXPECT_EQ(where(root.at("model.head.name")), "smoke.yaml:4:11");
  EXPECT_EQ(root.findPath("note"), nullptr);  // optional, no default
  // An empty section is filled like an absent one.
  EXPECT_EQ(validated(std::string(kMinimal) + "optim:\n").at("optim.lr").text(),
            "0.001");
}

TEST(Validate, UnknownKeySuggestsTheNearest) {
  EXPECT_EQ(validationError(std::string(kMinimal) + "optim:\n  lrr: 0.1\n"),
            "smoke.yaml:6:3: optim.lrr: unknown key; did you mean 'optim.lr'?");
  EXPECT_EQ(validationError(std::string(kMinimal) + "sed: 1\n"),
            "smoke.yaml:5:1: sed: unknown key; did you mean 'seed'?");
  EXPECT_EQ(validationError(std::string(kMinimal) + "optim:\n  zzzzzz: 1\n"),
            "smoke.yaml:6:3: optim.zzzzzz: unknown key; known: name, lr, "
            "nesterov");
}

TEST(Validate, WrongTypesNamePositionKeyAndValue) {
  const std::string base = kMinimal;
  EXPECT_EQ(validationError(base + "seed: abc\n"),
            "smoke.yaml:5:7: seed: expected integer, found string 'abc'");
  EXPECT_EQ(validationError(base + "seed: '3'\n"),
            "smoke.yaml:5:7: seed: expected integer, found string '3'");
  EXPECT_EQ(validationError(base + "optim:\n  lr: [1]\n"),
            "smoke.yaml:6:7: optim.lr: expected number, found a list");
  EXPECT_EQ(validationError(base + "optim:\n  nesterov: yes\n"),
            "smoke.yaml:6:13: optim.nesterov: expected boolean, found string "
            "'yes' (YAML 1.2 booleans are true and false)");
  EXPECT_EQ(validationError(base + "data:\n  sizes: [32, x]\n"),
            "smoke.yaml:6:15: data.sizes.1: expected integer, found string "
            "'x'");
  EXPECT_EQ(validationError(base + "data:\n  sizes: 32\n"),
            "smoke.yaml:6:10: data.sizes: expected list of integers, found "
            "integer 32");
  EXPECT_EQ(validationError(base + "optim: 1\n"),
            "smoke.yaml:5:8: optim: expected a map, found integer 1");
  EXPECT_EQ(validationError(base + "name2: 1\n"),
            "smoke.yaml:5:1: name2: unknown key; did you mean 'name'?");

  // Accepted: ints as numbers, any scalar as a string, FALSE as a boolean.
  const Node root = validated(
      "name: 2024\noptim: {lr: 1, nesterov: FALSE}\nmodel: {head: fc}\n");
  EXPECT_EQ(std::get<double>(toParamValue(root.at("optim.lr"),
                                          ParamType::kFloat, "optim.lr")),
            1.0);
  EXPECT_EQ(std::get<std::string>(
                toParamValue(root.at("name"), ParamType::kString, "name")),
            "2024");
  EXPECT_FALSE(root.at("optim.nesterov").asBool());
}

TEST(Validate, ChoicesAreEnforced) {
  EXPECT_EQ(validationError(std::string(kMinimal) + "optim:\n  name: adamw\n"),
            "smoke.yaml:6:9: optim.name: expected one of adam|sgd, found "
            "string 'adamw'; did you mean 'adam'?");
  EXPECT_EQ(
      validationError("name: a\nmodel: {head: fc}\nloss: {reduction: none}\n"),
      "smoke.yaml:3:19: loss.reduction: expected one of mean|sum, found "
      "string 'none'");
}

TEST(Validate, DeclaredRangesAreEnforced) {
  using T = ParamType;
  const Schema schema = {
      /*fields=*/{
          {"epochs", T::kInt, "1", "", "", ">= 0"},
          {"dropout", T::kFloat, "0.0", "", "", "[0, 1)"},
          {"workers", T::kIntOrAuto, "auto", "", "", ">= 1"},
          {"sizes", T::kIntList, "[1]", "", "", "> 0"},
          {"depth", T::kInt, "18", "", "18|34"},
          {"lr", T::kFloat, "0.1", "", "", ">= 0"},
          {"scale", T::kFloat, "1.0", "", ""},
      },
      /*slots=*/{{"model.head", PluginKind::kHead, false, "h", ""}},
  };
  const auto plugin = [](PluginKind, const std::string&) {
    return std::vector<ParamSpec>{
        {"hidden", ParamType::kInt, "8", "", /*choices=*/nullptr, "<= 16"}};
  };
  const auto error = [&](const std::string& text) {
    Node root = parse(text);
    try {
      validate(root, schema, plugin);
    } catch (const SpecError& failure) {
      return std::string(failure.what());
    }
    return std::string("no error");
  };
  EXPECT_EQ(error("epochs: 0\ndropout: 0.5\nworkers: auto\nsizes: [1, 2]\n"),
            "no error");
  EXPECT_EQ(error("epochs: -1\n"),
            "smoke.yaml:1:9: epochs: expected an integer >= 0, found -1");
  EXPECT_EQ(error("dropout: 1\n"),
            "smoke.yaml:1:10: dropout: expected a number in [0, 1), found 1");
  EXPECT_EQ(error("workers: 0\n"),
            "smoke.yaml:1:10: workers: expected an integer >= 1 or auto, "
            "found 0");
  EXPECT_EQ(error("sizes: [3, 0]\n"),
            "smoke.yaml:1:12: sizes.1: expected an integer > 0, found 0");
  EXPECT_EQ(error("depth: 19\n"),
            "smoke.yaml:1:8: depth: expected one of 18|34, found integer 19");
  // A plugin's declared range carries the spec's position too.
  EXPECT_EQ(error("model: {head: {name: h, hidden: 17}}\n"),
            "smoke.yaml:1:33: model.head.hidden: expected an integer <= 16, "
            "found 17");
  // Infinity is no number of a one-sided range (">= 0" is [0, inf)), nor
  // of a float without a range; a closed bound written as inf admits it.
  EXPECT_EQ(error("lr: .inf\n"),
            "smoke.yaml:1:5: lr: expected a number >= 0, found .inf");
  EXPECT_EQ(error("scale: -.inf\n"),
            "smoke.yaml:1:8: scale: expected a finite number, found -.inf");
  EXPECT_EQ(error("scale: .nan\n"),
            "smoke.yaml:1:8: scale: expected a finite number, found .nan");
  EXPECT_EQ(error("scale: -3.5\n"), "no error");
  EXPECT_TRUE(Range::parse("[0, inf]").contains(INFINITY));
  EXPECT_FALSE(Range::parse("[0, inf)").contains(INFINITY));
  EXPECT_FALSE(Range::parse("<= 0").contains(-INFINITY));
  EXPECT_THROW(Range::parse("[0, 1"), std::invalid_argument);
  EXPECT_THROW(Range::parse("[2, 1]"), std::invalid_argument);
  EXPECT_TRUE(Range::parse("(0, inf)").contains(1e30));
  EXPECT_FALSE(Range::parse("(0, 1]").contains(0));
  EXPECT_TRUE(Range::parse("(0, 1]").contains(1));
}

TEST(Validate, MissingRequiredKeysNameTheEnclosingMap) {
  EXPECT_EQ(validationError("seed: 1\nmodel: {head: fc}\n"),
            "smoke.yaml:1:1: name: missing required key; expected string");
  EXPECT_EQ(validationError("name: a\nmodel:\n  backbone: resnet\n"),
            "smoke.yaml:3:3: model.head: missing required key; expected a "
            "head plugin");
  EXPECT_EQ(validationError("name: a\n"),
            "smoke.yaml:1:1: model.head: missing required key; expected a "
            "head plugin");
  EXPECT_EQ(validationError("name: a\nmodel:\n  head: {dropout: 0.1}\n"),
            "smoke.yaml:3:9: model.head.name: missing required key; expected "
            "the head plugin name");
  // A key an override removed says so; set again, it is no longer missing.
  const auto afterOverrides = [](const std::vector<std::string>& overrides) {
    Node root = parse(kMinimal);
    applyOverrides(root, overrides);
    return errorOf([&] { validate(root, testSchema(), testPlugins); });
  };
  EXPECT_EQ(afterOverrides({"~name"}),
            "smoke.yaml:1:1: name: missing required key; expected string "
            "(override '~name' removed it)");
  EXPECT_EQ(afterOverrides({"~model.head"}),
            "smoke.yaml:3:3: model.head: missing required key; expected a "
            "head plugin (override '~model.head' removed it)");
  EXPECT_EQ(afterOverrides({"~name", "+name=back"}), "<no SpecError>");
}

TEST(Validate, UnknownPluginIsReportedAtItsName) {
  EXPECT_EQ(validationError("name: a\nmodel:\n  head:\n    name: fcc\n"),
            "smoke.yaml:4:11: model.head.name: unknown head plugin 'fcc'; "
            "known: fc, mlp");
  EXPECT_EQ(validationError("name: a\nmodel: {head: fc}\nmetrics: [mapp]\n"),
            "smoke.yaml:3:11: metrics.0.name: unknown metric plugin 'mapp'; "
            "known: map, top_k");
  EXPECT_EQ(validationError("name: a\nmodel:\n  head: {name: [fc]}\n"),
            "smoke.yaml:3:16: model.head.name: expected string, found a list");
}

TEST(Validate, PluginParametersAreChecked) {
  EXPECT_EQ(
      validationError("name: a\nmodel:\n  head: {name: fc, dropuot: 1}\n"),
      "smoke.yaml:3:20: model.head.dropuot: unknown parameter of head "
      "plugin 'fc'; did you mean 'model.head.dropout'?");
  EXPECT_EQ(validationError("name: a\nmodel:\n  head: {name: fc, x: 1}\n"),
            "smoke.yaml:3:20: model.head.x: unknown parameter of head plugin "
            "'fc'; known: dropout");
  EXPECT_EQ(validationError("name: a\nmodel:\n  head: {name: mlp}\n"),
            "smoke.yaml:3:9: model.head.hidden: missing required parameter of "
            "head plugin 'mlp'; expected integer");
  EXPECT_EQ(
      validationError("name: a\nmodel:\n  head: {name: mlp, hidden: 1.5}\n"),
      "smoke.yaml:3:29: model.head.hidden: expected integer, found number 1.5");
  const Node root =
      validated("name: a\nmodel:\n  head: {name: mlp, hidden: 16}\n");
  EXPECT_EQ(root.at("model.head.activation").text(), "relu");
}

// Without a plugin lookup (`labrun prepare` loads no plugin) the slots keep
// their names and parameters as written; the core's keys are checked and
// filled as always.
TEST(Validate, WithoutPluginsTheSlotsStayAsWritten) {
  const auto unchecked = [](const std::string& text) {
    Node root = parse(text);
    validate(root, testSchema(), /*plugin_schema=*/nullptr);
    return root;
  };
  const Node root = unchecked(
      "name: a\nmodel:\n  head: {name: fcc, dropuot: x}\nmetrics: [mapp]\n");
  EXPECT_EQ(root.at("model.head.name").text(), "fcc");
  EXPECT_EQ(root.at("model.head.dropuot").text(), "x");
  EXPECT_EQ(root.at("metrics.0.name").text(), "mapp");
  EXPECT_EQ(root.at("model.backbone.name").text(), "resnet");  // the default
  EXPECT_EQ(root.findPath("model.backbone.depth"), nullptr);   // not filled
  EXPECT_EQ(root.at("optim.lr").text(), "0.001");
  EXPECT_EQ(
      errorOf([&] { unchecked("name: a\nmodel: {head: fcc}\nsed: 1\n"); }),
      "smoke.yaml:3:1: sed: unknown key; did you mean 'seed'?");
  EXPECT_EQ(errorOf([&] { unchecked("name: a\nmodel:\n  head: {x: 1}\n"); }),
            "smoke.yaml:3:9: model.head.name: missing required key; expected "
            "the head plugin name");
}

TEST(Validate, ListSlotsTakeMapsOrNames) {
  const Node root = validated(std::string(kMinimal) +
                              "metrics:\n"
                              "  - map\n"
                              "  - name: top_k\n"
                              "    k: 3\n");
  EXPECT_EQ(toYaml(root.at("metrics")),
            "- name: map\n"
            "- name: top_k\n"
            "  k: 3\n"
            "  classes:\n"
            "    []\n");
  EXPECT_EQ(where(root.at("metrics.0")), "smoke.yaml:6:5");
  EXPECT_EQ(where(root.at("metrics.0.name")), "smoke.yaml:6:5");
  EXPECT_EQ(validationError(std::string(kMinimal) + "metrics: map\n"),
            "smoke.yaml:5:10: metrics: expected a list of metric plugins, "
            "found string 'map'");
  EXPECT_EQ(validationError(std::string(kMinimal) + "metrics: [[map]]\n"),
            "smoke.yaml:5:11: metrics.0: expected a metric plugin (a name, or "
            "a map with 'name'), found a list");
  EXPECT_EQ(validationError(std::string(kMinimal) +
                            "metrics:\n  - {name: top_k, k: x}\n"),
            "smoke.yaml:6:22: metrics.0.k: expected integer, found string "
            "'x'");
}

TEST(Validate, IntOrAuto) {
  EXPECT_EQ(
      validated(std::string(kMinimal) + "threads: 4\n").at("threads").asInt(),
      4);
  EXPECT_EQ(validationError(std::string(kMinimal) + "threads: -1\n"),
            "smoke.yaml:5:10: threads: expected integer or 'auto', found "
            "integer -1");
  EXPECT_EQ(validationError(std::string(kMinimal) + "threads: many\n"),
            "smoke.yaml:5:10: threads: expected integer or 'auto', found "
            "string 'many'");
  const Node root = parse("a: auto\nb: 0\n");
  EXPECT_EQ(std::get<std::int64_t>(
                toParamValue(root.at("a"), ParamType::kIntOrAuto, "a")),
            -1);
  EXPECT_EQ(std::get<std::int64_t>(
                toParamValue(root.at("b"), ParamType::kIntOrAuto, "b")),
            0);
}

TEST(Validate, BoolOrStringList) {
  const Node root = parse("a: true\nb: [bn1, layer1]\nc: []\nd: 3\ne: yes\n");
  const auto read = [&](const std::string& key) {
    return toParamValue(root.at(key), ParamType::kBoolOrStringList, key);
  };
  EXPECT_EQ(std::get<bool>(read("a")), true);
  EXPECT_EQ(std::get<std::vector<std::string>>(read("b")),
            (std::vector<std::string>{"bn1", "layer1"}));
  EXPECT_TRUE(std::get<std::vector<std::string>>(read("c")).empty());
  EXPECT_EQ(errorOf([&] { read("d"); }),
            "smoke.yaml:4:4: d: expected boolean or list of strings, found "
            "integer 3");
  EXPECT_EQ(errorOf([&] { read("e"); }),
            "smoke.yaml:5:4: e: expected boolean or list of strings, found "
            "string 'yes' (YAML 1.2 booleans are true and false)");
}

TEST(Validate, RootMustBeAMap) {
  Node root = parse("- 1\n");
  EXPECT_EQ(errorOf([&] { validate(root, testSchema(), testPlugins); }),
            "smoke.yaml:1:1: expected a map at the top level, found a list");
}

TEST(Params, PluginParamsAreTyped) {
  const Node root = validated(std::string(kMinimal) +
                              "metrics:\n"
                              "  - name: top_k\n"
                              "    classes: [cat, dog]\n"
                              "data:\n"
                              "  mean: [0.5, 1]\n");
  const Params params = pluginParams(root.at("metrics.0"),
                                     testPlugins(PluginKind::kMetric, "top_k"));
  EXPECT_EQ(params.getInt("k"), 5);
  EXPECT_EQ(params.get<std::vector<std::string>>("classes"),
            (std::vector<std::string>{"cat", "dog"}));
  EXPECT_FALSE(params.has("name"));
  const auto mean = std::get<std::vector<double>>(
      toParamValue(root.at("data.mean"), ParamType::kFloatList, "data.mean"));
  EXPECT_EQ(mean, (std::vector<double>{0.5, 1.0}));
  const Node empty = parse("name: fc\n");
  EXPECT_EQ(errorOf([&] {
              pluginParams(empty, testPlugins(PluginKind::kHead, "fc"));
            }),
            "smoke.yaml:1:1: dropout: missing");
}

// --- Helpers and emission ----------------------------------------------------

TEST(Nearest, SuggestsOnlyCloseCandidates) {
  const std::vector<std::string> keys = {"lr", "momentum", "nesterov"};
  EXPECT_EQ(nearest("lrr", keys), "lr");
  EXPECT_EQ(nearest("momentun", keys), "momentum");
  EXPECT_EQ(nearest("nestrov", keys), "nesterov");
  EXPECT_EQ(nearest("zzzzzz", keys), "");
  EXPECT_EQ(nearest("x", {}), "");
  // Long words tolerate more edits: max(2, length / 3).
  EXPECT_EQ(nearest("weight_dekkay", {"weight_decay"}), "weight_decay");
  EXPECT_EQ(nearest("abcd", {"wxyz"}), "");
}

// Structural equality that ignores origins and how strings were quoted.
void expectSameTree(const Node& a, const Node& b, const std::string& path) {
  const bool a_null =
      !a.isList() && !a.isMap() && a.scalarType() == Node::ScalarType::kNull;
  const bool b_null =
      !b.isList() && !b.isMap() && b.scalarType() == Node::ScalarType::kNull;
  ASSERT_EQ(a_null, b_null) << path;
  if (a_null) return;
  ASSERT_EQ(a.kind(), b.kind()) << path;
  if (a.isScalar()) {
    EXPECT_EQ(a.text(), b.text()) << path;
    EXPECT_EQ(a.scalarType(), b.scalarType()) << path;
  } else if (a.isList()) {
    ASSERT_EQ(a.items().size(), b.items().size()) << path;
    for (std::size_t i = 0; i < a.items().size(); ++i) {
      expectSameTree(a.items()[i], b.items()[i],
                     joinPath(path, std::to_string(i)));
    }
  } else {
    ASSERT_EQ(a.entries().size(), b.entries().size()) << path;
    for (std::size_t i = 0; i < a.entries().size(); ++i) {
      EXPECT_EQ(a.entries()[i].first, b.entries()[i].first) << path;
      expectSameTree(a.entries()[i].second, b.entries()[i].second,
                     joinPath(path, a.entries()[i].first));
    }
  }
}

TEST(ToYaml, RoundTripsTypesAndTrickyStrings) {
  Node root = parse(
      "ints: [1, -2, 0x1F]\n"
      "floats: [1.5, .inf, 1e3]\n"
      "bools: [true, FALSE]\n"
      "nulls: [~, null]\n"
      "strings: ['1', 'true', 'null', '', '~', '1e3', '0x1F', yes, 'a: b',\n"
      "          '#x', ' lead', \"two\\nlines\", '${x}', plain text]\n"
      "empty_map: {}\n"
      "empty_list: []\n"
      "nested: [{a: 1, b: [x, {c: ''}]}]\n"
      "'1': key that looks like an int\n");
  root.set("code_null", Node::scalar("", false, {}));  // plain empty = null
  const std::string yaml = toYaml(root);
  const Node again = parseYamlText(yaml, Origin{});
  expectSameTree(root, again, "");
  EXPECT_EQ(toYaml(again), yaml);
}

TEST(ToYaml, QuotesStringsThatWouldReadAsOtherTypes) {
  const Node root = parse("a: '1'\nb: 'true'\nc: ''\nd: 'null'\ne: x\nf: 2\n");
  EXPECT_EQ(toYaml(root),
            "a: \"1\"\nb: \"true\"\nc: \"\"\nd: \"null\"\ne: x\nf: 2\n");
  EXPECT_EQ(toFlowYaml(parse("[1, '2', x, ~]")), "[1, \"2\", x, ~]");
}

TEST(Flatten, OneEntryPerLeaf) {
  const Node root = parse(
      "seed: 3\n"
      "optim: {lr: 0.1, nesterov: true, name: sgd}\n"
      "data: {sizes: [32, 32], names: [cat, '1'], none: ~, empty: []}\n"
      "metrics:\n"
      "  - name: map\n"
      "  - name: top_k\n"
      "    k: 5\n"
      "quoted: '7'\n");
  const std::vector<FlatParam> flat = flatten(root);
  std::vector<std::string> rows;
  for (const FlatParam& param : flat) {
    rows.push_back(param.key + " " + param.type + " " + param.value);
  }
  EXPECT_EQ(rows, (std::vector<std::string>{
                      "seed int 3",
                      "optim.lr float 0.1",
                      "optim.nesterov bool true",
                      "optim.name string sgd",
                      "data.sizes list [32, 32]",
                      "data.names list [cat, \"1\"]",
                      "data.none null null",
                      "data.empty list []",
                      "metrics.0.name string map",
                      "metrics.1.name string top_k",
                      "metrics.1.k int 5",
                      "quoted string 7",
                  }));
}

// --- The whole pipeline ------------------------------------------------------

TEST(Pipeline, ErrorsPointAtTheOverrideThatWroteTheValue) {
  SpecFiles files;
  const std::string path =
      files.write("exp.yaml", "extends: " + kData +
                                  "child.yaml\n"
                                  "name: exp-${seed}\n"
                                  "optim:\n"
                                  "  name: adam\n"
                                  "data:\n"
                                  "  sizes: [32, 32]\n"
                                  "  mean: [0.5]\n"
                                  "  synthetic: {}\n"
                                  "model:\n"
                                  "  head:\n"
                                  "    hidden: ${data.synthetic.num_classes}\n"
                                  "  backbone:\n"
                                  "    name: resnet\n");
  Node root = loadSpecFile(path);
  applyOverrides(
      root, {"seed=5", "+data.synthetic.num_classes=12", "~optim.momentum"});
  resolveInterpolations(root);
  validate(root, testSchema(), testPlugins);
  EXPECT_EQ(root.at("name").text(), "exp-5");
  EXPECT_EQ(root.at("model.head.hidden").asInt(), 12);
  EXPECT_EQ(root.at("model.head.name").text(), "mlp");

  Node bad = loadSpecFile(path);
  applyOverrides(bad, {"optim.name=rmsprop", "++data.synthetic.num_classes=1"});
  resolveInterpolations(bad);
  EXPECT_EQ(errorOf([&] { validate(bad, testSchema(), testPlugins); }),
            "override 'optim.name=rmsprop': optim.name: expected one of "
            "adam|sgd, found string 'rmsprop'");
  // Unknown keys point at the key, in the file that wrote it.
  const std::string typo =
      files.write("typo.yaml", "extends: exp.yaml\noptim:\n  lrr: 0.1\n");
  Node typo_root = loadSpecFile(typo);
  applyOverride(typo_root, "~optim.momentum");
  EXPECT_EQ(errorOf([&] { validate(typo_root, testSchema(), testPlugins); }),
            typo + ":3:3: optim.lrr: unknown key; did you mean 'optim.lr'?");

  Node unknown = loadSpecFile(path);
  applyOverrides(unknown, {"model.head.name=fcc", "~optim.momentum",
                           "++data.synthetic.num_classes=1"});
  resolveInterpolations(unknown);
  EXPECT_EQ(errorOf([&] { validate(unknown, testSchema(), testPlugins); }),
            "override 'model.head.name=fcc': model.head.name: unknown head "
            "plugin 'fcc'; known: fc, mlp");
}

}  // namespace
}  // namespace labrun::spec
