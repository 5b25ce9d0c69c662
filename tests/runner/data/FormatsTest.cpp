// Dataset formats (coco, voc, list), class lists, the label cache and the
// spec entry point, on small hand-checked fixtures (tests/data/formats) and
// on a generated COCO-shaped file checked against the Python peer.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <torch/torch.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "data/ClassList.h"
#include "data/CocoAnnotations.h"
#include "data/JsonObjectStream.h"
#include "data/LabelCache.h"
#include "data/LabelSet.h"
#include "data/LabelSource.h"
#include "data/LabelTable.h"
#include "data/ListAnnotations.h"
#include "data/VocAnnotations.h"
#include "spec/Schema.h"
#include "spec/SpecError.h"
#include "spec/SpecLoader.h"
#include "train/CoreSchema.h"
#include "train/LabelSourceBinding.h"

namespace labrun::data {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

const fs::path kData = fs::path(LABRUN_TEST_DATA) / "formats";
const fs::path kCoco = kData / "coco" / "instances.json";
const fs::path kVoc = kData / "voc" / "VOC2007";

constexpr std::uint8_t N = LabelTable::kNegative;
constexpr std::uint8_t P = LabelTable::kPositive;
constexpr std::uint8_t I = LabelTable::kIgnored;

using Rows = std::vector<std::vector<std::uint8_t>>;

Rows rowsOf(const LabelTable& table) {
  Rows rows;
  for (std::size_t i = 0; i < table.numImages(); ++i) {
    rows.emplace_back(table.states.begin() + i * table.numClasses(),
                      table.states.begin() + (i + 1) * table.numClasses());
  }
  return rows;
}

std::vector<std::string> fileNames(const LabelTable& table) {
  std::vector<std::string> names;
  for (const std::string& path : table.image_paths) {
    names.push_back(fs::path(path).filename().string());
  }
  return names;
}

std::string slurp(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}

void writeFile(const fs::path& path, const std::string& text) {
  fs::create_directories(path.parent_path());
  std::ofstream(path, std::ios::binary) << text;
}

// The message of the std::runtime_error that `call` throws ("" if none).
template <typename Call>
std::string errorOf(Call&& call) {
  try {
    call();
  } catch (const std::runtime_error& error) {
    return error.what();
  }
  return "";
}

// A fresh folder per test.
class FormatsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = fs::path(::testing::TempDir()) / "labrun_formats" /
           (std::string(info->test_suite_name()) + "." + info->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  fs::path dir_;
};

// ---------------------------------------------------------------- class lists

TEST_F(FormatsTest, ClassListReadsTsvNameColumnAndPlainLines) {
  const ClassList tsv = ClassList::read((kData / "coco/classes.tsv").string());
  EXPECT_EQ(tsv.names(),
            (std::vector<std::string>{"cat", "dog", "person", "car"}));
  EXPECT_EQ(tsv.find("person"), 2u);
  EXPECT_FALSE(tsv.find("bus"));
  // Whitespace trimmed, blank lines at the end skipped.
  const ClassList plain =
      ClassList::read((kData / "coco/classes.txt").string());
  EXPECT_EQ(plain.names(),
            (std::vector<std::string>{"car", "person", "cat", "dog"}));
  // The shared COCO list: 80 names in alphabetical order.
  const ClassList shared = ClassList::read(
      (fs::path(LABRUN_SOURCE_DIR) / "configs/data/coco2014/classes.tsv")
          .string());
  EXPECT_EQ(shared.size(), 80u);
  EXPECT_EQ(shared.names().front(), "airplane");
}

TEST_F(FormatsTest, ClassListErrorsNameFileAndLine) {
  writeFile(dir_ / "no_name.tsv", "index\tlabel\n0\tcat\n");
  EXPECT_THAT(
      errorOf([&] { ClassList::read((dir_ / "no_name.tsv").string()); }),
      HasSubstr("no_name.tsv:1: expected a tab-separated header with "
                "a 'name' column"));
  writeFile(dir_ / "short.tsv", "index\tname\n0\tcat\n1\n");
  EXPECT_THAT(errorOf([&] { ClassList::read((dir_ / "short.tsv").string()); }),
              HasSubstr("short.tsv:3: expected a name in column 2"));
  writeFile(dir_ / "twice.txt", "cat\ndog\ncat\n");
  EXPECT_THAT(
      errorOf([&] { ClassList::read((dir_ / "twice.txt").string()); }),
      HasSubstr("twice.txt:3: class 'cat' is already listed on line 1"));
  // A blank line among the names would shift every later index; blank
  // lines at the end are fine.
  writeFile(dir_ / "gap.txt", "cat\n\ndog\n");
  EXPECT_THAT(errorOf([&] { ClassList::read((dir_ / "gap.txt").string()); }),
              HasSubstr("gap.txt:2: blank line among the class names"));
  writeFile(dir_ / "trailing.txt", "\ncat\ndog\n\n\n");
  EXPECT_EQ(ClassList::read((dir_ / "trailing.txt").string()).names(),
            (std::vector<std::string>{"cat", "dog"}));
  writeFile(dir_ / "empty.txt", "\n\n");
  EXPECT_THAT(errorOf([&] { ClassList::read((dir_ / "empty.txt").string()); }),
              HasSubstr("empty.txt: expected at least one class name"));
  EXPECT_THAT(errorOf([&] { ClassList::read((dir_ / "absent.txt").string()); }),
              HasSubstr("absent.txt: cannot read the class list"));
}

// ----------------------------------------------------------------------- coco

CocoOptions cocoOptions() {
  CocoOptions options;
  options.annotations = kCoco.string();
  options.images = "/images";
  return options;
}

TEST_F(FormatsTest, CocoOrdersCategoriesByIdAndCountsCrowds) {
  const LabelTable table = readCocoAnnotations(cocoOptions());
  // Ids 18, 1, 17, 3 in the file: columns follow the ids, not the file.
  EXPECT_EQ(table.class_names,
            (std::vector<std::string>{"person", "car", "cat", "dog"}));
  // Rows follow `images`; unicode and escaped quotes in names survive.
  EXPECT_EQ(table.image_paths,
            (std::vector<std::string>{
                "/images/a.jpg", "/images/b c.jpg", "/images/caf\u00e9.jpg",
                "/images/\u00fcn\u00ef \"quoted\".jpg", "/images/empty.jpg"}));
  EXPECT_EQ(rowsOf(table), (Rows{
                               {N, P, N, P},  // a: dog twice, car
                               {P, N, N, N},  // b: a crowd of persons
                               {N, N, P, N},  // café: cat
                               {N, N, N, P},  // ünï: a crowd (RLE string) dog
                               {N, N, N, N},  // empty: kept, all negative
                           }));
}

TEST_F(FormatsTest, CocoClassListSetsTheOrderAndDropUnannotatedDrops) {
  CocoOptions options = cocoOptions();
  options.classes = ClassList::read((kData / "coco/classes.tsv").string());
  options.drop_unannotated = true;
  const LabelTable table = readCocoAnnotations(options);
  EXPECT_EQ(table.class_names,
            (std::vector<std::string>{"cat", "dog", "person", "car"}));
  EXPECT_EQ(fileNames(table),
            (std::vector<std::string>{"a.jpg", "b c.jpg", "caf\u00e9.jpg",
                                      "\u00fcn\u00ef \"quoted\".jpg"}));
  EXPECT_EQ(rowsOf(table), (Rows{
                               {N, P, N, P},
                               {N, N, P, N},
                               {P, N, N, N},
                               {N, P, N, N},
                           }));
}

// Windows as small as 16 bytes cut the file everywhere: inside strings,
// escapes, UTF-8 characters, numbers and nested arrays.
TEST_F(FormatsTest, CocoGivesTheSameLabelsForEveryWindowSize) {
  const LabelTable whole = readCocoAnnotations(cocoOptions());
  const std::size_t size = fs::file_size(kCoco);
  for (std::size_t window = 16; window <= size + 1; ++window) {
    CocoOptions options = cocoOptions();
    options.window_bytes = window;
    const LabelTable table = readCocoAnnotations(options);
    ASSERT_EQ(table.image_paths, whole.image_paths) << "window " << window;
    ASSERT_EQ(table.class_names, whole.class_names) << "window " << window;
    ASSERT_EQ(table.states, whole.states) << "window " << window;
  }
}

// Keeps the ids of the elements committed.
class IdSink : public JsonObjectStream::Sink {
 public:
  void parse(std::string_view, simdjson::ondemand::value element) override {
    pending_ = element["id"].get_int64().value();
  }
  void commit() override { ids.push_back(pending_); }
  std::vector<std::int64_t> ids;

 private:
  std::int64_t pending_ = -1;
};

// Windows end inside strings, escapes and numbers, but every window holds
// a whole element: none needs to grow (one that did stayed larger for the
// rest of the file: 32 MiB instead of 8 on COCO's train file). Only a value
// larger than the window makes it grow, for that value.
TEST_F(FormatsTest, JsonWindowsGrowOnlyForValuesLargerThanThem) {
  std::string elements;
  std::vector<std::int64_t> ids;
  for (int i = 0; i < 200; ++i) {
    const std::string number = std::to_string(i);
    elements += std::string(i ? ", " : "") + "{\"file_name\": \"x\\\"" +
                std::string(i % 7, '0') + number +
                ".jpg\", \"id\": " + std::to_string(1000 + i) + "}";
    ids.push_back(1000 + i);
  }
  const std::string large =
      ", \"info\": {\"note\": \"" + std::string(300, 'n') + "\"}";
  for (const bool with_large : {false, true}) {
    const fs::path path = dir_ / "windows.json";
    writeFile(path, "{\"images\": [" + elements + "]" +
                        (with_large ? large : "") + "}");
    for (std::size_t window = 96; window <= 160; ++window) {
      JsonObjectStream stream(path.string(), window);
      IdSink sink;
      EXPECT_EQ(stream.read(sink), std::vector<std::string>{"images"});
      ASSERT_EQ(sink.ids, ids) << "window " << window;
      if (with_large) {
        EXPECT_GE(stream.largestWindow(), 300u) << "window " << window;
      } else {
        EXPECT_EQ(stream.largestWindow(), window) << "window " << window;
      }
    }
  }
}

// The Python peer's label matrix (json.load + numpy) on a generated
// COCO-train2014-shaped file: polygons, RLE crowds, shuffled annotations.
TEST_F(FormatsTest, CocoMatchesPythonOnGeneratedInstances) {
  const fs::path generated = fs::path(LABRUN_GENERATED_COCO);
  std::ifstream reference(generated.string() + ".expected.tsv");
  ASSERT_TRUE(reference) << "run the coco_fixture ctest first";
  std::vector<std::string> names;
  Rows expected;
  std::string line;
  while (std::getline(reference, line)) {
    const auto tab = line.find('\t');
    names.push_back(line.substr(0, tab));
    std::vector<std::uint8_t> row(80, N);
    std::stringstream columns(line.substr(tab + 1));
    for (std::string k; std::getline(columns, k, ',');) row[std::stoul(k)] = P;
    expected.push_back(row);
  }
  ASSERT_EQ(expected.size(), 2000u);
  for (const std::size_t window :
       {std::size_t{0}, std::size_t{4096}, std::size_t{65536}}) {
    CocoOptions options;
    options.annotations = generated.string();
    options.images = "/coco/train2014";
    options.window_bytes = window;
    const LabelTable table = readCocoAnnotations(options);
    EXPECT_EQ(fileNames(table), names) << "window " << window;
    EXPECT_EQ(rowsOf(table), expected) << "window " << window;
    EXPECT_EQ(table.class_names.front(), "person");  // id 1
  }
}

TEST_F(FormatsTest, CocoErrorsNameTheFile) {
  CocoOptions options = cocoOptions();
  const auto read = [&] { readCocoAnnotations(options); };

  options.annotations = (dir_ / "photo.jpg").string();
  writeFile(options.annotations, std::string("\xff\xd8\xff\xe0\0\x10JFIF", 10));
  EXPECT_THAT(errorOf(read),
              HasSubstr("photo.jpg: not a JSON object: expected '{', found "
                        "byte 0xff at byte 0 (binary data)"));

  // A UTF-8 byte order mark is read past; no categories is an error.
  const std::string text = slurp(kCoco);
  options.annotations = (dir_ / "bom.json").string();
  writeFile(options.annotations, "\xEF\xBB\xBF" + text);
  EXPECT_EQ(rowsOf(readCocoAnnotations(options)),
            rowsOf(readCocoAnnotations(cocoOptions())));
  options.annotations = (dir_ / "no_categories.json").string();
  writeFile(options.annotations,
            R"({"images": [{"id": 1, "file_name": "a.jpg"}], )"
            R"("annotations": [], "categories": []})");
  EXPECT_THAT(errorOf(read),
              HasSubstr("no_categories.json: 'categories' is empty; a COCO "
                        "instances file lists its classes there"));

  // Truncated anywhere: never a silent partial result.
  options.annotations = (dir_ / "truncated.json").string();
  for (const std::size_t cut :
       {text.size() / 3, text.size() / 2, text.size() - 40, text.size() - 3}) {
    writeFile(options.annotations, text.substr(0, cut));
    for (const std::size_t window : {std::size_t{0}, std::size_t{64}}) {
      options.window_bytes = window;
      EXPECT_THAT(errorOf(read),
                  HasSubstr("truncated.json: malformed or truncated JSON"))
          << "cut at " << cut << ", window " << window;
    }
  }
  options.window_bytes = 0;

  options.annotations = (dir_ / "other.json").string();
  writeFile(options.annotations, R"({"images": [], "annotations": []})");
  EXPECT_THAT(errorOf(read),
              HasSubstr("other.json: not a COCO instances file: no "
                        "'categories' array (top-level arrays: images, "
                        "annotations)"));

  writeFile(options.annotations, text + "\n{}");
  EXPECT_THAT(errorOf(read),
              HasSubstr("other.json: malformed JSON: unexpected content "
                        "after the root object"));

  writeFile(options.annotations,
            R"({"images": [{"id": 1, "file_name": "x.jpg"}],
                "categories": [{"id": 5, "name": "cat"}],
                "annotations": [{"image_id": 2, "category_id": 5}]})");
  EXPECT_THAT(errorOf(read),
              HasSubstr("other.json: annotations[0] refers to image_id 2, "
                        "which is not in 'images'"));

  writeFile(options.annotations,
            R"({"images": [{"id": 1}], "categories": [], "annotations": []})");
  EXPECT_THAT(errorOf(read),
              HasSubstr("other.json: not a COCO instances file: images[0] "
                        "has no 'file_name'"));

  // A field of the wrong type is named with what was expected, whatever
  // the window (an element cut by it is read again, not blamed).
  const std::vector<std::pair<std::string, std::string>> mistyped = {
      {R"({"images": [{"id": 1, "file_name": "a.jpg"}, {"id": "seven",
          "file_name": "b.jpg"}], "categories": [], "annotations": []})",
       "other.json: images[1].id: expected a 64-bit integer, found \"seven\""},
      {R"({"images": [{"id": 1, "file_name": null}], "categories": [],
          "annotations": []})",
       "other.json: images[0].file_name: expected a string, found null"},
      {R"({"images": [], "categories": [{"id": 1, "name": 3}],
          "annotations": []})",
       "other.json: categories[0].name: expected a string, found 3"},
      {R"({"images": [], "categories": [], "annotations": [{"image_id":
          1.0, "category_id": 1}]})",
       "other.json: annotations[0].image_id: expected a 64-bit integer, "
       "found 1.0"},
      {R"({"images": [{"id": 1180591620717411303424, "file_name": "a"}],
          "categories": [], "annotations": []})",
       "other.json: images[0].id: expected a 64-bit integer, found "
       "1180591620717411303424"},
  };
  for (const auto& [json, message] : mistyped) {
    writeFile(options.annotations, json);
    for (const std::size_t window : {std::size_t{0}, std::size_t{16}}) {
      options.window_bytes = window;
      EXPECT_THAT(errorOf(read), HasSubstr(message)) << "window " << window;
    }
  }
  options.window_bytes = 0;

  options.annotations = (dir_ / "absent.json").string();
  EXPECT_THAT(errorOf(read), HasSubstr("absent.json: cannot open"));
}

TEST_F(FormatsTest, CocoClassListMustMatchTheCategories) {
  CocoOptions options = cocoOptions();
  const auto read = [&] { readCocoAnnotations(options); };
  writeFile(dir_ / "bus.txt", "cat\ndog\nperson\nbus\n");
  options.classes = ClassList::read((dir_ / "bus.txt").string());
  EXPECT_THAT(errorOf(read),
              HasSubstr("bus.txt: category 'car' (id 3) of " + kCoco.string() +
                        " is not in the class list"));
  writeFile(dir_ / "five.txt", "cat\ndog\nperson\ncar\nbus\n");
  options.classes = ClassList::read((dir_ / "five.txt").string());
  EXPECT_THAT(errorOf(read),
              HasSubstr("five.txt: 5 classes, but " + kCoco.string() +
                        " has 4 categories; not categories there: 'bus'"));
}

// ------------------------------------------------------------------------ voc

VocOptions vocOptions(Difficult difficult) {
  VocOptions options;
  options.root = kVoc.string();
  options.split = "trainval";
  options.difficult = difficult;
  return options;
}

TEST_F(FormatsTest, VocDifficultModes) {
  // Columns: car 6, chair 8, horse 12, person 14 of the standard 20.
  const auto pick = [](const LabelTable& table) {
    Rows rows;
    for (std::size_t i = 0; i < table.numImages(); ++i) {
      rows.push_back(
          {table.at(i, 6), table.at(i, 8), table.at(i, 12), table.at(i, 14)});
    }
    return rows;
  };
  const LabelTable ignore = readVocAnnotations(vocOptions(Difficult::kIgnore));
  EXPECT_EQ(ignore.class_names, vocClasses().names());
  EXPECT_EQ(ignore.class_names[8], "chair");
  EXPECT_EQ(ignore.image_paths.front(),
            (kVoc / "JPEGImages" / "000005.jpg").string());
  // 000005: chair (and a difficult chair), a difficult-only person;
  // 000007: car; 000009: a horse both difficult and not, a person without a
  // <difficult> tag; 000012: no objects.
  EXPECT_EQ(pick(ignore),
            (Rows{{N, P, N, I}, {P, N, N, N}, {N, N, P, P}, {N, N, N, N}}));
  EXPECT_EQ(pick(readVocAnnotations(vocOptions(Difficult::kPositive))),
            (Rows{{N, P, N, P}, {P, N, N, N}, {N, N, P, P}, {N, N, N, N}}));
  EXPECT_EQ(pick(readVocAnnotations(vocOptions(Difficult::kNegative))),
            (Rows{{N, P, N, N}, {P, N, N, N}, {N, N, P, P}, {N, N, N, N}}));
  // No other class is set anywhere.
  std::size_t set = 0;
  for (const std::uint8_t state : ignore.states) set += state != N;
  EXPECT_EQ(set, 5u);
}

TEST_F(FormatsTest, VocClassListSplitAndDropUnannotated) {
  VocOptions options = vocOptions(Difficult::kIgnore);
  options.drop_unannotated = true;
  EXPECT_EQ(
      fileNames(readVocAnnotations(options)),
      (std::vector<std::string>{"000005.jpg", "000007.jpg", "000009.jpg"}));
  writeFile(dir_ / "classes.txt", "train\ndog\nperson\n");
  options.classes = ClassList::read((dir_ / "classes.txt").string());
  options.split = "test";
  options.images = "/voc/images";
  const LabelTable test = readVocAnnotations(options);
  EXPECT_EQ(test.class_names,
            (std::vector<std::string>{"train", "dog", "person"}));
  EXPECT_EQ(test.image_paths,
            (std::vector<std::string>{"/voc/images/000001.jpg",
                                      "/voc/images/000002.jpg"}));
  EXPECT_EQ(rowsOf(test), (Rows{{N, P, P}, {I, N, N}}));
}

TEST_F(FormatsTest, VocErrorsNameTheFile) {
  const fs::path root = dir_ / "VOC2007";
  fs::copy(kVoc, root, fs::copy_options::recursive);
  VocOptions options = vocOptions(Difficult::kIgnore);
  options.root = root.string();
  const auto read = [&] { readVocAnnotations(options); };

  writeFile(dir_ / "few.txt", "car\nchair\nhorse\n");
  options.classes = ClassList::read((dir_ / "few.txt").string());
  EXPECT_THAT(errorOf(read),
              HasSubstr("000005.xml: object class 'person' is not in the "
                        "class list (" +
                        (dir_ / "few.txt").string() + ")"));
  options.classes = ClassList();

  writeFile(root / "Annotations/000007.xml", "<annotation><object><name>car");
  EXPECT_THAT(errorOf(read), HasSubstr("000007.xml: malformed XML at byte"));
  writeFile(root / "Annotations/000007.xml", "<html><body/></html>");
  EXPECT_THAT(errorOf(read),
              HasSubstr("000007.xml: not a VOC annotation: expected an "
                        "<annotation> root element"));
  fs::remove(root / "Annotations/000007.xml");
  const std::string image_set = (root / "ImageSets/Main/trainval.txt").string();
  EXPECT_THAT(errorOf(read),
              HasSubstr("000007.xml: no such annotation file (image '000007' "
                        "of " +
                        image_set));
  fs::create_directory(root / "Annotations/000007.xml");
  EXPECT_THAT(errorOf(read),
              HasSubstr("000007.xml: a folder, not an annotation file (image "
                        "'000007' of " +
                        image_set));
  fs::remove(root / "Annotations/000007.xml");
  fs::copy_file(kVoc / "Annotations/000007.xml",
                root / "Annotations/000007.xml");
  // <difficult> is 0 or 1: pugixml alone would read "maybe" as 0.
  writeFile(root / "Annotations/000009.xml",
            "<annotation><object><name>horse</name><difficult>maybe"
            "</difficult></object></annotation>");
  EXPECT_THAT(errorOf(read),
              HasSubstr("000009.xml: object 'horse' at byte 13: <difficult> "
                        "is 'maybe'; expected 0 or 1"));
  fs::copy_file(kVoc / "Annotations/000009.xml",
                root / "Annotations/000009.xml",
                fs::copy_options::overwrite_existing);
  // An image listed twice would count twice in every metric.
  const std::string ids = slurp(image_set);
  writeFile(image_set, ids + "000007\n");
  EXPECT_THAT(errorOf(read),
              HasSubstr("trainval.txt:5: image '000007' is already listed on "
                        "line 2"));
}

// ----------------------------------------------------------------------- list

TEST_F(FormatsTest, ListIndicesWithAndWithoutClassNames) {
  ListOptions options;
  options.list = (kData / "list/indices.txt").string();
  const LabelTable numbered = readListAnnotations(options);
  EXPECT_EQ(numbered.class_names,
            (std::vector<std::string>{"class0", "class1", "class2"}));
  EXPECT_EQ(numbered.image_paths.front(),
            (kData / "list/images/a.jpg").string());
  EXPECT_EQ(rowsOf(numbered),
            (Rows{{P, N, P}, {N, P, N}, {N, N, N}, {P, N, P}}));

  options.classes = ClassList::read((kData / "list/colors.txt").string());
  options.images = "/data";
  options.drop_unannotated = true;
  const LabelTable named = readListAnnotations(options);
  EXPECT_EQ(named.class_names,
            (std::vector<std::string>{"red", "green", "blue"}));
  EXPECT_EQ(named.image_paths, (std::vector<std::string>{
                                   "/data/images/a.jpg", "/data/images/b.jpg",
                                   "/data/images/d.jpg"}));
  EXPECT_EQ(rowsOf(named), (Rows{{P, N, P}, {N, P, N}, {P, N, P}}));
}

TEST_F(FormatsTest, ListDenseRows) {
  ListOptions options;
  options.list = (kData / "list/dense.csv").string();
  const LabelTable table = readListAnnotations(options);
  EXPECT_EQ(table.class_names.size(), 4u);
  EXPECT_EQ(fileNames(table),
            (std::vector<std::string>{"img1.jpg", "img 2.jpg", "img3.jpg"}));
  EXPECT_EQ(table.image_paths[1], (kData / "list/sub dir/img 2.jpg").string());
  EXPECT_EQ(rowsOf(table), (Rows{{N, P, N, P}, {P, N, N, N}, {N, N, N, N}}));
  options.classes = ClassList::read((kData / "list/objects.txt").string());
  EXPECT_EQ(readListAnnotations(options).class_names,
            (std::vector<std::string>{"sky", "tree", "man", "car"}));
}

TEST_F(FormatsTest, ListErrorsNameFileAndLine) {
  ListOptions options;
  options.list = (dir_ / "labels.txt").string();
  const auto read = [&] { readListAnnotations(options); };
  const std::string list = options.list;

  options.classes = ClassList::read((kData / "list/colors.txt").string());
  writeFile(list, "a.jpg 0\nb.jpg 3\n");
  EXPECT_THAT(errorOf(read), HasSubstr(list + ":2: label index 3 is outside "
                                              "the class list"));
  writeFile(list, "a.jpg 0\nb.jpg -1\n");
  EXPECT_THAT(errorOf(read), HasSubstr(list + ":2: expected a label index (an "
                                              "integer >= 0), found '-1'"));
  writeFile(list, "a.jpg,0,1,1\nb.jpg,0,2,0\n");
  EXPECT_THAT(errorOf(read),
              HasSubstr(list + ":2: label 2: expected 0 or 1, found '2'"));
  writeFile(list, "a.jpg,0,1,1\nb.jpg,0,1\n");
  EXPECT_THAT(errorOf(read), HasSubstr(list + ":2: expected 3 labels like "
                                              "the first line, found 2"));
  writeFile(list, "a.jpg,0,1\n");
  EXPECT_THAT(errorOf(read), HasSubstr(list + ":1: 2 labels per row, but the "
                                              "class list"));
  writeFile(list, "a.jpg,0,1,1\nb.jpg 2\n");
  EXPECT_THAT(errorOf(read), HasSubstr(list + ":2: expected 'image,0,1,...' "
                                              "like the first line"));
  options.classes = ClassList();
  writeFile(list, "a.jpg\nb.jpg\n");
  EXPECT_THAT(errorOf(read), HasSubstr(list + ": no image has a label"));
  // Found by fuzzing: the index alone once sized a 1.1 GB label table.
  writeFile(list, "a.jpg 1\n2   1111111111\n");
  EXPECT_THAT(errorOf(read),
              HasSubstr(list + ":2: label index 1111111111 would make "
                               "1111111112 classes; without a class list at "
                               "most 10000 are inferred"));
}

// ------------------------------------------------------------ tensors, cache

TEST_F(FormatsTest, LabelTableToLabelSet) {
  LabelTable table;
  table.class_names = {"a", "b", "c"};
  table.image_paths = {"/x.jpg", "/y.jpg"};
  table.states = {P, I, N, N, N, P};
  const LabelSet set = toLabelSet(table);
  EXPECT_TRUE(torch::equal(set.targets,
                           torch::tensor({{1.f, 0.f, 0.f}, {0.f, 0.f, 1.f}})));
  EXPECT_TRUE(torch::equal(set.mask,
                           torch::tensor({{1.f, 0.f, 1.f}, {1.f, 1.f, 1.f}})));
  EXPECT_EQ(set.image_paths, table.image_paths);
  EXPECT_EQ(set.class_names, table.class_names);
}

class CacheTest : public FormatsTest {
 protected:
  void SetUp() override {
    FormatsTest::SetUp();
    source_ = dir_ / "instances.json";
    fs::copy_file(kCoco, source_);
    file_ = (dir_ / "cache.labels").string();
  }
  // Loads through a cache on `source_`, counting parses.
  LabelCache::Result load(const std::string& key = "k") {
    CocoOptions options = cocoOptions();
    options.annotations = source_.string();
    return LabelCache(file_, key, {source_.string()})
        .loadOrBuild(
            [&] {
              ++builds_;
              return readCocoAnnotations(options);
            },
            warnings_);
  }
  fs::path source_;
  std::string file_;
  int builds_ = 0;
  std::ostringstream warnings_;
};

TEST_F(CacheTest, HitReturnsTheSameLabels) {
  const LabelCache::Result built = load();
  EXPECT_FALSE(built.hit);
  ASSERT_TRUE(fs::exists(file_));
  const LabelCache::Result cached = load();
  EXPECT_TRUE(cached.hit);
  EXPECT_EQ(builds_, 1);
  EXPECT_EQ(cached.table.class_names, built.table.class_names);
  EXPECT_EQ(cached.table.image_paths, built.table.image_paths);
  EXPECT_EQ(cached.table.states, built.table.states);
  const LabelSet a = toLabelSet(built.table), b = toLabelSet(cached.table);
  EXPECT_TRUE(torch::equal(a.targets, b.targets));
  EXPECT_TRUE(torch::equal(a.mask, b.mask));
  // Another key (other options) is not served from this file.
  EXPECT_FALSE(load("other").hit);
  EXPECT_EQ(warnings_.str(), "");
  // No temporary files left behind.
  EXPECT_EQ(std::distance(fs::directory_iterator(dir_), {}), 2);
}

TEST_F(CacheTest, ModifiedAnnotationsInvalidate) {
  load();
  // Same size and a new time, other content: the hash decides.
  std::string text = slurp(source_);
  const auto at = text.find("\"category_id\": 17");
  ASSERT_NE(at, std::string::npos);
  text.replace(at, 17, "\"category_id\": 18");
  writeFile(source_, text);
  fs::last_write_time(source_,
                      fs::last_write_time(source_) + std::chrono::seconds(5));
  const LabelCache::Result changed = load();
  EXPECT_FALSE(changed.hit);
  EXPECT_EQ(builds_, 2);
  EXPECT_EQ(changed.table.at(2, 3), P);  // café: now a dog
  EXPECT_EQ(changed.table.at(2, 2), N);
  // Another size.
  writeFile(source_, text + "\n");
  EXPECT_FALSE(load().hit);
  EXPECT_EQ(builds_, 3);
  // A touch alone keeps the cache (and refreshes its times).
  fs::last_write_time(source_,
                      fs::last_write_time(source_) + std::chrono::seconds(5));
  EXPECT_TRUE(load().hit);
  EXPECT_TRUE(load().hit);
  EXPECT_EQ(builds_, 3);
}

TEST_F(CacheTest, CorruptCacheIsRebuilt) {
  const LabelTable built = load().table;
  const std::string good = slurp(file_);
  const std::vector<std::pair<std::string, std::string>> damages = {
      {good.substr(0, good.size() / 2), "truncated"},
      {std::string(good).replace(good.size() - 5, 1, "\x07"),
       "checksum mismatch"},
      {"garbage", "ends early"},
      {std::string(good).replace(0, 3, "XYZ"), "not a label cache file"},
  };
  for (const auto& [bytes, why] : damages) {
    writeFile(file_, bytes);
    warnings_.str("");
    const LabelCache::Result rebuilt = load();
    EXPECT_FALSE(rebuilt.hit) << why;
    EXPECT_EQ(rebuilt.table.states, built.states) << why;
    EXPECT_EQ(warnings_.str(), "labrun: warning: label cache " + file_ +
                                   " is corrupt (" + why +
                                   "); rebuilding it\n");
    EXPECT_EQ(slurp(file_), good) << why;
  }
  EXPECT_TRUE(load().hit);
  EXPECT_TRUE(load().stored);
}

TEST_F(CacheTest, FolderInTheCachesPlaceIsAWarningNotAFailure) {
  fs::create_directory(file_);
  const LabelCache::Result built = load();
  EXPECT_FALSE(built.hit);
  EXPECT_FALSE(built.stored);
  EXPECT_EQ(builds_, 1);
  EXPECT_GT(built.table.numImages(), 0u);
  EXPECT_EQ(warnings_.str().rfind("labrun: warning: label cache: cannot write " +
                                      file_ + ": ",
                                  0),
            0u)
      << warnings_.str();
}

TEST_F(FormatsTest, CacheLocation) {
  const std::string anchor = (dir_ / "instances.json").string();
  const std::string next =
      LabelCache::location(anchor, "key", /*cache_dir=*/"");
  EXPECT_EQ(fs::path(next).parent_path(), dir_);
  EXPECT_EQ(fs::path(next).filename().string().rfind("instances.json.", 0), 0u);
  EXPECT_NE(next, LabelCache::location(anchor, "other key", ""));
  const std::string elsewhere =
      LabelCache::location(anchor, "key", (dir_ / "cache").string());
  EXPECT_EQ(fs::path(elsewhere).parent_path(), dir_ / "cache");
  EXPECT_TRUE(fs::is_directory(dir_ / "cache"));
}

// ------------------------------------------------------- spec entry point

class SourceTest : public FormatsTest {
 protected:
  // Validates `yaml` (data: keys) with the core schema and binds its label
  // source, as `labrun run` does; the spec file is <dir_>/specs/exp.yaml.
  LabelSourceOptions spec(const std::string& yaml) const {
    spec::Origin origin;
    origin.file = (dir_ / "specs" / "exp.yaml").string();
    spec::Node tree =
        spec::parseYamlText("model: {backbone: any}\n" + yaml, origin);
    spec::validate(tree, train::coreSchema(),
                   [](PluginKind, const std::string&) {
                     return std::vector<ParamSpec>{};
                   });
    return train::bindLabelSource(tree);
  }
  std::string specDir() const { return (dir_ / "specs").string(); }

  // A COCO layout under <dir_>/coco; the spec sits in <dir_>/specs.
  void makeCoco() const {
    fs::create_directories(dir_ / "specs");
    fs::create_directories(dir_ / "coco" / "annotations");
    fs::create_directories(dir_ / "coco" / "train2014");
    fs::copy_file(kCoco, dir_ / "coco" / "annotations" / "instances.json");
  }
  static constexpr const char* kCocoSpec =
      "data:\n"
      "  format: coco\n"
      "  root: ../coco\n"
      "  train: {annotations: annotations/instances.json, images: train2014}\n"
      "  val: {annotations: annotations/instances.json, images: train2014}\n";
};

TEST_F(SourceTest, CocoFromSpecCachesNextToTheAnnotations) {
  makeCoco();
  const LabelSourceOptions tree = spec(kCocoSpec);
  LabelLoadReport first, second;
  const LabelSet parsed = loadLabels(tree, "train", specDir(), &first);
  const fs::path anchor = dir_ / "coco" / "annotations" / "instances.json";
  EXPECT_EQ(first.annotations, anchor.string());
  EXPECT_FALSE(first.cache_hit);
  EXPECT_EQ(fs::path(first.cache_file).parent_path(), anchor.parent_path());
  EXPECT_TRUE(fs::exists(first.cache_file));
  EXPECT_EQ(parsed.image_paths.front(),
            (dir_ / "coco" / "train2014" / "a.jpg").string());
  EXPECT_EQ(parsed.targets.sizes(), (std::vector<std::int64_t>{5, 4}));
  EXPECT_EQ(parsed.targets.sum().item<float>(), 5.f);
  EXPECT_EQ(first.positives, 5u);
  EXPECT_EQ(first.ignored, 0u);

  const LabelSet cached = loadLabels(tree, "train", specDir(), &second);
  EXPECT_TRUE(second.cache_hit);
  EXPECT_EQ(second.cache_file, first.cache_file);
  EXPECT_TRUE(torch::equal(cached.targets, parsed.targets));
  EXPECT_TRUE(torch::equal(cached.mask, parsed.mask));
  EXPECT_EQ(cached.image_paths, parsed.image_paths);

  // Options are part of the key: dropping unannotated images is not a hit.
  const LabelSourceOptions dropping =
      spec(std::string(kCocoSpec) + "  drop_unannotated: true\n");
  LabelLoadReport third;
  EXPECT_EQ(loadLabels(dropping, "train", specDir(), &third).targets.size(0),
            4);
  EXPECT_FALSE(third.cache_hit);
  EXPECT_NE(third.cache_file, first.cache_file);
}

TEST_F(SourceTest, CacheDirAndCacheOff) {
  makeCoco();
  LabelLoadReport report;
  loadLabels(spec(std::string(kCocoSpec) + "  cache_dir: labels\n"), "val",
             specDir(), &report);
  EXPECT_EQ(fs::path(report.cache_file).parent_path(),
            dir_ / "coco" / "labels");
  loadLabels(spec(std::string(kCocoSpec) + "  cache: false\n"), "val",
             specDir(), &report);
  EXPECT_EQ(report.cache_file, "");
  EXPECT_FALSE(report.cache_hit);
}

TEST_F(SourceTest, VocAndListFromSpec) {
  fs::create_directories(dir_ / "specs");
  fs::copy(kVoc, dir_ / "VOC2007", fs::copy_options::recursive);
  fs::create_directories(dir_ / "VOC2007" / "JPEGImages");
  const LabelSourceOptions voc =
      spec("data: {format: voc, root: ../VOC2007, difficult: negative}\n");
  const LabelSet train = loadLabels(voc, "train", specDir());
  EXPECT_EQ(train.targets.sizes(), (std::vector<std::int64_t>{4, 20}));
  EXPECT_EQ(train.mask.sum().item<float>(), 80.f);  // negative: no mask
  LabelLoadReport report;
  const LabelSet ignoring =
      loadLabels(spec("data: {format: voc, root: ../VOC2007}\n"), "train",
                 specDir(), &report);
  EXPECT_EQ(ignoring.mask.sum().item<float>(), 79.f);  // 000005's person
  EXPECT_EQ(report.ignored, 1u);
  EXPECT_EQ(report.positives, 4u);
  const LabelSet test = loadLabels(voc, "val", specDir());
  EXPECT_EQ(test.image_paths.back(),
            (dir_ / "VOC2007" / "JPEGImages" / "000002.jpg").string());
  EXPECT_EQ(test.targets.sum().item<float>(), 2.f);  // dog, person

  fs::copy(kData / "list", dir_ / "list", fs::copy_options::recursive);
  const LabelSourceOptions list = spec(
      "data:\n  format: list\n  root: ../list\n  classes: colors.txt\n"
      "  train: {annotations: indices.txt}\n"
      "  val: {annotations: indices.txt, images: /srv}\n");
  const LabelSet listed = loadLabels(list, "train", specDir());
  EXPECT_EQ(listed.class_names,
            (std::vector<std::string>{"red", "green", "blue"}));
  EXPECT_EQ(listed.image_paths.front(),
            (dir_ / "list" / "images" / "a.jpg").string());
  EXPECT_EQ(loadLabels(list, "val", specDir()).image_paths.front(),
            "/srv/images/a.jpg");
}

// Spec problems name the spec file, line and column, and the key.
TEST_F(SourceTest, SpecErrorsNameKeyAndFile) {
  makeCoco();
  const auto specError = [&](const std::string& yaml,
                             const std::string& split = "train") {
    try {
      loadLabels(spec(yaml), split, specDir());
    } catch (const spec::SpecError& error) {
      return std::string(error.what());
    }
    return std::string("no SpecError");
  };
  const std::string exp = (dir_ / "specs" / "exp.yaml").string();
  EXPECT_EQ(specError("data:\n  format: coco\n  root: ../coco\n"
                      "  train: {annotations: annotations/absent.json, "
                      "images: train2014}\n"),
            exp + ":5:24: data.train.annotations: file " +
                (dir_ / "coco/annotations/absent.json").string() +
                " does not exist");
  EXPECT_EQ(specError("data:\n  format: coco\n  root: ../coco\n"
                      "  train: {annotations: annotations/instances.json, "
                      "images: val2014}\n"),
            exp + ":5:60: data.train.images: folder " +
                (dir_ / "coco/val2014").string() + " does not exist");
  EXPECT_EQ(specError("data:\n  format: coco\n  root: ../missing\n"),
            exp + ":4:9: data.root: folder " + (dir_ / "missing").string() +
                " does not exist");
  EXPECT_EQ(specError("data:\n  format: coco\n  root: ../coco\n"),
            exp +
                ":3:11: data.train.annotations: missing; data.format coco "
                "needs the instances JSON file");
  EXPECT_EQ(specError("data: {format: coco, root: ../coco, classes: c.txt}\n"),
            exp + ":2:46: data.classes: file " +
                (dir_ / "coco/c.txt").string() + " does not exist");
  EXPECT_EQ(specError("data: {format: synthetic}\n"),
            exp +
                ":2:16: data.format: 'synthetic' has no annotation files "
                "(coco, voc and list have)");
  fs::copy(kVoc, dir_ / "VOC2007", fs::copy_options::recursive);
  EXPECT_EQ(specError("data: {format: voc, root: ../VOC2007}\n"),
            exp + ":2:27: data.root: " + (dir_ / "VOC2007").string() +
                " has no JPEGImages folder; set data.train.images");
  fs::create_directories(dir_ / "VOC2007" / "JPEGImages");
  // A default's problem is located at the map it went into.
  fs::rename(dir_ / "VOC2007/ImageSets/Main/trainval.txt",
             dir_ / "VOC2007/ImageSets/Main/moved.txt");
  EXPECT_EQ(specError("data: {format: voc, root: ../VOC2007}\n"),
            exp + ":2:7 (default): data.train.split: file " +
                (dir_ / "VOC2007/ImageSets/Main/trainval.txt").string() +
                " does not exist");
  fs::rename(dir_ / "VOC2007/ImageSets/Main/moved.txt",
             dir_ / "VOC2007/ImageSets/Main/trainval.txt");
  EXPECT_EQ(specError("data: {format: voc, root: ../VOC2007, "
                      "val: {split: val}}\n",
                      "val"),
            exp + ":2:52: data.val.split: file " +
                (dir_ / "VOC2007/ImageSets/Main/val.txt").string() +
                " does not exist");
  EXPECT_THAT(specError("data: {format: voc, root: ../VOC2007, "
                        "train: {annotations: x.json}}\n"),
              HasSubstr("data.train.annotations: not read by data.format voc"));
}

// Data problems name the data file.
TEST_F(SourceTest, DataErrorsNameTheFile) {
  makeCoco();
  const fs::path anchor = dir_ / "coco" / "annotations" / "instances.json";
  writeFile(anchor, "\xff\xd8\xff\xe0 not json");
  EXPECT_THAT(errorOf([&] { loadLabels(spec(kCocoSpec), "train", specDir()); }),
              HasSubstr(anchor.string() + ": not a JSON object"));
  writeFile(dir_ / "coco" / "classes.txt", "cat\ndog\n");
  writeFile(anchor, slurp(kCoco));
  EXPECT_THAT(errorOf([&] {
                loadLabels(
                    spec(std::string(kCocoSpec) + "  classes: classes.txt\n"),
                    "train", specDir());
              }),
              HasSubstr((dir_ / "coco" / "classes.txt").string() +
                        ": category 'person' (id 1) of " + anchor.string() +
                        " is not in the class list"));
}

// `labrun prepare` end to end: one line per split, exit codes 0 and 2.
TEST_F(SourceTest, PrepareCommand) {
  makeCoco();
  writeFile(dir_ / "specs" / "exp.yaml",
            std::string("model: {backbone: smallconv}\n") + kCocoSpec);
  const auto labrun = [&](const std::string& args, std::string& out) {
    const std::string command =
        "'" + std::string(LABRUN_BINARY) + "' prepare '" +
        (dir_ / "specs/exp.yaml").string() + "' " + args + " >'" +
        (dir_ / "out").string() + "' 2>&1";
    const int status = std::system(command.c_str());
    out = slurp(dir_ / "out");
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  };
  std::string out;
  EXPECT_EQ(labrun("", out), 0) << out;
  EXPECT_THAT(out,
              HasSubstr("train: 5 images, 4 classes, 5 positive and 0 "
                        "ignored labels from " +
                        (dir_ / "coco/annotations/instances.json").string() +
                        "; parsed in"));
  EXPECT_THAT(out, HasSubstr("val: 5 images, 4 classes, 5 positive and 0 "
                             "ignored labels"));
  EXPECT_THAT(out, HasSubstr("; read from the cache in"));  // val: same file
  EXPECT_EQ(labrun("--split val data.drop_unannotated=true", out), 0) << out;
  EXPECT_THAT(out, HasSubstr("val: 4 images"));
  EXPECT_EQ(out.find("train:"), std::string::npos);
  EXPECT_EQ(labrun("data.train.images=nowhere", out), 2) << out;
  EXPECT_EQ(out,
            "labrun: error: override 'data.train.images=nowhere': "
            "data.train.images: folder " +
                (dir_ / "coco/nowhere").string() + " does not exist\n");
  // Bad annotations are a spec error too, as for `labrun run`.
  const fs::path broken = dir_ / "coco/annotations/broken.json";
  writeFile(broken, "{\"images\": [");
  EXPECT_EQ(labrun("data.train.annotations=annotations/broken.json", out), 2)
      << out;
  EXPECT_THAT(out, HasSubstr("labrun: error: " + broken.string() +
                             ": malformed or truncated JSON"));
}

// The labels need no plugin: `labrun prepare` resolves the spec without
// looking inside its plugin slots (a plugin the run would not find does not
// stop it), still checks the core's keys, and runs in the front end alone,
// without labrun-torch beside it.
TEST_F(SourceTest, PrepareRunsWithoutPluginsOrLibTorch) {
  makeCoco();
  const fs::path alone = dir_ / "alone";
  fs::create_directories(alone);
  fs::copy_file(LABRUN_BINARY, alone / "labrun");
  const auto labrun = [&](const std::string& yaml, const std::string& args,
                          std::string& out) {
    writeFile(dir_ / "specs" / "exp.yaml", yaml);
    const std::string command = "'" + (alone / "labrun").string() + "' " +
                                args + " >'" + (dir_ / "out").string() +
                                "' 2>&1";
    const int status = std::system(command.c_str());
    out = slurp(dir_ / "out");
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  };
  const std::string prepare =
      "prepare '" + (dir_ / "specs/exp.yaml").string() + "' --split train";
  std::string out;
  EXPECT_EQ(labrun("model:\n  backbone: {name: nosuch, depth: 3}\n"
                   "  head: fcc\n" +
                       std::string(kCocoSpec),
                   prepare + " model.backbone.width=8", out),
            0)
      << out;
  EXPECT_THAT(out, HasSubstr("train: 5 images, 4 classes, 5 positive"));
  const std::string exp = (dir_ / "specs" / "exp.yaml").string();
  EXPECT_EQ(labrun("model: {backbone: nosuch}\n" + std::string(kCocoSpec) +
                       "  cache_dri: labels\n",
                   prepare, out),
            2);
  EXPECT_EQ(out, "labrun: error: " + exp +
                     ":7:3: data.cache_dri: unknown key; did you mean "
                     "'data.cache_dir'?\n");
  EXPECT_EQ(labrun("model: {backbone: nosuch}\ndata: {format: cocoa}\n",
                   prepare, out),
            2);
  EXPECT_EQ(out, "labrun: error: " + exp +
                     ":2:16: data.format: expected one of "
                     "synthetic|coco|voc|list, found string 'cocoa'; did you "
                     "mean 'coco'?\n");
  // What needs plugins is handed to labrun-torch, absent here.
  EXPECT_EQ(labrun("", "plugins", out), 1);
  EXPECT_THAT(out,
              HasSubstr("cannot start " + (alone / "labrun-torch").string()));
}

}  // namespace
}  // namespace labrun::data
