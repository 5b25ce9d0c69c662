// Renders a run report as one self-contained HTML page: inline CSS and SVG
// charts, no scripts, no external files. Pure functions of the data, so the
// rendering is tested without a run store.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace labrun::cli {

// Escapes & < > " ' so any text is safe in element content and in quoted
// attribute values.
std::string htmlEscape(std::string_view text);

// Color of run i (#rrggbb): a fixed palette, repeated past its end.
std::string runColor(std::size_t run);
// Dash pattern of run i's line (SVG stroke-dasharray): none for the first
// pass over the palette, then a different one per pass, so runs that share
// a color stay apart.
std::string runDash(std::size_t run);

// One line per run; series i is drawn in runColor(i).
struct ChartSeries {
  std::string label;
  std::vector<std::pair<double, double>> points;  // (x, y), x ascending
};

struct LineChart {
  std::string title;
  std::string x_label;
  std::string y_label;
  bool integer_x = false;  // x ticks at whole numbers (epochs)
  std::vector<ChartSeries> series;
  bool markers = true;  // a <circle> per point (off for per-step series)
};

// Grouped bars: one group per category, one bar per run inside each group.
struct BarChart {
  std::string title;
  std::string y_label;
  std::vector<std::string> legend;  // run labels; bar i in runColor(i)
  std::vector<std::string> groups;  // category labels
  // values[g][r]: group g, run r; nullopt draws no bar (undefined value).
  std::vector<std::vector<std::optional<double>>> values;
};

struct HtmlTable {
  std::vector<std::string> header;
  std::vector<std::vector<std::string>> rows;
  // Index of a column whose cells get their row's run color swatch; -1: none.
  int swatch_column = -1;
};

struct RunProvenance {
  std::string label;
  HtmlTable facts;    // key, value
  HtmlTable plugins;  // kind, name, version, sha256, file
};

struct ReportPage {
  std::string title;
  std::string generated;  // e.g. "2024-06-11 09:34 UTC"
  HtmlTable runs;         // one row per run, in run order
  std::vector<LineChart> curves;
  std::vector<BarChart> class_ap;  // one per map instance
  HtmlTable metrics;               // best / last values
  HtmlTable params;                // the hyperparameters that differ
  std::vector<RunProvenance> provenance;
};

// <svg> with axes, ticks, labels, a legend right of the plot (the chart
// grows to hold it) and one <polyline> per series holding one "x,y" pair
// per point (plus a <circle> marker per point when `markers`); a series of
// more points than the plot has pixel columns keeps, per column, its
// first, lowest, highest and last point, which draw the same line.
std::string renderLineChart(const LineChart& chart);
// <svg> with axes, a legend and one <rect class="bar"> per defined value.
std::string renderBarChart(const BarChart& chart);
std::string renderTable(const HtmlTable& table);
std::string renderReport(const ReportPage& page);

}  // namespace labrun::cli
