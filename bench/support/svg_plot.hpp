// SPDX-License-Identifier: Apache-2.0
// bench::svg_plot, a self-contained SVG line plot (linear or logarithmic x, logarithmic y)
// written by hand.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <ostream>
#include <string>
#include <utility>
#include <vector>

namespace attnkit::bench {

/// A line plot of a few series, written as standalone SVG 1.1 text: axes, ticks, grid, labels,
/// title and a legend, one colour per series. y is logarithmic, from the nearest 1, 2 or 5 times
/// a power of ten below the smallest positive value to the nearest one above the largest; values
/// <= 0 (or not finite) leave a gap in their line. x is shared by the series (linear, ticks at
/// its values) or, with log_x, each series has its own x (a scatter joined in x order: a
/// trade-off curve per method).
struct svg_plot {
  struct series {
    std::string name;
    std::vector<double> y;  ///< one value per x
    std::vector<double> x;  ///< log_x only: this series' x, one per y
  };

  std::string title;
  std::string x_label;
  std::string y_label;
  std::vector<double> x;  ///< ascending, shared by the series (not log_x)
  std::vector<series> lines;
  bool log_x = false;

  /// Writes the SVG document. @pre every series has x.size() values and x has at least 2 (shared
  /// x), or each series as many x as y values, not all equal (log_x).
  void write(std::ostream& os) const {
    constexpr double kWidth = 760, kHeight = 460;
    constexpr double kLeft = 70, kRight = 190, kTop = 40, kBottom = 55;
    constexpr double kPlotW = kWidth - kLeft - kRight, kPlotH = kHeight - kTop - kBottom;
    // Tableau 10 and four darker shades: distinguishable colours for up to 14 lines.
    static constexpr const char* kColours[] = {"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728",
                                               "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
                                               "#bcbd22", "#17becf", "#393b79", "#ad494a",
                                               "#637939", "#7b4173"};

    const std::pair<double, double> y_range =
        range([](const series& l) -> const std::vector<double>& { return l.y; });
    const double log_lo = std::log10(y_range.first), log_hi = std::log10(y_range.second);
    const double lo = y_range.first, hi = y_range.second;
    double x0 = 0.0, x1 = 1.0;
    if (log_x) {
      const auto x_range = range([](const series& l) -> const std::vector<double>& { return l.x; });
      x0 = std::log10(x_range.first), x1 = std::log10(x_range.second);
    } else if (!x.empty()) {
      x0 = x.front(), x1 = x.back();
    }
    const auto px = [&](double v) { return kLeft + ((log_x ? std::log10(v) : v) - x0) / (x1 - x0) * kPlotW; };
    const auto py = [&](double v) {
      return kTop + kPlotH - (std::log10(v) - log_lo) / (log_hi - log_lo) * kPlotH;
    };
    const auto x_of = [&](const series& l, std::size_t j) { return log_x ? l.x[j] : x[j]; };

    os << "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
       << "<svg xmlns=\"http://www.w3.org/2000/svg\" version=\"1.1\" width=\"" << kWidth
       << "\" height=\"" << kHeight << "\" viewBox=\"0 0 " << kWidth << ' ' << kHeight
       << "\" font-family=\"sans-serif\" font-size=\"12\">\n"
       << "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
       << "<text x=\"" << kLeft + kPlotW / 2
       << "\" y=\"24\" text-anchor=\"middle\" font-size=\"15\">" << escaped(title) << "</text>\n";

    // y grid and ticks at 1, 2 and 5 times each decade; only the decades labelled when the
    // range spans more than three.
    const bool minor_labels = log_hi - log_lo <= 3.0;
    for (int e = static_cast<int>(std::floor(log_lo)); e <= static_cast<int>(std::ceil(log_hi));
         ++e)
      for (const int m : {1, 2, 5}) {
        const double v = m * std::pow(10.0, e);
        if (v < lo * (1 - 1e-9) || v > hi * (1 + 1e-9)) continue;
        const double y = py(v);
        os << "<line x1=\"" << kLeft << "\" y1=\"" << y << "\" x2=\"" << kLeft + kPlotW
           << "\" y2=\"" << y << "\" stroke=\"" << (m == 1 ? "#bbbbbb" : "#e4e4e4") << "\"/>\n";
        if (m == 1 || minor_labels)
          os << "<text x=\"" << kLeft - 6 << "\" y=\"" << y + 4 << "\" text-anchor=\"end\">"
             << number(v) << "</text>\n";
      }
    auto x_tick = [&](double v) {
      const double xp = px(v);
      os << "<line x1=\"" << xp << "\" y1=\"" << kTop + kPlotH << "\" x2=\"" << xp << "\" y2=\""
         << kTop + kPlotH + 5 << "\" stroke=\"black\"/>\n"
         << "<text x=\"" << xp << "\" y=\"" << kTop + kPlotH + 19 << "\" text-anchor=\"middle\">"
         << number(v) << "</text>\n";
    };
    if (log_x) {  // ticks at 1, 2 and 5 times each decade in range
      for (int e = static_cast<int>(std::floor(x0)); e <= static_cast<int>(std::ceil(x1)); ++e)
        for (const int m : {1, 2, 5})
          if (const double v = m * std::pow(10.0, e); std::log10(v) >= x0 - 1e-9 && std::log10(v) <= x1 + 1e-9)
            x_tick(v);
    } else {
      for (const double v : x) x_tick(v);  // at the data's x values
    }
    os << "<rect x=\"" << kLeft << "\" y=\"" << kTop << "\" width=\"" << kPlotW << "\" height=\""
       << kPlotH << "\" fill=\"none\" stroke=\"black\"/>\n"
       << "<text x=\"" << kLeft + kPlotW / 2 << "\" y=\"" << kHeight - 14
       << "\" text-anchor=\"middle\">" << escaped(x_label) << "</text>\n"
       << "<text transform=\"translate(18 " << kTop + kPlotH / 2
       << ") rotate(-90)\" text-anchor=\"middle\">" << escaped(y_label) << "</text>\n";

    for (std::size_t i = 0; i < lines.size(); ++i) {
      const char* colour = kColours[i % std::size(kColours)];
      std::string path;
      bool pen_down = false;
      const series& l = lines[i];
      for (std::size_t j = 0; j < l.y.size(); ++j) {
        const double v = l.y[j];
        if (!(v > 0.0) || !std::isfinite(v)) {
          pen_down = false;
          continue;
        }
        path += (pen_down ? " L" : " M") + number(px(x_of(l, j))) + ' ' + number(py(v));
        pen_down = true;
      }
      os << "<path d=\"" << path << "\" fill=\"none\" stroke=\"" << colour
         << "\" stroke-width=\"2\"/>\n";
      for (std::size_t j = 0; j < l.y.size(); ++j)
        if (const double v = l.y[j]; v > 0.0 && std::isfinite(v))
          os << "<circle cx=\"" << px(x_of(l, j)) << "\" cy=\"" << py(v) << "\" r=\"3\" fill=\"" << colour
             << "\"/>\n";
      const double ly = kTop + 10 + 20.0 * static_cast<double>(i);
      const double lx = kLeft + kPlotW + 15;
      os << "<line x1=\"" << lx << "\" y1=\"" << ly << "\" x2=\"" << lx + 24 << "\" y2=\"" << ly
         << "\" stroke=\"" << colour << "\" stroke-width=\"2\"/>\n"
         << "<text x=\"" << lx + 30 << "\" y=\"" << ly + 4 << "\">" << escaped(lines[i].name)
         << "</text>\n";
    }
    os << "</svg>\n";
  }

 private:
  /// [lo, hi] of the positive finite values of every series' `values`, widened to 1, 2 or 5
  /// times powers of ten (at least a factor 1.5 apart).
  template <class Values>
  std::pair<double, double> range(Values&& values) const {
    double lo = std::numeric_limits<double>::infinity(), hi = 0.0;
    for (const series& s : lines)
      for (const double v : values(s))
        if (v > 0.0 && std::isfinite(v)) {
          lo = std::min(lo, v);
          hi = std::max(hi, v);
        }
    if (!(hi > 0.0)) lo = hi = 1.0;
    lo = nice(lo, false);
    return {lo, std::max(nice(hi, true), nice(lo * 1.5, true))};
  }

  /// The nearest of 1, 2 or 5 times a power of ten at or below v (at or above when `up`).
  static double nice(double v, bool up) {
    const double decade = std::pow(10.0, std::floor(std::log10(v)));
    double best = up ? 10.0 * decade : decade;
    for (const double m : {1.0, 2.0, 5.0, 10.0}) {
      const double c = m * decade;
      if (up && c >= v * (1 - 1e-12)) return c;
      if (!up && c <= v * (1 + 1e-12)) best = c;
    }
    return best;
  }

  /// Up to 4 significant digits, no exponent for the magnitudes plotted here.
  static std::string number(double v) {
    char text[32];
    std::snprintf(text, sizeof text, "%.4g", v);
    return text;
  }

  /// Text with the XML special characters escaped.
  static std::string escaped(const std::string& text) {
    std::string out;
    for (const char c : text) {
      switch (c) {
        case '&': out += "&amp;"; break;
        case '<': out += "&lt;"; break;
        case '>': out += "&gt;"; break;
        case '"': out += "&quot;"; break;
        default: out += c;
      }
    }
    return out;
  }
};

}  // namespace attnkit::bench
