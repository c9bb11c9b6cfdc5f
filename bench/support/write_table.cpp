// SPDX-License-Identifier: Apache-2.0
// write_table: cells formatted once and laid out as text or Markdown; JSON keeps raw numbers.
#include "support/write_table.hpp"

#include "support/family_summary.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <string>
#include <string_view>
#include <vector>

namespace attnkit::bench {
namespace {

constexpr std::size_t kColumns = 11;
using line = std::array<std::string, kColumns>;

constexpr line kHeader = {"family",  "variant", "shape",   "thr",      "median",     "cv",
                          "GFLOP/s", "GB/s",    "Gelem/s", "of limit", "vs baseline"};
// Text columns align left, numbers right.
constexpr std::array<bool, kColumns> kLeft = {true,  true,  true,  false, false, false,
                                              false, false, false, false, true};

template <class... A>
std::string format(const char* pattern, A... args) {
  char buffer[64];
  std::snprintf(buffer, sizeof buffer, pattern, args...);
  return buffer;
}

std::string format_time(double s) {
  if (s < 1e-3) return format("%.2f us", s * 1e6);
  if (s < 1.0) return format("%.2f ms", s * 1e3);
  return format("%.3f s", s);
}

std::string format_rate(double x) {
  if (!std::isfinite(x) || x <= 0) return "-";
  return format(x >= 100 ? "%.0f" : x >= 10 ? "%.1f" : x >= 1 ? "%.2f" : "%.3g", x);  // 3 digits below 1
}

std::string format_limit(const result_row& r) {
  const double f = r.limit_fraction();
  if (!std::isfinite(f)) return "-";
  return format("%.0f%% %s", f * 100, r.spec.limit == limit_kind::compute ? "FMA" : "DRAM");
}

std::string format_speedup(const result_row& r) {
  if (!std::isfinite(r.speedup)) return "-";
  return format(r.speedup >= 0.1 ? "%.2fx " : "%.4fx ", r.speedup) + r.spec.baseline;
}

line cells(const result_row& r) {
  return {r.spec.family,
          r.spec.variant,
          r.spec.shape,
          std::to_string(r.spec.threads),
          format_time(r.seconds),
          std::isfinite(r.cv) ? format("%.1f%%", r.cv * 100) : "-",
          format_rate(r.gflops()),
          format_rate(r.gbytes()),
          format_rate(r.gitems()),
          format_limit(r),
          format_speedup(r)};
}

constexpr std::size_t kFamilyColumns = 7;
using family_cells = std::array<std::string, kFamilyColumns>;
const family_cells kFamilyHeader = {"family", "rows", "best row", "rate", "of limit",
                                  "median of limit", "vs baselines: geomean (range)"};
constexpr std::array<bool, kFamilyColumns> kFamilyLeft = {true, false, true, false,
                                                          false, false, true};
constexpr const char* kFamilyNote =
    "Per family: the row closest to its limit, the median fraction of the limit over the family's "
    "rows, and the speed-ups over each baseline (geometric mean and range over the rows).";

std::string format_rate_of(const result_row& r) {
  if (r.spec.limit == limit_kind::memory || (r.spec.flops == 0 && r.spec.bytes > 0))
    return format_rate(r.gbytes()) + " GB/s";
  if (r.spec.flops > 0) return format_rate(r.gflops()) + " GFLOP/s";
  return format_rate(r.gitems()) + " Gelem/s";
}

std::string versus_cell(const family_line& l) {
  std::string cell;
  for (const auto& v : l.speedups) {
    cell += (cell.empty() ? "" : "; ") + format("%.2fx ", v.geomean) + v.baseline;
    if (v.rows > 1) cell += format(" (%.2f-%.2f)", v.min, v.max);
  }
  return cell.empty() ? "-" : cell;
}

family_cells cells(const family_line& l) {
  const result_row& b = *l.best;
  return {l.family,
          std::to_string(l.rows),
          b.spec.variant + ' ' + b.spec.shape + " thr " + std::to_string(b.spec.threads),
          format_rate_of(b),
          format_limit(b),
          std::isfinite(l.median_fraction) ? format("%.0f%%", l.median_fraction * 100) : "-",
          versus_cell(l)};
}

/// Lays out a header and lines of N cells as aligned text, numbers right-aligned.
template <std::size_t N>
void write_aligned(std::ostream& out, const std::vector<std::array<std::string, N>>& lines,
                   const std::array<bool, N>& left) {
  std::array<std::size_t, N> width{};
  for (const auto& l : lines)
    for (std::size_t c = 0; c < N; ++c) width[c] = std::max(width[c], l[c].size());
  for (std::size_t n = 0; n < lines.size(); ++n) {
    std::string text;
    for (std::size_t c = 0; c < N; ++c) {
      const std::string pad(width[c] - lines[n][c].size(), ' ');
      text += (c ? "  " : "") + (left[c] ? lines[n][c] + pad : pad + lines[n][c]);
    }
    text.erase(text.find_last_not_of(' ') + 1);
    out << text << '\n';
    if (n == 0) out << std::string(text.size(), '-') << '\n';
  }
}

/// A Markdown table of a header and lines of N cells.
template <std::size_t N>
void write_markdown_table(std::ostream& out, const std::vector<std::array<std::string, N>>& lines,
                          const std::array<bool, N>& left) {
  for (std::size_t n = 0; n < lines.size(); ++n) {
    out << '|';
    for (const auto& c : lines[n]) out << ' ' << c << " |";
    out << '\n';
    if (n > 0) continue;
    out << '|';
    for (bool l : left) out << (l ? " :--- |" : " ---: |");
    out << '\n';
  }
}

std::vector<family_cells> family_lines(std::span<const result_row> rows) {
  std::vector<family_cells> lines = {kFamilyHeader};
  for (const family_line& l : summarise_families(rows)) lines.push_back(cells(l));
  return lines;
}

void write_text(std::ostream& out, std::span<const result_row> rows, const machine_limits& limits) {
  std::vector<line> lines = {kHeader};
  for (const auto& r : rows) lines.push_back(cells(r));
  out << limits.summary() << "\n\n";
  write_aligned(out, lines, kLeft);
  out << '\n' << kFamilyNote << "\n\n";
  write_aligned(out, family_lines(rows), kFamilyLeft);
}

void write_markdown(std::ostream& out, std::span<const result_row> rows,
                    const machine_limits& limits) {
  std::string summary = limits.summary();
  summary.insert(summary.find('\n'), "  ");  // a Markdown line break between the two lines
  out << summary << "\n\n" << kFamilyNote << "\n\n";
  write_markdown_table(out, family_lines(rows), kFamilyLeft);
  std::vector<line> lines = {kHeader};
  for (const auto& r : rows) lines.push_back(cells(r));
  out << '\n';
  write_markdown_table(out, lines, kLeft);
}

std::string quoted(std::string_view s) {
  std::string q = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') q += '\\';
    if (static_cast<unsigned char>(c) < 0x20) q += format("\\u%04x", unsigned(c));
    else q += c;
  }
  return q + '"';
}

// JSON has no NaN: unknown values are null.
std::string number(double x) {
  if (!std::isfinite(x)) return "null";
  return format("%.10g", x);
}

void write_json(std::ostream& out, std::span<const result_row> rows, const machine_limits& limits) {
  out << "{\n  \"limits\": {\"arch\": " << quoted(limits.arch)
      << ", \"fma_accumulators\": " << limits.fma_accumulators
      << ", \"dram_buffer_bytes\": " << limits.dram_buffer_bytes << ", \"levels\": [";
  for (const auto& l : limits.levels)
    out << (&l == &limits.levels.front() ? "" : ", ") << "{\"threads\": " << l.threads
        << ", \"fma_gflops\": " << number(l.fma_gflops) << ", \"dram_gbs\": " << number(l.dram_gbs)
        << '}';
  out << "]},\n  \"results\": [";
  constexpr const char* kLimitNames[] = {"compute", "memory", "none"};
  for (const auto& r : rows) {
    const auto& s = r.spec;
    out << (&r == &rows.front() ? "\n" : ",\n") << "    {\"name\": " << quoted(s.name())
        << ", \"family\": " << quoted(s.family) << ", \"variant\": " << quoted(s.variant)
        << ", \"shape\": " << quoted(s.shape) << ", \"threads\": " << s.threads
        << ", \"median_s\": " << number(r.seconds) << ", \"cv\": " << number(r.cv)
        << ", \"flops\": " << number(s.flops) << ", \"bytes\": " << number(s.bytes)
        << ", \"items\": " << number(s.items) << ", \"gflops\": " << number(r.gflops())
        << ", \"gbs\": " << number(r.gbytes()) << ", \"gitems\": " << number(r.gitems())
        << ", \"limit\": " << quoted(kLimitNames[static_cast<int>(s.limit)])
        << ", \"limit_rate\": " << number(r.limit_rate)
        << ", \"limit_fraction\": " << number(r.limit_fraction())
        << ", \"baseline\": " << (s.baseline.empty() ? "null" : quoted(s.baseline))
        << ", \"speedup\": " << number(r.speedup) << '}';
  }
  out << "\n  ],\n  \"families\": [";
  const auto families = summarise_families(rows);
  for (const auto& l : families) {
    out << (&l == &families.front() ? "\n" : ",\n") << "    {\"family\": " << quoted(l.family)
        << ", \"rows\": " << l.rows << ", \"best\": " << quoted(l.best->spec.name())
        << ", \"best_limit_fraction\": " << number(l.best->limit_fraction())
        << ", \"median_limit_fraction\": " << number(l.median_fraction)
        << ", \"speedups\": [";
    for (const auto& v : l.speedups)
      out << (&v == &l.speedups.front() ? "" : ", ") << "{\"baseline\": " << quoted(v.baseline)
          << ", \"rows\": " << v.rows << ", \"geomean\": " << number(v.geomean)
          << ", \"min\": " << number(v.min) << ", \"max\": " << number(v.max) << '}';
    out << "]}";
  }
  out << "\n  ]\n}\n";
}

}  // namespace

void write_table(std::ostream& out, std::span<const result_row> rows, const machine_limits& limits,
                 table_format format) {
  switch (format) {
    case table_format::text: return write_text(out, rows, limits);
    case table_format::markdown: return write_markdown(out, rows, limits);
    case table_format::json: return write_json(out, rows, limits);
  }
}

}  // namespace attnkit::bench
