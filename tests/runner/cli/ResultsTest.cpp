// Reading results: the comparison of runs, sweep grids, the HTML/SVG report
// renderer (unit tests), and `labrun sweep`, `compare`, `runs` filters and
// `report` end to end on a store made by the results_store ctest fixture
// (make_results_store.sh: a 2 x 2 sweep of the smoke experiment).
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <opencv2/imgcodecs.hpp>
#include <regex>
#include <set>
#include <sstream>
#include <thread>

#include "cli/AxisScale.h"
#include "cli/ReportHtml.h"
#include "cli/RunComparison.h"
#include "cli/SweepGrid.h"
#include "fixtures/ErrorOf.h"
#include "fixtures/TestTempDir.h"
#include "store/RunStore.h"

namespace {
namespace fs = std::filesystem;
using labrun::cli::AxisScale;
using labrun::store::RunStore;

const std::string kSmoke =
    std::string(LABRUN_SOURCE_DIR) + "/experiments/smoke.yaml";
const fs::path kFixture = LABRUN_RESULTS_STORE;

std::string slurp(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}

std::size_t count(const std::string& text, const std::string& needle) {
  std::size_t n = 0;
  for (auto at = text.find(needle); at != std::string::npos;
       at = text.find(needle, at + needle.size())) {
    ++n;
  }
  return n;
}

// All captures of group 1 of `pattern` in `text`.
std::vector<std::string> captures(const std::string& text,
                                  const std::string& pattern) {
  std::vector<std::string> out;
  const std::regex re(pattern);
  for (auto it = std::sregex_iterator(text.begin(), text.end(), re);
       it != std::sregex_iterator(); ++it) {
    out.push_back((*it)[1]);
  }
  return out;
}

// "x1,y1 x2,y2 ..." -> points.
std::vector<std::pair<double, double>> points(const std::string& attribute) {
  std::vector<std::pair<double, double>> out;
  std::istringstream in(attribute);
  std::string pair;
  while (in >> pair) {
    const auto comma = pair.find(',');
    out.emplace_back(std::stod(pair.substr(0, comma)),
                     std::stod(pair.substr(comma + 1)));
  }
  return out;
}

// RFC 4180 CSV, as `labrun ... --csv` writes it.
std::vector<std::vector<std::string>> parseCsv(const std::string& text) {
  std::vector<std::vector<std::string>> rows(1, std::vector<std::string>(1));
  bool quoted = false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (quoted) {
      if (c == '"' && i + 1 < text.size() && text[i + 1] == '"') {
        rows.back().back() += '"';
        ++i;
      } else if (c == '"') {
        quoted = false;
      } else {
        rows.back().back() += c;
      }
    } else if (c == '"') {
      quoted = true;
    } else if (c == ',') {
      rows.back().emplace_back();
    } else if (c == '\n') {
      rows.emplace_back(1);
    } else if (c != '\r') {
      rows.back().back() += c;
    }
  }
  if (rows.back() == std::vector<std::string>(1)) rows.pop_back();
  return rows;
}

// ---------------------------------------------------------------- units --

TEST(HtmlEscape, EscapesEveryMarkupCharacter) {
  EXPECT_EQ(labrun::cli::htmlEscape("<a href=\"x\">Tom & Jerry's</a>"),
            "&lt;a href=&quot;x&quot;&gt;Tom &amp; Jerry&#39;s&lt;/a&gt;");
  EXPECT_EQ(labrun::cli::htmlEscape("plain text"), "plain text");
  EXPECT_EQ(labrun::cli::htmlEscape("&amp;"), "&amp;amp;");
}

TEST(AxisScale, RoundsOutToNiceTicksAndMapsLinearly) {
  // Span 0.57 over 5 intervals is 0.114: the next nice step is 0.2.
  const AxisScale y(0.3, 0.87, /*pixel_from=*/300, /*pixel_to=*/20);
  EXPECT_DOUBLE_EQ(y.step(), 0.2);
  EXPECT_DOUBLE_EQ(y.lo(), 0.2);
  EXPECT_DOUBLE_EQ(y.hi(), 1.0);
  std::vector<std::string> labels;
  for (const double tick : y.ticks()) labels.push_back(y.label(tick));
  EXPECT_EQ(labels,
            (std::vector<std::string>{"0.2", "0.4", "0.6", "0.8", "1.0"}));
  EXPECT_DOUBLE_EQ(y.pixel(0.2), 300);
  EXPECT_DOUBLE_EQ(y.pixel(1.0), 20);
  EXPECT_NEAR(y.pixel(0.6), 160, 1e-9);  // halfway up
}

TEST(AxisScale, PercentagesGetStepsOfTwenty) {
  const AxisScale y(0, 87.3, 0, 100);  // 87.3 / 5 = 17.46 -> 20
  std::vector<std::string> labels;
  for (const double tick : y.ticks()) labels.push_back(y.label(tick));
  EXPECT_EQ(labels,
            (std::vector<std::string>{"0", "20", "40", "60", "80", "100"}));
  EXPECT_NEAR(y.pixel(87.3), 87.3, 1e-9);
}

TEST(AxisScale, NegativeRangeHasNoNegativeZero) {
  const AxisScale y(-0.3, 0.1, 0, 1);
  std::vector<std::string> labels;
  for (const double tick : y.ticks()) labels.push_back(y.label(tick));
  EXPECT_EQ(labels,
            (std::vector<std::string>{"-0.3", "-0.2", "-0.1", "0.0", "0.1"}));
}

TEST(AxisScale, IntegerTicksForEpochsAndWidenedEmptyRange) {
  const AxisScale epochs(1, 2, 64, 540, /*max_ticks=*/8,
                         /*integer_ticks=*/true);
  EXPECT_EQ(epochs.ticks(), (std::vector<double>{1, 2}));
  EXPECT_DOUBLE_EQ(epochs.pixel(1), 64);
  EXPECT_DOUBLE_EQ(epochs.pixel(2), 540);
  const AxisScale one(1, 1, 0, 100, 8, true);  // a single epoch
  EXPECT_EQ(one.ticks(), (std::vector<double>{0, 1, 2}));
  const AxisScale flat(5, 5, 0, 100);
  EXPECT_LT(flat.lo(), 5);
  EXPECT_GT(flat.hi(), 5);
}

TEST(SweepGrid, SplitsOnTopLevelCommasOnly) {
  using labrun::cli::splitTopLevel;
  EXPECT_EQ(splitTopLevel("1,[2,3],{a: 1, b: 2},'x,y',\"p,q\""),
            (std::vector<std::string>{"1", "[2,3]", "{a: 1, b: 2}", "'x,y'",
                                      "\"p,q\""}));
  EXPECT_EQ(splitTopLevel("[1,2]"), (std::vector<std::string>{"[1,2]"}));
  EXPECT_EQ(splitTopLevel("0.1"), (std::vector<std::string>{"0.1"}));
}

TEST(SweepGrid, CartesianProductLastVaryingFastest) {
  const auto points =
      labrun::cli::expandSweep({"optim.lr=0.1,0.01", "train.epochs=2",
                                "+x.y=[1,2]", "~a.b", "++seed=0,1,2"});
  ASSERT_EQ(points.size(), 6u);
  const std::vector<std::pair<std::string, std::string>> expected = {
      {"optim.lr=0.1", "++seed=0"},  {"optim.lr=0.1", "++seed=1"},
      {"optim.lr=0.1", "++seed=2"},  {"optim.lr=0.01", "++seed=0"},
      {"optim.lr=0.01", "++seed=1"}, {"optim.lr=0.01", "++seed=2"}};
  for (std::size_t i = 0; i < points.size(); ++i) {
    EXPECT_EQ(
        points[i].overrides,
        (std::vector<std::string>{expected[i].first, "train.epochs=2",
                                  "+x.y=[1,2]", "~a.b", expected[i].second}));
    EXPECT_EQ(points[i].swept, (std::vector<std::string>{expected[i].first,
                                                         expected[i].second}));
  }
  // Without a comma list it is one run with the overrides as given.
  const auto single = labrun::cli::expandSweep({"optim.lr=0.1"});
  ASSERT_EQ(single.size(), 1u);
  EXPECT_EQ(single[0].overrides, (std::vector<std::string>{"optim.lr=0.1"}));
  EXPECT_TRUE(single[0].swept.empty());
}

TEST(SweepGrid, LabelsNameWhatVariesShortly) {
  const auto points = labrun::cli::expandSweep(
      {"model.head={name: fc},{name: ssgrl, time_steps: 0, onehot: true},"
       "{name: ssgrl, decoupling: false, onehot: true},"
       "{name: ssgrl, onehot: true}",
       "++seed=0,1", "optim.lr=0.1"});
  std::vector<std::string> labels;
  for (const auto& point : points) labels.push_back(point.label);
  EXPECT_EQ(labels, (std::vector<std::string>{
                        "head=fc,seed=0", "head=fc,seed=1",
                        "head=ssgrl(time_steps=0),seed=0",
                        "head=ssgrl(time_steps=0),seed=1",
                        "head=ssgrl(decoupling=false),seed=0",
                        "head=ssgrl(decoupling=false),seed=1",
                        "head=ssgrl,seed=0", "head=ssgrl,seed=1"}));
  // Lists and text that is no YAML of its own stay as written.
  EXPECT_EQ(labrun::cli::expandSweep({"x=[1, 2],{a: [}"})[1].label, "x={a: [}");
  EXPECT_EQ(labrun::cli::expandSweep({"x=[1, 2],3"})[0].label, "x=[1, 2]");
}

TEST(SweepGrid, EmptyOrRepeatedListElementIsASpecError) {
  const auto error = [](const std::string& override_text) {
    return labrun::fixtures::errorOf([&] {
      labrun::cli::expandSweep({"seed=1,2", override_text});
    });
  };
  EXPECT_EQ(error("optim.lr=0.1,,0.2"),
            "override 'optim.lr=0.1,,0.2': empty value in the sweep list");
  EXPECT_EQ(error("optim.lr=0.1,0.2,0.1"),
            "override 'optim.lr=0.1,0.2,0.1': '0.1' is listed twice in the "
            "sweep list");
  // Equal as YAML, not as text: each is its own run, named apart.
  EXPECT_EQ(error("optim.lr=0.1,0.10"), "");
}

// A series with more points than the plot has pixel columns: per column,
// the lowest and highest pixel drawn are those of every point (checked
// against the same chart with markers, which is never thinned), with at most
// four points, so a 100,000-step curve stays a small page.
TEST(ReportHtml, LongSeriesKeepEveryPixelColumnsExtremes) {
  std::vector<std::pair<double, double>> curve;
  for (int step = 1; step <= 100000; ++step) {
    curve.emplace_back(step, 1.0 + 0.5 * std::sin(step * 0.01));
  }
  curve[54321].second = 9.0;
  curve[77777].second = -3.0;
  // The first polyline's points, found without std::regex (megabytes).
  const auto drawn = [&](bool markers) {
    labrun::cli::LineChart chart;
    chart.x_label = "step";
    chart.y_label = "loss";
    chart.markers = markers;
    chart.series = {{"long", curve}};
    const std::string svg = labrun::cli::renderLineChart(chart);
    const std::string open = "<polyline points=\"";
    const std::size_t from = svg.find(open) + open.size();
    return points(svg.substr(from, svg.find('"', from) - from));
  };
  const auto thinned = drawn(false);
  const auto all = drawn(true);
  ASSERT_EQ(all.size(), curve.size());
  EXPECT_LT(thinned.size(), 2000u);
  const auto columns = [](const std::vector<std::pair<double, double>>& line) {
    std::map<long, std::vector<double>> ys;
    for (const auto& [x, y] : line) ys[std::lround(std::floor(x))].push_back(y);
    return ys;
  };
  const auto every = columns(all);
  const auto kept = columns(thinned);
  ASSERT_EQ(kept.size(), every.size());
  for (const auto& [column, ys] : every) {
    const auto& some = kept.at(column);
    EXPECT_LE(some.size(), 4u) << column;
    EXPECT_EQ(*std::min_element(some.begin(), some.end()),
              *std::min_element(ys.begin(), ys.end()))
        << column;
    EXPECT_EQ(*std::max_element(some.begin(), some.end()),
              *std::max_element(ys.begin(), ys.end()))
        << column;
  }
  EXPECT_EQ(thinned.front(), all.front());
  EXPECT_EQ(thinned.back(), all.back());
}

TEST(ReportHtml, LineChartDrawsOnePolylinePerSeriesWithItsPoints) {
  labrun::cli::LineChart chart;
  chart.title = "Loss <per> epoch";
  chart.x_label = "epoch";
  chart.y_label = "loss";
  chart.integer_x = true;
  chart.series = {{"a<b & \"c\"", {{1, 0.5}, {2, 0.7}, {3, 0.9}}},
                  {"second", {{1, 0.4}}},
                  {"empty", {}}};
  const std::string svg = labrun::cli::renderLineChart(chart);
  const auto lines = captures(svg, "<polyline points=\"([^\"]*)\"");
  ASSERT_EQ(lines.size(), 2u);  // the empty series draws no line
  const auto a = points(lines[0]);
  const auto b = points(lines[1]);
  ASSERT_EQ(a.size(), 3u);
  ASSERT_EQ(b.size(), 1u);
  // Equal steps in x and y give equal pixel steps; larger y is higher up.
  EXPECT_NEAR(a[1].first - a[0].first, a[2].first - a[1].first, 0.11);
  EXPECT_GT(a[1].first, a[0].first);
  EXPECT_NEAR(a[0].second - a[1].second, a[1].second - a[2].second, 0.11);
  EXPECT_GT(a[0].second, a[1].second);
  EXPECT_DOUBLE_EQ(b[0].first, a[0].first);  // same x, same pixel
  // y 0.4 .. 0.9 in steps of 0.1: 0.4 is the bottom tick, 0.5 one step up.
  EXPECT_NEAR(b[0].second - a[0].second, (a[0].second - a[2].second) / 4, 0.11);
  for (const char* tick : {">0.4<", ">0.9<", ">1<", ">3<"}) {
    EXPECT_NE(svg.find(tick), std::string::npos) << tick;
  }
  EXPECT_EQ(count(svg, "<circle"), 4u);
  EXPECT_NE(svg.find("a&lt;b &amp; &quot;c&quot;"), std::string::npos);
  EXPECT_NE(svg.find("Loss &lt;per&gt; epoch"), std::string::npos);
  EXPECT_EQ(svg.find("a<b"), std::string::npos);
  EXPECT_NE(svg.find(labrun::cli::runColor(1)), std::string::npos);
}

TEST(ReportHtml, BarHeightsAreProportionalToValues) {
  labrun::cli::BarChart chart;
  chart.title = "AP";
  chart.legend = {"run a", "run b"};
  chart.groups = {"cat", "dog", "<bird>"};
  chart.values = {{25.0, 50.0}, {100.0, std::nullopt}, {50.0, 25.0}};
  const std::string svg = labrun::cli::renderBarChart(chart);
  const auto heights =
      captures(svg, "<rect class=\"bar\"[^>]* height=\"([0-9.]+)\"");
  ASSERT_EQ(heights.size(), 5u);              // the undefined value has no bar
  const double unit = std::stod(heights[0]);  // 25
  EXPECT_NEAR(std::stod(heights[1]), 2 * unit, 0.2);
  EXPECT_NEAR(std::stod(heights[2]), 4 * unit, 0.2);
  EXPECT_NEAR(std::stod(heights[3]), 2 * unit, 0.2);
  EXPECT_NEAR(std::stod(heights[4]), unit, 0.2);
  const auto runs = captures(svg, "<rect class=\"bar\" data-run=\"([0-9]+)\"");
  EXPECT_EQ(runs, (std::vector<std::string>{"0", "1", "0", "0", "1"}));
  EXPECT_NE(svg.find("&lt;bird&gt;"), std::string::npos);
  EXPECT_EQ(svg.find("<bird>"), std::string::npos);
}

TEST(ReportHtml, PageIsSelfContainedAndEscapesEveryText) {
  labrun::cli::ReportPage page;
  page.title = "<script>alert(1)</script>";
  page.generated = "now";
  page.runs = {{"run", "name"}, {{"1a2b3c4d", "x\"><script>"}}, 0};
  page.curves = {{"mAP", "epoch", "mAP", true, {{"r", {{1, 50}, {2, 60}}}}}};
  page.params = {{"key", "1a2b3c4d"}, {{"name", "</td><script>"}}, -1};
  page.provenance = {
      {"1a2b3c4d <x>", {{"fact", "value"}, {}, -1}, {{"kind"}, {}, -1}}};
  const std::string html = labrun::cli::renderReport(page);
  EXPECT_EQ(html.find("<script"), std::string::npos);
  EXPECT_NE(html.find("&lt;script&gt;alert(1)&lt;/script&gt;"),
            std::string::npos);
  for (const char* external :
       {"http://", "https://", "src=", "<link", "@import", "url("}) {
    EXPECT_EQ(html.find(external), std::string::npos) << external;
  }
  EXPECT_NE(html.find("<span class=\"swatch\" style=\"background:#1f77b4\">"),
            std::string::npos);
  EXPECT_NE(html.find("No per-class values recorded."), std::string::npos);
  EXPECT_EQ(count(html, "<svg"), 1u);
}

// A store written through the RunStore API, with values chosen so every
// expected number below is worked out by hand.
class ComparisonTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = labrun::fixtures::testTempDir();
    store_ = RunStore::open((dir_ / "runs.db").string());
    a_ = addRun("a", {{"optim.lr", "float", "0.1"}, {"seed", "int", "0"}});
    b_ = addRun("b", {{"optim.lr", "float", "0.2"},
                      {"seed", "int", "0"},
                      {"extra", "string", "yes"}});
    metric(a_, "val/mAP", {{10, 1, 50}, {20, 2, 60}, {30, 3, 55}});
    metric(a_, "val/loss", {{10, 1, 0.5}, {20, 2, 0.3}, {30, 3, 0.4}});
    metric(a_, "train/loss", {{10, 1, 9}});
    metric(b_, "val/mAP", {{10, 1, 40}, {20, 2, 70}});
    store_->flush();
    using Row = labrun::store::ClassMetricRow;
    store_->addClassMetrics(
        a_, {Row{1, "AP", 0, "cat", 10, 3}, Row{1, "AP", 1, "dog", 20, 3}});
    store_->addClassMetrics(
        a_, {Row{3, "AP", 0, "cat", 30, 3}, Row{3, "AP", 1, "dog", 40, 3},
             Row{3, "AP", 2, "bird", std::nullopt, 0}});
    store_->addClassMetrics(
        b_, {Row{2, "AP", 0, "cat", 35, 3}, Row{2, "AP", 1, "dog", 20, 3},
             Row{2, "AP", 2, "bird", 50, 1}});
  }

  std::string addRun(const std::string& name,
                     const std::vector<labrun::store::ParamRow>& params) {
    labrun::store::RunInfo info;
    info.name = name;
    const std::string uuid = store_->createRun(info);
    store_->addParams(uuid, params);
    return uuid;
  }

  void TearDown() override {
    store_.reset();
    fs::remove_all(dir_);
  }

  void metric(const std::string& run, const std::string& key,
              const std::vector<std::tuple<int, int, double>>& rows) {
    for (const auto& [step, epoch, value] : rows) {
      store_->logMetric(run, {key, step, epoch, value, 0});
    }
  }

  fs::path dir_;
  std::unique_ptr<RunStore> store_;
  std::string a_, b_;
};

TEST_F(ComparisonTest, ParamsMetricsAndClassDeltas) {
  const auto c = labrun::cli::compareRuns(*store_, {a_, b_});
  ASSERT_EQ(c.runs.size(), 2u);
  EXPECT_EQ(c.runs[0].label, a_.substr(0, 8));
  EXPECT_EQ(c.runs[1].name, "b");

  // seed is equal: only extra (unset in a) and optim.lr differ.
  ASSERT_EQ(c.params.size(), 2u);
  EXPECT_EQ(c.params[0].key, "extra");
  EXPECT_EQ(c.params[0].values[0], std::nullopt);
  EXPECT_EQ(c.params[0].values[1], "yes");
  EXPECT_EQ(c.params[1].key, "optim.lr");
  EXPECT_EQ(c.params[1].values[0], "0.1");
  EXPECT_EQ(c.params[1].values[1], "0.2");

  // val/mAP first; best is the max, but the min for a loss; train/* left out.
  ASSERT_EQ(c.metrics.size(), 2u);
  EXPECT_EQ(c.metrics[0].key, "val/mAP");
  EXPECT_EQ(c.metrics[0].best, (std::vector<std::optional<double>>{60, 70}));
  EXPECT_EQ(c.metrics[0].last, (std::vector<std::optional<double>>{55, 70}));
  EXPECT_EQ(c.metrics[1].key, "val/loss");
  EXPECT_EQ(c.metrics[1].best,
            (std::vector<std::optional<double>>{0.3, std::nullopt}));
  EXPECT_EQ(c.metrics[1].last,
            (std::vector<std::optional<double>>{0.4, std::nullopt}));

  // Last evaluated epochs: 3 for a, 2 for b. dog moved by -20, cat by +5,
  // bird is undefined in a: no delta, so last.
  EXPECT_EQ(c.ap_epochs, (std::vector<std::optional<std::int64_t>>{3, 2}));
  ASSERT_EQ(c.classes.size(), 3u);
  EXPECT_EQ(c.classes[0].class_name, "dog");
  EXPECT_EQ(c.classes[0].ap, (std::vector<std::optional<double>>{40, 20}));
  EXPECT_EQ(c.classes[0].max_abs_delta, 20);
  EXPECT_EQ(c.classes[1].class_name, "cat");
  EXPECT_EQ(c.classes[1].max_abs_delta, 5);
  EXPECT_EQ(c.classes[2].class_name, "bird");
  EXPECT_EQ(c.classes[2].class_index, 2);
  EXPECT_EQ(c.classes[2].max_abs_delta, std::nullopt);

  EXPECT_EQ(labrun::cli::formatValue(70, 60), "70 (+10)");
  EXPECT_EQ(labrun::cli::formatValue(55.25, std::nullopt), "55.25");
  EXPECT_EQ(labrun::cli::formatValue(std::nullopt, 1), "-");
}

TEST_F(ComparisonTest, SelectRunsByReferenceOrSweep) {
  EXPECT_EQ(labrun::cli::selectRuns(*store_, {"b", a_.substr(0, 6)}, ""),
            (std::vector<std::string>{b_, a_}));
  EXPECT_THROW(labrun::cli::selectRuns(*store_, {}, ""),
               labrun::store::StoreError);
  EXPECT_THROW(labrun::cli::selectRuns(*store_, {"a"}, "s1"),
               labrun::store::StoreError);
  try {
    labrun::cli::selectRuns(*store_, {}, "nosuch");
    FAIL() << "no error";
  } catch (const labrun::store::StoreError& error) {
    EXPECT_NE(std::string(error.what()).find("no runs in sweep 'nosuch'"),
              std::string::npos);
  }
}

TEST_F(ComparisonTest, PerClassApOfEveryMapInstance) {
  using Row = labrun::store::ClassMetricRow;
  // A second map instance: a at epochs 1 and 2 (2 counts), b at epoch 2.
  store_->addClassMetrics(a_, {Row{1, "AP@ap=sklearn", 0, "cat", 11, 3}});
  store_->addClassMetrics(a_, {Row{2, "AP@ap=sklearn", 0, "cat", 12, 3},
                               Row{2, "AP@ap=sklearn", 1, "dog", 22, 3}});
  store_->addClassMetrics(b_, {Row{2, "AP@ap=sklearn", 0, "cat", 14, 3},
                               Row{2, "AP@ap=sklearn", 1, "dog", 19, 3}});
  // Per-class F1 is not AP.
  store_->addClassMetrics(b_, {Row{2, "F1", 0, "cat", 1, 3}});
  const auto c = labrun::cli::compareRuns(*store_, {a_, b_});
  ASSERT_EQ(c.classes.size(), 5u);
  // The plain instance first, as without the second one.
  for (std::size_t i = 0; i < 3; ++i) EXPECT_EQ(c.classes[i].metric, "AP");
  EXPECT_EQ(c.classes[0].class_name, "dog");
  EXPECT_EQ(c.classes[0].ap, (std::vector<std::optional<double>>{40, 20}));
  // Then the instance's classes, largest change first: dog -3, cat +2.
  EXPECT_EQ(c.classes[3].metric, "AP@ap=sklearn");
  EXPECT_EQ(c.classes[3].class_name, "dog");
  EXPECT_EQ(c.classes[3].ap, (std::vector<std::optional<double>>{22, 19}));
  EXPECT_EQ(c.classes[3].max_abs_delta, 3);
  EXPECT_EQ(c.classes[4].metric, "AP@ap=sklearn");
  EXPECT_EQ(c.classes[4].class_name, "cat");
  EXPECT_EQ(c.classes[4].ap, (std::vector<std::optional<double>>{12, 14}));
  EXPECT_EQ(c.ap_epochs, (std::vector<std::optional<std::int64_t>>{3, 2}));
}

TEST(ReportHtml, ManyRunsStayApartAndPerStepLinesHaveNoMarkers) {
  labrun::cli::LineChart chart;
  chart.title = "loss";
  chart.markers = false;
  for (int run = 0; run < 24; ++run) {
    chart.series.push_back({"run " + std::to_string(run), {{1, 1}, {2, 2}}});
  }
  const std::string svg = labrun::cli::renderLineChart(chart);
  EXPECT_EQ(count(svg, "<circle"), 0u);
  // Runs 0 and 10 share a color, not a dash pattern; 10 and 20 neither.
  EXPECT_EQ(labrun::cli::runColor(0), labrun::cli::runColor(10));
  EXPECT_NE(labrun::cli::runDash(0), labrun::cli::runDash(10));
  EXPECT_NE(labrun::cli::runDash(10), labrun::cli::runDash(20));
  EXPECT_NE(labrun::cli::runColor(10), labrun::cli::runColor(11));
  const auto dashes =
      captures(svg, "<polyline [^>]*stroke-dasharray=\"([^\"]*)\"");
  ASSERT_EQ(dashes.size(), 24u);
  EXPECT_EQ(dashes[10], labrun::cli::runDash(10));
  // The legend's 24 rows fit: the chart grows past its plot height.
  const auto height = captures(svg, "<svg [^>]*height=\"([0-9.]+)\"");
  ASSERT_EQ(height.size(), 1u);
  EXPECT_GE(std::stod(height[0]), 36 + 24 * 20.0);
  EXPECT_EQ(count(svg, "<g><title>run "), 24u);
}

// ----------------------------------------------------------- end to end --

struct Result {
  int code = -1;
  std::string out, err;
};

// Runs `labrun --db DB ARGS` in `dir`.
Result labrun(const fs::path& dir, const fs::path& db,
              const std::string& args) {
  const fs::path out = dir / "labrun.stdout", err = dir / "labrun.stderr";
  const std::string command = "cd '" + dir.string() + "' && '" + LABRUN_BINARY +
                              "' --db '" + db.string() + "' " + args + " >'" +
                              out.string() + "' 2>'" + err.string() + "'";
  const int status = std::system(command.c_str());
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, slurp(out), slurp(err)};
}

// Reads the fixture store; each test writes only into a folder of its own.
class ResultsCliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(fs::exists(kFixture / "runs.db"))
        << "no fixture store in " << kFixture
        << ": run the tests through ctest (fixture results_store), or make "
           "it with tests/runner/cli/make_results_store.sh";
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = fs::path(::testing::TempDir()) / "labrun_results" / info->name();
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    store_ = RunStore::open(db().string(), /*read_only=*/true);
    sweep_ = *store_->query("SELECT DISTINCT sweep FROM runs").rows.at(0)[0];
  }

  fs::path db() const { return kFixture / "runs.db"; }
  Result run(const std::string& args) const { return labrun(dir_, db(), args); }

  // The uuid of the sweep's run with these values of optim.lr and seed.
  std::string runWith(const std::string& lr, const std::string& seed) const {
    return *store_
                ->query(
                    "SELECT l.run FROM params l JOIN params s ON s.run = l.run "
                    "WHERE l.key = 'optim.lr' AND l.value = CAST(?1 AS REAL) "
                    "AND s.key = 'seed' AND s.value = CAST(?2 AS INTEGER)",
                    {lr, seed})
                .rows.at(0)[0];
  }

  // run -> (class name -> AP) at each run's last evaluated epoch.
  std::map<std::string, std::optional<double>> classAp(
      const std::string& uuid) const {
    const auto table = store_->query(
        "SELECT class_name, value FROM class_metrics WHERE run = ?1 AND "
        "metric = 'AP' AND epoch = (SELECT max(epoch) FROM class_metrics "
        "WHERE run = ?1)",
        {uuid});
    std::map<std::string, std::optional<double>> out;
    for (const auto& row : table.rows) {
      out[*row[0]] = row[1] ? std::optional(std::stod(*row[1])) : std::nullopt;
    }
    return out;
  }

  fs::path dir_;
  std::unique_ptr<RunStore> store_;
  std::string sweep_;
};

TEST_F(ResultsCliTest, SweepRanTheCartesianProductTwoAtATime) {
  const std::string out = slurp(kFixture / "sweep.out");
  std::smatch header;
  ASSERT_TRUE(std::regex_search(
      out, header,
      std::regex("^sweep ([0-9]{6}-[0-9]{6}-[0-9a-f]{4}): 4 run\\(s\\) of "
                 "\\S+smoke.yaml, 2 at a time")))
      << out;
  EXPECT_EQ(header[1], sweep_);
  // One line per finished run, every combination exactly once, each run
  // named after what varies.
  const auto lines =
      captures(out, "\\n\\[[1-4]/4\\] FINISHED [0-9a-f]{8}  (smoke\\[\\S+\\])");
  const std::set<std::string> names = {
      "smoke[lr=0.003,seed=0]", "smoke[lr=0.003,seed=1]",
      "smoke[lr=0.01,seed=0]", "smoke[lr=0.01,seed=1]"};
  EXPECT_EQ(std::set<std::string>(lines.begin(), lines.end()), names) << out;
  EXPECT_EQ(lines.size(), 4u);
  std::set<std::string> recorded;
  for (const auto& row : store_->query("SELECT name FROM runs").rows) {
    recorded.insert(*row[0]);
  }
  EXPECT_EQ(recorded, names);
  EXPECT_NE(out.find("parameters that differ"), std::string::npos);
  EXPECT_NE(out.find("4 of 4 run(s) finished"), std::string::npos);

  // Recorded with the sweep id and the swept values.
  const auto runs = store_->query(
      "SELECT s.status, l.value, e.value FROM run_summary s "
      "JOIN params l ON l.run = s.uuid AND l.key = 'optim.lr' "
      "JOIN params e ON e.run = s.uuid AND e.key = 'seed' "
      "WHERE s.sweep = ?1 ORDER BY l.value, e.value",
      {sweep_});
  ASSERT_EQ(runs.rows.size(), 4u);
  const std::vector<std::pair<std::string, std::string>> expected = {
      {"0.003", "0"}, {"0.003", "1"}, {"0.01", "0"}, {"0.01", "1"}};
  for (std::size_t i = 0; i < 4; ++i) {
    EXPECT_EQ(*runs.rows[i][0], "FINISHED");
    EXPECT_EQ(*runs.rows[i][1], expected[i].first);
    EXPECT_EQ(*runs.rows[i][2], expected[i].second);
  }
  // --parallel 2, from the launcher's own order of events (the runs' clock
  // times overlap only if the machine lets them): runs 1 and 2 start
  // before any ends, and run 3 only after one has ended.
  const auto at = [&out](const std::string& line) {
    const auto found = out.find(line);
    EXPECT_NE(found, std::string::npos) << line << "\n" << out;
    return found;
  };
  const std::size_t first_end = out.find("] FINISHED ");
  EXPECT_LT(at("\n[2/4] started "), first_end) << out;
  EXPECT_GT(at("\n[3/4] started "), first_end) << out;
  for (int i = 1; i <= 4; ++i) {
    const std::string log =
        slurp(kFixture / "sweeps" / sweep_ / (std::to_string(i) + ".log"));
    EXPECT_NE(log.find("finished; store: runs.db"), std::string::npos) << log;
  }
}

TEST_F(ResultsCliTest, CompareCsvMatchesTheStore) {
  const std::string a = runWith("0.003", "0"), b = runWith("0.01", "0");
  const Result result = run("compare " + a + " " + b.substr(0, 8) + " --csv");
  ASSERT_EQ(result.code, 0) << result.err;
  const auto rows = parseCsv(result.out);
  ASSERT_GE(rows.size(), 2u);
  EXPECT_EQ(rows[0], (std::vector<std::string>{"section", "key", "stat", a, b,
                                               "delta_" + b}));
  std::map<std::string, std::vector<std::string>> params;
  std::map<std::string, std::vector<std::string>> classes;
  std::vector<std::string> class_order;
  for (std::size_t i = 1; i < rows.size(); ++i) {
    ASSERT_EQ(rows[i].size(), 6u) << i;
    if (rows[i][0] == "param") params[rows[i][1]] = rows[i];
    if (rows[i][0] == "class_ap") {
      classes[rows[i][1]] = rows[i];
      class_order.push_back(rows[i][1]);
    }
    if (rows[i][0] == "metric" && rows[i][1] == "val/mAP") {
      const auto summary = store_->query(
          "SELECT best_map, last_map FROM run_summary WHERE uuid = ?1 OR "
          "uuid = ?2 ORDER BY uuid = ?2",
          {a, b});
      const int column = rows[i][2] == "best" ? 0 : 1;
      EXPECT_DOUBLE_EQ(std::stod(rows[i][3]),
                       std::stod(*summary.rows[0][column]));
      EXPECT_DOUBLE_EQ(std::stod(rows[i][4]),
                       std::stod(*summary.rows[1][column]));
      EXPECT_NEAR(std::stod(rows[i][5]),
                  std::stod(rows[i][4]) - std::stod(rows[i][3]), 1e-9);
    }
  }
  // Same seed: the learning rate is the one difference.
  ASSERT_EQ(params.size(), 1u) << result.out;
  EXPECT_EQ(params.at("optim.lr")[3], "0.003");
  EXPECT_EQ(params.at("optim.lr")[4], "0.01");

  const auto ap_a = classAp(a), ap_b = classAp(b);
  ASSERT_EQ(classes.size(), ap_a.size());
  double previous = std::numeric_limits<double>::infinity();
  for (const std::string& name : class_order) {
    const auto& row = classes.at(name);
    ASSERT_TRUE(ap_a.at(name) && ap_b.at(name)) << name;
    EXPECT_DOUBLE_EQ(std::stod(row[3]), *ap_a.at(name)) << name;
    EXPECT_DOUBLE_EQ(std::stod(row[4]), *ap_b.at(name)) << name;
    const double d = *ap_b.at(name) - *ap_a.at(name);
    EXPECT_NEAR(std::stod(row[5]), d, 1e-9) << name;
    EXPECT_LE(std::abs(d), previous + 1e-9) << "largest delta first: " << name;
    previous = std::abs(d);
  }
}

TEST_F(ResultsCliTest, CompareSweepPrintsEveryRunSideBySide) {
  const Result result = run("compare --sweep " + sweep_);
  ASSERT_EQ(result.code, 0) << result.err;
  for (const char* section :
       {"runs\n", "parameters that differ\n", "validation metrics (delta",
        "per-class AP at the last evaluated epoch (delta"}) {
    EXPECT_NE(result.out.find(section), std::string::npos) << section;
  }
  const auto uuids = store_->query("SELECT uuid FROM runs");
  for (const auto& row : uuids.rows) {
    EXPECT_NE(result.out.find(row[0]->substr(0, 8)), std::string::npos);
  }
  EXPECT_NE(result.out.find("\noptim.lr "), std::string::npos);
  EXPECT_NE(result.out.find("\nseed "), std::string::npos);
  EXPECT_NE(result.out.find("\nval/mAP "), std::string::npos);
  EXPECT_NE(result.out.find("\nval/loss "), std::string::npos);

  const Result nothing = run("compare");
  EXPECT_EQ(nothing.code, 2);
  EXPECT_NE(nothing.err.find("name the runs (uuid, uuid prefix or name) or "
                             "pass --sweep ID"),
            std::string::npos)
      << nothing.err;
  const Result unknown = run("compare --sweep nosuch");
  EXPECT_EQ(unknown.code, 2);
  EXPECT_NE(unknown.err.find("no runs in sweep 'nosuch'"), std::string::npos);
}

TEST_F(ResultsCliTest, RunsFiltersAndSorts) {
  auto column = [&](const std::string& args, const std::string& name) {
    const Result result = run("runs --csv " + args);
    EXPECT_EQ(result.code, 0) << args << ": " << result.err;
    const auto rows = parseCsv(result.out);
    const auto at = std::find(rows.at(0).begin(), rows.at(0).end(), name);
    std::vector<std::string> values;
    for (std::size_t i = 1; i < rows.size(); ++i) {
      values.push_back(rows[i].at(at - rows[0].begin()));
    }
    return values;
  };
  EXPECT_EQ(column("--where \"lr > 0.005 AND seed = 1\"", "lr"),
            (std::vector<std::string>{"0.01"}));
  EXPECT_EQ(column("--status finished --name 'smo*'", "status").size(), 4u);
  EXPECT_TRUE(column("--name 'other*'", "name").empty());
  EXPECT_EQ(column("--limit 3", "run").size(), 3u);

  const auto ascending = column("--sort lr", "lr");
  EXPECT_EQ(ascending,
            (std::vector<std::string>{"0.003", "0.003", "0.01", "0.01"}));
  const auto descending = column("--sort=-best_map", "best_map");
  ASSERT_EQ(descending.size(), 4u);
  EXPECT_TRUE(std::is_sorted(descending.rbegin(), descending.rend(),
                             [](const std::string& x, const std::string& y) {
                               return std::stod(x) < std::stod(y);
                             }));
  EXPECT_EQ(column("--where \"sweep = '" + sweep_ + "'\"", "sweep").size(), 4u);
}

TEST_F(ResultsCliTest, RunsRejectsBadSortAndForeignStatements) {
  const Result sort = run("runs --sort nope");
  EXPECT_EQ(sort.code, 2);
  EXPECT_NE(sort.err.find("--sort 'nope': not a column of run_summary; "
                          "expected one of uuid, name, status"),
            std::string::npos)
      << sort.err;
  EXPECT_EQ(count(sort.err, "\n"), 1u);

  const Result two = run("runs --where \"1 = 1; DELETE FROM runs\"");
  EXPECT_EQ(two.code, 2);
  EXPECT_NE(two.err.find("only one SQL statement"), std::string::npos)
      << two.err;
  const Result comment = run("runs --where \"1 = 1) --\"");
  EXPECT_EQ(comment.code, 2) << comment.out;
  const Result column = run("runs --where \"nosuch > 1\"");
  EXPECT_EQ(column.code, 2);
  EXPECT_NE(column.err.find("--where 'nosuch > 1': run store '" +
                            db().string() + "'"),
            std::string::npos)
      << column.err;
  EXPECT_NE(column.err.find("no such column: nosuch"), std::string::npos);
  EXPECT_EQ(*store_->query("SELECT count(*) FROM runs").rows[0][0], "4");
}

TEST_F(ResultsCliTest, ReportDrawsCurvesAndBarsInChromium) {
  const fs::path html = dir_ / "report.html";
  const Result result =
      run("report --sweep " + sweep_ + " -o '" + html.string() + "'");
  ASSERT_EQ(result.code, 0) << result.err;
  const std::string page = slurp(html);
  // The provenance of every run, from the store.
  const auto facts = store_->query(
      "SELECT r.uuid, r.spec_hash, r.git_commit, p.sha256 FROM runs r "
      "JOIN run_plugins p ON p.run = r.uuid AND p.kind = 'backbone'");
  ASSERT_EQ(facts.rows.size(), 4u);
  for (const auto& row : facts.rows) {
    for (std::size_t c = 0; c < 3; ++c) {
      if (!row[c]) continue;  // git_commit: NULL outside a repository
      EXPECT_NE(page.find(*row[c]), std::string::npos) << *row[c];
    }
    EXPECT_NE(page.find(row[3]->substr(0, 12)), std::string::npos);
  }
  EXPECT_NE(page.find("LibTorch"), std::string::npos);

  const char* chromium = "/usr/bin/chromium";
  ASSERT_TRUE(fs::exists(chromium))
      << "chromium is missing: the report test renders the page in headless "
         "Chromium; install the Debian package 'chromium' (tools/setup.sh "
         "does)";
  const std::string flags =
      "timeout 180 " + std::string(chromium) +
      " --headless --no-sandbox --disable-gpu --disable-dev-shm-usage"
      " --disable-background-networking"
      " --disable-component-update --disable-sync --no-first-run"
      " --user-data-dir='" +
      (dir_ / "profile").string() + "'";
  const fs::path dom = dir_ / "dom.html", shot = dir_ / "shot.png";
  ASSERT_EQ(std::system((flags + " --dump-dom 'file://" + html.string() +
                         "' >'" + dom.string() + "' 2>/dev/null")
                            .c_str()),
            0);
  const std::string rendered = slurp(dom);
  // Three charts x 4 runs: the loss per logged step (a point per logged
  // step), the loss and the mAP per epoch (a point per epoch: 2).
  const auto lines = captures(rendered, "<polyline points=\"([^\"]*)\"");
  ASSERT_EQ(lines.size(), 12u) << rendered.substr(0, 2000);
  const auto logged = store_->query(
      "SELECT count(*) FROM runs r JOIN metrics m ON m.run = r.uuid "
      "AND m.key = 'train/loss' GROUP BY r.uuid ORDER BY r.started_at, "
      "r.rowid");
  ASSERT_EQ(logged.rows.size(), 4u);
  for (std::size_t i = 0; i < lines.size(); ++i) {
    const std::size_t expected =
        i < 4 ? std::stoul(*logged.rows[i][0]) : std::size_t{2};
    EXPECT_GT(expected, 1u);
    EXPECT_EQ(points(lines[i]).size(), expected) << i;
  }
  EXPECT_NE(rendered.find("Training loss per logged step"), std::string::npos);
  std::size_t defined = 0;
  for (const auto& row : facts.rows) {
    for (const auto& [name, ap] : classAp(*row[0])) defined += ap ? 1 : 0;
  }
  EXPECT_EQ(count(rendered, "<rect class=\"bar\""), defined);

  ASSERT_EQ(std::system((flags + " --window-size=1280,1400 --screenshot='" +
                         shot.string() + "' 'file://" + html.string() +
                         "' >/dev/null 2>&1")
                            .c_str()),
            0);
  const cv::Mat image = cv::imread(shot.string(), cv::IMREAD_COLOR);
  ASSERT_FALSE(image.empty()) << "no screenshot at " << shot;
  // Every run's color is on screen (lines, markers, bars, swatches).
  for (std::size_t run = 0; run < 4; ++run) {
    const std::string hex = labrun::cli::runColor(run);
    const cv::Vec3b bgr(std::stoi(hex.substr(5, 2), nullptr, 16),
                        std::stoi(hex.substr(3, 2), nullptr, 16),
                        std::stoi(hex.substr(1, 2), nullptr, 16));
    int matching = 0;
    for (int y = 0; y < image.rows; ++y) {
      for (int x = 0; x < image.cols; ++x) {
        const cv::Vec3b& p = image.at<cv::Vec3b>(y, x);
        matching += std::abs(p[0] - bgr[0]) + std::abs(p[1] - bgr[1]) +
                        std::abs(p[2] - bgr[2]) <
                    30;
      }
    }
    EXPECT_GT(matching, 200) << "run color " << hex;
  }
}

// Sweeps that must not (all) succeed write into a store of their own.
class SweepTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = fs::path(::testing::TempDir()) / "labrun_sweep" / info->name();
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  fs::path db() const { return dir_ / "runs.db"; }

  fs::path dir_;
};

TEST_F(SweepTest, ResultsCommandsHaveHelp) {
  for (const char* command : {"compare", "sweep", "report", "runs"}) {
    const Result result = labrun(dir_, db(), std::string(command) + " --help");
    EXPECT_EQ(result.code, 0) << command;
    EXPECT_NE(result.out.find("Exit codes: 0 ok, 1 run failed or stopped, 2 "
                              "usage or spec error."),
              std::string::npos)
        << command << ": " << result.out;
  }
  // Reading commands never create a store.
  const Result missing = labrun(dir_, db(), "compare a b");
  EXPECT_EQ(missing.code, 2);
  EXPECT_NE(missing.err.find("no run store at " + db().string()),
            std::string::npos);
  EXPECT_FALSE(fs::exists(db()));
}

TEST_F(SweepTest, SpecErrorInAnyCombinationRunsNothing) {
  const Result result =
      labrun(dir_, db(), "sweep " + kSmoke + " optim.lr=0.1,oops seed=0,1");
  EXPECT_EQ(result.code, 2);
  EXPECT_EQ(count(result.err, "\n"), 1u) << result.err;
  EXPECT_NE(result.err.find("sweep run 3 of 4 (optim.lr=oops seed=0): "),
            std::string::npos)
      << result.err;
  EXPECT_NE(result.err.find("optim.lr"), std::string::npos);
  EXPECT_TRUE(result.out.empty()) << result.out;
  EXPECT_FALSE(fs::exists(db()));  // not even a store was created
  EXPECT_EQ(labrun(dir_, db(), "sweep " + kSmoke + " optim.lr=0.1,,0.2").code,
            2);
  // A grid of one run without swept values names no values.
  const Result single = labrun(dir_, db(), "sweep " + kSmoke + " optim.lr=");
  EXPECT_EQ(single.code, 2);
  EXPECT_EQ(single.err.rfind("labrun: error: sweep run 1 of 1: override "
                             "'optim.lr=': optim.lr: expected number",
                             0),
            0u)
      << single.err;
  // A watched key no metric records is found here too, not by each run.
  const Result typo = labrun(
      dir_, db(), "sweep " + kSmoke + " checkpoint.best_by=val/mAP,val/mAp");
  EXPECT_EQ(typo.code, 2);
  EXPECT_EQ(count(typo.err, "\n"), 1u) << typo.err;
  EXPECT_NE(typo.err.find("sweep run 2 of 2 (checkpoint.best_by=val/mAp): "
                          "override 'checkpoint.best_by=val/mAp': "
                          "checkpoint.best_by: unknown validation key "
                          "'val/mAp'"),
            std::string::npos)
      << typo.err;
  EXPECT_TRUE(typo.out.empty()) << typo.out;
  EXPECT_FALSE(fs::exists(db()));
}

TEST_F(SweepTest, FailedRunsMakeTheSweepExitOne) {
  // An enormous learning rate makes the loss non-finite within a few steps;
  // an empty channel list passes validation but the backbone refuses it, so
  // that run fails before it is recorded.
  const Result result = labrun(
      dir_, db(),
      "sweep " + kSmoke +
          " optim.lr=1e30,0.003 'model.backbone.channels=[16,32],[]' "
          "threads=1 data.synthetic.train_size=64 data.synthetic.val_size=32 "
          "train.epochs=1 -q");
  EXPECT_EQ(result.code, 1) << result.out << result.err;
  EXPECT_NE(result.out.find("[1/4] FAILED "), std::string::npos) << result.out;
  EXPECT_NE(result.out.find("[3/4] FINISHED "), std::string::npos);
  for (const char* error :
       {"[2/4] ERROR (exit 2) optim.lr=1e30 model.backbone.channels=[]: "
        "labrun: error: ",
        "smallconv_fc.yaml:4:5: model.backbone: backbone plugin 'smallconv'",
        "[4/4] ERROR (exit 2) optim.lr=0.003 model.backbone.channels=[]: "}) {
    EXPECT_NE(result.out.find(error), std::string::npos) << result.out;
  }
  EXPECT_NE(result.out.find("1 of 4 run(s) finished"), std::string::npos);
  auto store = RunStore::open(db().string(), /*read_only=*/true);
  const auto runs = store->query(
      "SELECT status, count(*) FROM runs WHERE sweep IS NOT NULL "
      "GROUP BY status ORDER BY status");
  ASSERT_EQ(runs.rows.size(), 2u);
  EXPECT_EQ(*runs.rows[0][0], "FAILED");
  EXPECT_EQ(*runs.rows[1][0], "FINISHED");
}

TEST_F(SweepTest, InterruptStopsRunningRunsAndStartsNoMore) {
  const std::string command =
      "cd '" + dir_.string() + "' && exec '" + LABRUN_BINARY + "' --db '" +
      db().string() + "' sweep " + kSmoke +
      " optim.lr=0.003,0.01,0.02 threads=1 --parallel 2 -q >out 2>err";
  const pid_t pid = fork();
  if (pid == 0) {
    execl("/bin/sh", "sh", "-c", command.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  // Both first runs are training once each has logged a step.
  bool training = false;
  for (int i = 0; i < 600 && !training; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    try {
      auto store = RunStore::open(db().string(), /*read_only=*/true);
      training =
          store->query("SELECT count(DISTINCT run) FROM metrics").rows[0][0] ==
          "2";
    } catch (const labrun::store::StoreError&) {
      // Not created yet.
    }
  }
  ASSERT_TRUE(training) << slurp(dir_ / "out") << slurp(dir_ / "err");
  kill(pid, SIGINT);
  int status = 0;
  waitpid(pid, &status, 0);
  EXPECT_EQ(WEXITSTATUS(status), 1);
  const std::string out = slurp(dir_ / "out");
  EXPECT_NE(out.find("stopped; 1 run(s) not started"), std::string::npos)
      << out;
  auto store = RunStore::open(db().string(), /*read_only=*/true);
  const auto runs = store->query("SELECT status, error FROM runs");
  ASSERT_EQ(runs.rows.size(), 2u);
  for (const auto& row : runs.rows) {
    EXPECT_EQ(*row[0], "KILLED");
    EXPECT_NE(row[1]->find("stopped by signal 2"), std::string::npos);
  }
}

}  // namespace
