// SPDX-License-Identifier: Apache-2.0
// bench::svg_plot, a self-contained SVG line plot (linear x, logarithmic y) written by hand.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <ostream>
#include <string>
#include <vector>

namespace attnkit::bench {

/// A line plot of a few series over shared x values, written as standalone SVG 1.1 text: axes,
/// ticks, grid, labels, title and a legend, one colour per series. y is logarithmic, from the
/// nearest 1, 2 or 5 times a power of ten below the smallest positive value to the nearest one
/// above the largest; values <= 0 (or not finite) leave a gap in their line.
struct svg_plot {
  struct series {
    std::string name;
    std::vector<double> y;  ///< one value per x
  };

  std::string title;
  std::string x_label;
  std::string y_label;
  std::vector<double> x;  ///< ascending
  std::vector<series> lines;

  /// Writes the SVG document. @pre every series has x.size() values; x has at least 2.
  void write(std::ostream& os) const {
    constexpr double kWidth = 760, kHeight = 460;
    constexpr double kLeft = 70, kRight = 190, kTop = 40, kBottom = 55;
    constexpr double kPlotW = kWidth - kLeft - kRight, kPlotH = kHeight - kTop - kBottom;
    // Tableau 10, distinguishable colours for up to 10 lines.
    static constexpr const char* kColours[] = {"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728",
                                               "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
                                               "#bcbd22", "#17becf"};

    double lo = std::numeric_limits<double>::infinity(), hi = 0.0;
    for (const series& s : lines)
      for (const double y : s.y)
        if (y > 0.0 && std::isfinite(y)) {
          lo = std::min(lo, y);
          hi = std::max(hi, y);
        }
    if (!(hi > 0.0)) lo = hi = 1.0;
    lo = nice(lo, false);
    hi = std::max(nice(hi, true), nice(lo * 1.5, true));
    const double log_lo = std::log10(lo), log_hi = std::log10(hi);
    const double x0 = x.front(), x1 = x.back();
    const auto px = [&](double v) { return kLeft + (v - x0) / (x1 - x0) * kPlotW; };
    const auto py = [&](double v) {
      return kTop + kPlotH - (std::log10(v) - log_lo) / (log_hi - log_lo) * kPlotH;
    };

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
    for (const double v : x) {  // x ticks at the data's x values
      const double xp = px(v);
      os << "<line x1=\"" << xp << "\" y1=\"" << kTop + kPlotH << "\" x2=\"" << xp << "\" y2=\""
         << kTop + kPlotH + 5 << "\" stroke=\"black\"/>\n"
         << "<text x=\"" << xp << "\" y=\"" << kTop + kPlotH + 19 << "\" text-anchor=\"middle\">"
         << number(v) << "</text>\n";
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
      for (std::size_t j = 0; j < x.size(); ++j) {
        const double v = lines[i].y[j];
        if (!(v > 0.0) || !std::isfinite(v)) {
          pen_down = false;
          continue;
        }
        path += (pen_down ? " L" : " M") + number(px(x[j])) + ' ' + number(py(v));
        pen_down = true;
      }
      os << "<path d=\"" << path << "\" fill=\"none\" stroke=\"" << colour
         << "\" stroke-width=\"2\"/>\n";
      for (std::size_t j = 0; j < x.size(); ++j)
        if (const double v = lines[i].y[j]; v > 0.0 && std::isfinite(v))
          os << "<circle cx=\"" << px(x[j]) << "\" cy=\"" << py(v) << "\" r=\"3\" fill=\"" << colour
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
