// The spec reference's Markdown (cli/SpecDoc): grouping, defaults, choices,
// escaping and plugin order, on a hand-made schema. docs/SPEC.md itself is
// checked against the real schemas by the spec_doc_fresh ctest.
#include <gtest/gtest.h>

#include <sstream>

#include "cli/SpecDoc.h"

namespace {

using labrun::ParamType;
using labrun::cli::PluginDoc;

std::string render(std::vector<PluginDoc> plugins) {
  labrun::spec::Schema schema;
  schema.fields = {
      {"seed", ParamType::kInt, "0", "the seed"},
      {"optim.lr", ParamType::kFloat, "0.001", "learning rate"},
      {"optim.name", ParamType::kString, "adam", "optimizer", "adam|sgd"},
      // A top-level key declared after a section still lists with "seed".
      {"init_from", ParamType::kString, "''", "a | b"},
      {"data.train.images", ParamType::kString, "", "<root>/images"},
  };
  schema.slots = {
      {"loss", labrun::PluginKind::kLoss, false, "bce", "loss plugin"}};
  std::ostringstream out;
  labrun::cli::writeSpecMarkdown(schema, std::move(plugins), "make-it", out);
  return out.str();
}

std::size_t at(const std::string& text, const std::string& what) {
  const std::size_t pos = text.find(what);
  EXPECT_NE(pos, std::string::npos) << "missing: " << what << "\n" << text;
  return pos;
}

TEST(SpecDoc, CoreFieldsGroupedWithDefaultsAndChoices) {
  const std::string md = render({});
  at(md, "```sh\nmake-it\n```");
  const std::size_t top = at(md, "### Top level");
  const std::size_t seed = at(md, "| `seed` | integer | `0` | the seed |");
  const std::size_t init = at(md, "| `init_from` | string | `''` | a \\| b |");
  const std::size_t optim = at(md, "### `optim`");
  at(md,
     "| `optim.name` | string | `adam` | optimizer (one of `adam`, `sgd`) |");
  at(md, "| `data.train.images` | string | *(none)* | &lt;root>/images |");
  EXPECT_LT(top, seed);
  EXPECT_LT(init, optim);
  EXPECT_LT(optim, at(md, "### `data`"));
  at(md, "| `loss` | loss | `bce` | loss plugin |");
}

TEST(SpecDoc, PluginsSortedByKindThenName) {
  static const labrun::ParamSpec kFocal[] = {
      {"gamma", ParamType::kFloat, "2.0", "focusing"},
      {"table", ParamType::kString, nullptr, "required file"}};
  const std::string md =
      render({{"loss", "focal", "1.0.0", "focal loss", {kFocal, kFocal + 2}},
              {"head", "fc", "1.0.0", "linear", {}},
              {"backbone", "resnet", "2.0.0", "resnets", {}}});
  const std::size_t backbone = at(md, "### backbone `resnet` 2.0.0");
  const std::size_t head =
      at(md, "### head `fc` 1.0.0\n\nlinear\n\nNo parameters.");
  const std::size_t loss = at(md, "### loss `focal` 1.0.0");
  EXPECT_LT(backbone, head);
  EXPECT_LT(head, loss);
  at(md, "| `gamma` | number | `2.0` | focusing |");
  at(md, "| `table` | string | *(required)* | required file |");
}

}  // namespace
