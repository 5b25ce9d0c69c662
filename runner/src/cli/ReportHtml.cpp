#include "cli/ReportHtml.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <limits>

#include "cli/AxisScale.h"

namespace labrun::cli {
namespace {

// Chart geometry (pixels). The legend sits right of the plot area.
constexpr double kMarginLeft = 64;
constexpr double kMarginTop = 36;
constexpr double kMarginBottom = 48;
constexpr double kLegendWidth = 390;
constexpr double kLineWidth = 930;
constexpr double kLineHeight = 360;
constexpr double kBarHeight = 400;
constexpr double kBarBottom = 96;  // room for slanted category labels
constexpr double kBarWidth = 14;
constexpr double kBarGap = 14;  // between groups
constexpr std::size_t kLegendChars = 52;
constexpr double kLegendRow = 20;

// Coordinates are written in tenths of a pixel, rounded once here so that
// the points kept per pixel column (visiblePoints) are the columns drawn.
long tenths(double value) { return std::lround(value * 10); }

std::string px(double value) {
  if (!std::isfinite(value)) return fmt::format("{:.1f}", value);
  return fmt::format("{:.1f}", static_cast<double>(tenths(value)) / 10);
}

// Long labels are cut in the legend; the full text stays in a <title>.
std::string shortLabel(const std::string& label) {
  return label.size() <= kLegendChars
             ? label
             : label.substr(0, kLegendChars - 3) + "...";
}

std::string svgOpen(const std::string& css_class, double width, double height,
                    const std::string& title) {
  return fmt::format(
      "<svg class=\"chart {}\" width=\"{}\" height=\"{}\" viewBox=\"0 0 {} "
      "{}\" role=\"img\" aria-label=\"{}\">\n"
      "<text class=\"chart-title\" x=\"{}\" y=\"22\">{}</text>\n",
      css_class, px(width), px(height), px(width), px(height),
      htmlEscape(title), px(kMarginLeft), htmlEscape(title));
}

// The y axis with its ticks, tick labels, grid lines and label.
std::string yAxis(const AxisScale& y, double x0, double x1,
                  const std::string& label) {
  std::string svg = "<g class=\"axis y-axis\">\n";
  for (const double tick : y.ticks()) {
    const std::string py = px(y.pixel(tick));
    svg += fmt::format(
        "<line class=\"grid\" x1=\"{0}\" y1=\"{2}\" x2=\"{1}\" y2=\"{2}\"/>"
        "<line x1=\"{3}\" y1=\"{2}\" x2=\"{0}\" y2=\"{2}\"/>"
        "<text class=\"tick\" x=\"{4}\" y=\"{2}\" text-anchor=\"end\" "
        "dominant-baseline=\"middle\">{5}</text>\n",
        px(x0), px(x1), py, px(x0 - 5), px(x0 - 8), y.label(tick));
  }
  const double top = y.pixel(y.hi()), bottom = y.pixel(y.lo());
  svg += fmt::format(
      "<line x1=\"{0}\" y1=\"{1}\" x2=\"{0}\" y2=\"{2}\"/>\n"
      "<text class=\"axis-label\" transform=\"translate(16 {3}) rotate(-90)\" "
      "text-anchor=\"middle\">{4}</text>\n</g>\n",
      px(x0), px(top), px(bottom), px((top + bottom) / 2), htmlEscape(label));
  return svg;
}

// Legend entries for runs 0..n-1, from (x, y) downwards: a color swatch,
// or for lines a stroke in the run's color and dash pattern (an inline
// style: the page's `.chart line` rule would win over a stroke attribute).
std::string legend(const std::vector<std::string>& labels, double x, double y,
                   bool lines) {
  std::string svg = "<g class=\"legend\">\n";
  for (std::size_t i = 0; i < labels.size(); ++i) {
    const double row = y + kLegendRow * static_cast<double>(i);
    const std::string key =
        lines ? fmt::format(
                    "<line x1=\"{0}\" y1=\"{2}\" x2=\"{1}\" "
                    "y2=\"{2}\" style=\"stroke:{3};stroke-width:3\" "
                    "stroke-dasharray=\"{4}\"/>",
                    px(x), px(x + 14), px(row), runColor(i), runDash(i))
              : fmt::format(
                    "<rect x=\"{}\" y=\"{}\" width=\"14\" "
                    "height=\"10\" fill=\"{}\"/>",
                    px(x), px(row - 5), runColor(i));
    svg += fmt::format(
        "<g><title>{0}</title>{1}<text x=\"{2}\" "
        "y=\"{3}\">{4}</text></g>\n",
        htmlEscape(labels[i]), key, px(x + 20), px(row + 4),
        htmlEscape(shortLabel(labels[i])));
  }
  return svg + "</g>\n";
}

// A chart's height: `plot_height`, or more when its legend needs it.
double heightFor(double plot_height, std::size_t legend_rows) {
  return std::max(
      plot_height,
      kMarginTop + 6 + kLegendRow * static_cast<double>(legend_rows));
}

// The points of a series that a line `columns` pixels wide can show: for
// each pixel column its first, lowest, highest and last point, in x order,
// so that the line drawn is the same while a 100,000-step loss curve takes
// about 2,000 points of the page, not 100,000.
std::vector<std::pair<double, double>> visiblePoints(
    const std::vector<std::pair<double, double>>& points, const AxisScale& x,
    double columns) {
  if (static_cast<double>(points.size()) <= 4 * columns) return points;
  // The column of a point as px() writes it.
  const auto column = [&x](double value) {
    return tenths(x.pixel(value)) / 10;
  };
  std::vector<std::pair<double, double>> kept;
  for (std::size_t start = 0; start < points.size();) {
    const long at = column(points[start].first);
    std::size_t end = start, lo = start, hi = start;
    for (; end < points.size() && column(points[end].first) == at; ++end) {
      if (points[end].second < points[lo].second) lo = end;
      if (points[end].second > points[hi].second) hi = end;
    }
    std::size_t picks[] = {start, lo, hi, end - 1};
    std::sort(std::begin(picks), std::end(picks));
    for (std::size_t k = 0; k < 4; ++k) {
      if (k == 0 || picks[k] != picks[k - 1]) kept.push_back(points[picks[k]]);
    }
    start = end;
  }
  return kept;
}

}  // namespace

std::string htmlEscape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (const char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

std::string runColor(std::size_t run) {
  // Tableau 10: distinct hues that survive print and most color blindness.
  static constexpr std::array<const char*, 10> kPalette = {
      "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
      "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"};
  return kPalette[run % kPalette.size()];
}

std::string runDash(std::size_t run) {
  static constexpr std::array<const char*, 4> kDashes = {"none", "8 4", "2 3",
                                                         "10 3 2 3"};
  return kDashes[run / 10 % kDashes.size()];
}

std::string renderLineChart(const LineChart& chart) {
  double x_lo = std::numeric_limits<double>::infinity(), x_hi = -x_lo;
  double y_lo = x_lo, y_hi = -x_lo;
  for (const ChartSeries& series : chart.series) {
    for (const auto& [x, y] : series.points) {
      x_lo = std::min(x_lo, x), x_hi = std::max(x_hi, x);
      y_lo = std::min(y_lo, y), y_hi = std::max(y_hi, y);
    }
  }
  const bool empty = x_lo > x_hi;
  if (empty) x_lo = 0, x_hi = 1, y_lo = 0, y_hi = 1;
  const double plot_right = kLineWidth - kLegendWidth;
  const double plot_bottom = kLineHeight - kMarginBottom;
  const AxisScale x(x_lo, x_hi, kMarginLeft, plot_right, /*max_ticks=*/8,
                    chart.integer_x);
  const AxisScale y(y_lo, y_hi, plot_bottom, kMarginTop);

  std::string svg =
      svgOpen("line-chart", kLineWidth,
              heightFor(kLineHeight, chart.series.size()), chart.title);
  svg += yAxis(y, kMarginLeft, plot_right, chart.y_label);
  svg += "<g class=\"axis x-axis\">\n";
  for (const double tick : x.ticks()) {
    svg += fmt::format(
        "<line x1=\"{0}\" y1=\"{1}\" x2=\"{0}\" y2=\"{2}\"/>"
        "<text class=\"tick\" x=\"{0}\" y=\"{3}\" text-anchor=\"middle\">{4}"
        "</text>\n",
        px(x.pixel(tick)), px(plot_bottom), px(plot_bottom + 5),
        px(plot_bottom + 18), x.label(tick));
  }
  svg += fmt::format(
      "<line x1=\"{0}\" y1=\"{2}\" x2=\"{1}\" y2=\"{2}\"/>\n"
      "<text class=\"axis-label\" x=\"{3}\" y=\"{4}\" "
      "text-anchor=\"middle\">{5}</text>\n</g>\n",
      px(kMarginLeft), px(plot_right), px(plot_bottom),
      px((kMarginLeft + plot_right) / 2), px(kLineHeight - 10),
      htmlEscape(chart.x_label));
  if (empty) {
    svg += fmt::format(
        "<text class=\"no-data\" x=\"{}\" y=\"{}\" "
        "text-anchor=\"middle\">no data</text>\n",
        px((kMarginLeft + plot_right) / 2), px((kMarginTop + plot_bottom) / 2));
  }
  std::vector<std::string> labels;
  for (std::size_t i = 0; i < chart.series.size(); ++i) {
    const ChartSeries& series = chart.series[i];
    labels.push_back(series.label);
    if (series.points.empty()) continue;
    std::string points, markers;
    for (const auto& [px_value, py_value] :
         chart.markers
             ? series.points
             : visiblePoints(series.points, x, plot_right - kMarginLeft)) {
      const std::string cx = px(x.pixel(px_value)), cy = px(y.pixel(py_value));
      points += (points.empty() ? "" : " ") + cx + "," + cy;
      if (!chart.markers) continue;
      markers += fmt::format(
          "<circle cx=\"{}\" cy=\"{}\" r=\"3\"><title>{}: {} {}, {:.4g}"
          "</title></circle>",
          cx, cy, htmlEscape(series.label), htmlEscape(chart.x_label),
          x.label(px_value), py_value);
    }
    svg += fmt::format(
        "<g class=\"series\" data-run=\"{0}\" stroke=\"{1}\" fill=\"{1}\">"
        "<polyline points=\"{2}\" fill=\"none\" stroke-width=\"2\" "
        "stroke-dasharray=\"{3}\"/>{4}</g>\n",
        i, runColor(i), points, runDash(i), markers);
  }
  svg += legend(labels, plot_right + 16, kMarginTop + 6, /*lines=*/true);
  return svg + "</svg>\n";
}

std::string renderBarChart(const BarChart& chart) {
  double lo = 0, hi = 0;
  for (const auto& group : chart.values) {
    for (const auto& value : group) {
      if (value) lo = std::min(lo, *value), hi = std::max(hi, *value);
    }
  }
  const double runs =
      static_cast<double>(std::max<std::size_t>(chart.legend.size(), 1));
  const double group_width = runs * kBarWidth + kBarGap;
  const double plot_width =
      std::max(480.0, group_width * static_cast<double>(chart.groups.size()));
  const double plot_right = kMarginLeft + plot_width;
  const double width = plot_right + kLegendWidth;
  const double plot_bottom = kBarHeight - kBarBottom;
  const AxisScale y(lo, hi, plot_bottom, kMarginTop);
  const double baseline = y.pixel(0);

  std::string svg =
      svgOpen("bar-chart", width, heightFor(kBarHeight, chart.legend.size()),
              chart.title);
  svg += yAxis(y, kMarginLeft, plot_right, chart.y_label);
  svg += fmt::format(
      "<line class=\"baseline\" x1=\"{0}\" y1=\"{2}\" "
      "x2=\"{1}\" y2=\"{2}\"/>\n",
      px(kMarginLeft), px(plot_right), px(baseline));
  for (std::size_t g = 0; g < chart.groups.size(); ++g) {
    const double left =
        kMarginLeft + kBarGap / 2 + group_width * static_cast<double>(g);
    svg += fmt::format("<g class=\"group\"><title>{}</title>\n",
                       htmlEscape(chart.groups[g]));
    for (std::size_t r = 0; r < chart.values[g].size(); ++r) {
      const auto& value = chart.values[g][r];
      if (!value) continue;
      const double top = y.pixel(*value);
      svg += fmt::format(
          "<rect class=\"bar\" data-run=\"{}\" x=\"{}\" y=\"{}\" width=\"{}\" "
          "height=\"{}\" fill=\"{}\"><title>{} / {}: {:.2f}</title></rect>\n",
          r, px(left + kBarWidth * static_cast<double>(r)),
          px(std::min(top, baseline)), px(kBarWidth - 2),
          px(std::abs(baseline - top)), runColor(r),
          htmlEscape(chart.groups[g]),
          htmlEscape(r < chart.legend.size() ? chart.legend[r] : ""), *value);
    }
    const double center = left + (group_width - kBarGap) / 2;
    svg += fmt::format(
        "<text class=\"tick\" transform=\"translate({} {}) rotate(-35)\" "
        "text-anchor=\"end\">{}</text>\n</g>\n",
        px(center), px(plot_bottom + 14),
        htmlEscape(shortLabel(chart.groups[g])));
  }
  svg += legend(chart.legend, plot_right + 16, kMarginTop + 6,
                /*lines=*/false);
  return svg + "</svg>\n";
}

std::string renderTable(const HtmlTable& table) {
  std::string html = "<table>\n<thead><tr>";
  for (const std::string& cell : table.header) {
    html += "<th>" + htmlEscape(cell) + "</th>";
  }
  html += "</tr></thead>\n<tbody>\n";
  for (std::size_t r = 0; r < table.rows.size(); ++r) {
    html += "<tr>";
    for (std::size_t c = 0; c < table.rows[r].size(); ++c) {
      const bool swatch = static_cast<int>(c) == table.swatch_column;
      html += "<td>";
      if (swatch) {
        html += "<span class=\"swatch\" style=\"background:" + runColor(r) +
                "\"></span>";
      }
      html += htmlEscape(table.rows[r][c]) + "</td>";
    }
    html += "</tr>\n";
  }
  return html + "</tbody>\n</table>\n";
}

std::string renderReport(const ReportPage& page) {
  // Everything inline: the file works offline and can be mailed as is.
  std::string html = fmt::format(
      "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
      "<title>{0}</title>\n<style>\n"
      "body {{ font-family: sans-serif; margin: 24px; color: #222; }}\n"
      "table {{ border-collapse: collapse; margin: 8px 0 16px; }}\n"
      "th, td {{ border: 1px solid #ccc; padding: 3px 8px; text-align: left; "
      "font-size: 13px; }}\n"
      "th {{ background: #f2f2f2; }}\n"
      ".swatch {{ display: inline-block; width: 12px; height: 12px; "
      "margin-right: 6px; vertical-align: middle; }}\n"
      ".charts {{ display: flex; flex-wrap: wrap; gap: 16px; }}\n"
      ".chart {{ font-size: 12px; background: #fff; }}\n"
      ".chart line {{ stroke: #444; stroke-width: 1; }}\n"
      ".chart line.grid {{ stroke: #e4e4e4; }}\n"
      ".chart-title {{ font-size: 14px; font-weight: bold; }}\n"
      ".chart text {{ fill: #222; stroke: none; }}\n"
      ".generated {{ color: #666; }}\n"
      "</style>\n</head>\n<body>\n<h1>{0}</h1>\n"
      "<p class=\"generated\">Generated {1} by labrun.</p>\n",
      htmlEscape(page.title), htmlEscape(page.generated));
  html += "<h2>Runs</h2>\n" + renderTable(page.runs);
  html += "<h2>Curves</h2>\n<div class=\"charts\">\n";
  for (const LineChart& chart : page.curves) html += renderLineChart(chart);
  html += "</div>\n<h2>Per-class AP</h2>\n";
  if (page.class_ap.empty()) html += "<p>No per-class values recorded.</p>\n";
  for (const BarChart& chart : page.class_ap) html += renderBarChart(chart);
  html += "<h2>Metrics</h2>\n" + renderTable(page.metrics);
  html += "<h2>Hyperparameters that differ</h2>\n";
  html += page.params.rows.empty()
              ? "<p>None: the runs share every parameter.</p>\n"
              : renderTable(page.params);
  html += "<h2>Provenance</h2>\n";
  for (const RunProvenance& run : page.provenance) {
    html += "<h3>" + htmlEscape(run.label) + "</h3>\n" +
            renderTable(run.facts) + renderTable(run.plugins);
  }
  return html + "</body>\n</html>\n";
}

}  // namespace labrun::cli
