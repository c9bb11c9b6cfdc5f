// SPDX-License-Identifier: Apache-2.0
// An independent oracle for 16-bit float formats (bf16, fp16) and the sweeps that test against it.
#pragma once

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <random>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

namespace attnkit::test {

constexpr float float_from_bits(std::uint32_t bits) { return std::bit_cast<float>(bits); }
constexpr std::uint32_t bits_of(float f) { return std::bit_cast<std::uint32_t>(f); }

inline std::string hex(std::uint32_t bits, int digits) {
  char buffer[16];
  std::snprintf(buffer, sizeof buffer, "0x%0*X", digits, static_cast<unsigned>(bits));
  return buffer;
}

/// A binary floating-point format with 1 sign bit, `ExpBits` exponent bits and `ManBits`
/// mantissa bits, described by its IEEE 754 parameters only. The oracle never shifts float bits:
/// it computes the value of every 16-bit pattern with std::ldexp and rounds a float by searching
/// that sorted table in double, so it shares no code path with the conversions under test.
template <int ExpBits, int ManBits>
class small_float_oracle {
  static_assert(1 + ExpBits + ManBits == 16, "a 16-bit format has 1 + ExpBits + ManBits == 16");

 public:
  static constexpr int kBias = (1 << (ExpBits - 1)) - 1;
  static constexpr std::uint16_t kSign = 0x8000u;
  static constexpr std::uint16_t kInf =
      static_cast<std::uint16_t>(((1u << ExpBits) - 1u) << ManBits);
  static constexpr std::uint16_t kManMask = static_cast<std::uint16_t>((1u << ManBits) - 1u);
  static constexpr std::uint16_t kQuiet = static_cast<std::uint16_t>(1u << (ManBits - 1));

  small_float_oracle() : magnitudes_(kInf + 1u) {
    for (std::uint32_t h = 0; h <= kInf; ++h) magnitudes_[h] = magnitude(h);
  }

  static bool is_nan(std::uint32_t h) { return (h & 0x7FFFu) > kInf; }

  /// The value of a non-NaN pattern in double (exact: every 16-bit value fits a double).
  static double value(std::uint32_t h) {
    const double m = (h & 0x7FFFu) == kInf ? HUGE_VAL : magnitude(h & 0x7FFFu);
    return (h & kSign) ? -m : m;
  }

  /// The pattern that round-to-nearest-even gives for the non-NaN float `f`: find the two
  /// representable magnitudes around |f| in the sorted table and compare |f| with their exact
  /// midpoint. The table's last entry, at the infinity pattern, holds 2^(emax + 1), the value the
  /// next finite pattern would have, so overflow is decided by the same tie rule as every step.
  std::uint16_t round(float f) const {
    const std::uint16_t sign = std::signbit(f) ? kSign : 0u;
    const double a = std::fabs(static_cast<double>(f));
    if (std::isinf(a)) return sign | kInf;
    const auto above = std::upper_bound(magnitudes_.begin(), magnitudes_.end(), a);
    const auto lo = static_cast<std::uint16_t>((above - magnitudes_.begin()) - 1);
    if (lo == kInf || magnitudes_[lo] == a) return sign | lo;
    const auto hi = static_cast<std::uint16_t>(lo + 1u);
    const double mid = (magnitudes_[lo] + magnitudes_[hi]) / 2;  // exact: <= 12 significant bits
    if (a < mid) return sign | lo;
    if (a > mid) return sign | hi;
    return sign | ((lo & 1u) == 0 ? lo : hi);
  }

  /// The exact midpoint between the magnitudes of patterns h and h + 1 (h < kInf), as a float;
  /// exact because it has at most ManBits + 2 significant bits and lies in the float range.
  float midpoint(std::uint32_t h) const {
    return static_cast<float>((magnitudes_[h] + magnitudes_[h + 1u]) / 2);
  }
  double midpoint_in_double(std::uint32_t h) const {
    return (magnitudes_[h] + magnitudes_[h + 1u]) / 2;
  }

 private:
  // Magnitude of a non-negative pattern; the infinity pattern gives 2^(emax + 1).
  static double magnitude(std::uint32_t h) {
    const int e = static_cast<int>(h >> ManBits);
    const double m = static_cast<double>(h & kManMask);
    if (e == 0) return std::ldexp(m, 1 - kBias - ManBits);  // subnormal: m * 2^(emin - ManBits)
    return std::ldexp(m + static_cast<double>(1u << ManBits), e - kBias - ManBits);
  }

  std::vector<double> magnitudes_;  // magnitudes_[h] for h in [0, kInf]
};

using bf16_oracle = small_float_oracle<8, 7>;
using fp16_oracle = small_float_oracle<5, 10>;

/// Counts failed checks of a sweep and keeps the first few, so a broken conversion reports a
/// handful of readable examples instead of millions of lines.
class mismatch_log {
 public:
  void add(const std::string& what) {
    if (count_++ < 8) examples_ << "\n  " << what;
  }
  ::testing::AssertionResult result(const char* sweep) const {
    if (count_ == 0) return ::testing::AssertionSuccess();
    return ::testing::AssertionFailure()
           << sweep << ": " << count_ << " mismatches, first:" << examples_.str();
  }

 private:
  long long count_ = 0;
  std::ostringstream examples_;
};

/// T(f).bits() == oracle.round(f), recording a mismatch otherwise.
template <class T, class Oracle>
void check_rounding(const Oracle& oracle, float f, mismatch_log& log) {
  const std::uint16_t got = T(f).bits();
  const std::uint16_t want = oracle.round(f);
  if (got != want)
    log.add("float " + hex(bits_of(f), 8) + " (" + std::to_string(f) + "): got " + hex(got, 4) +
            ", want " + hex(want, 4));
}

/// Widening every non-NaN pattern gives exactly the oracle's value (signed zeros included);
/// every NaN pattern widens to a NaN of the same sign.
template <class T, class Oracle>
::testing::AssertionResult widens_to_oracle_values(const Oracle& oracle) {
  (void)oracle;
  mismatch_log log;
  for (std::uint32_t h = 0; h <= 0xFFFFu; ++h) {
    const float f = T::from_bits(static_cast<std::uint16_t>(h));
    const bool negative = (h & Oracle::kSign) != 0;
    if (Oracle::is_nan(h)) {
      if (!std::isnan(f) || std::signbit(f) != negative)
        log.add(hex(h, 4) + " widened to " + hex(bits_of(f), 8) + ", want a NaN of its sign");
      continue;
    }
    const double want = Oracle::value(h);
    if (static_cast<double>(f) != want || std::signbit(f) != negative)
      log.add(hex(h, 4) + " widened to " + std::to_string(f) + ", want " + std::to_string(want));
  }
  return log.result("widen all patterns");
}

/// Narrowing the widened value of every pattern gives the pattern back; a NaN stays a NaN with
/// its sign and payload, with the quiet bit set.
template <class T, class Oracle>
::testing::AssertionResult narrow_of_widen_is_identity() {
  mismatch_log log;
  for (std::uint32_t h = 0; h <= 0xFFFFu; ++h) {
    const float f = T::from_bits(static_cast<std::uint16_t>(h));
    const std::uint16_t back = T(f).bits();
    const std::uint32_t want = Oracle::is_nan(h) ? (h | Oracle::kQuiet) : h;
    if (back != want)
      log.add(hex(h, 4) + " -> float " + hex(bits_of(f), 8) + " -> " + hex(back, 4) + ", want " +
              hex(want, 4));
  }
  return log.result("narrow(widen(h)) for all patterns");
}

/// For every pair of consecutive patterns h, h + 1 of either sign (the last finite pattern paired
/// with infinity): their exact midpoint rounds to the even one of the two, the float just below
/// it (in magnitude) to h and the float just above it to h + 1; each is also checked against the
/// search oracle.
template <class T, class Oracle>
::testing::AssertionResult midpoints_round_to_nearest_even(const Oracle& oracle) {
  mismatch_log log;
  for (std::uint16_t sign : {std::uint16_t{0}, Oracle::kSign}) {
    for (std::uint32_t h = 0; h < Oracle::kInf; ++h) {
      const float mid = oracle.midpoint(h);
      if (static_cast<double>(mid) != oracle.midpoint_in_double(h)) {
        log.add("midpoint of " + hex(h, 4) + " is not a float: the oracle is wrong");
        continue;
      }
      const float below = std::nextafter(mid, 0.0f);
      const float above = std::nextafter(mid, HUGE_VALF);
      const float s = sign ? -1.0f : 1.0f;
      const std::uint32_t lo = sign | h, hi = sign | (h + 1u);
      const std::uint32_t even = (h & 1u) == 0 ? lo : hi;
      const std::pair<float, std::uint32_t> cases[] = {
          {s * mid, even}, {s * below, lo}, {s * above, hi}};
      for (const auto& [f, want] : cases) {
        const std::uint16_t got = T(f).bits();
        if (got != want)
          log.add("float " + hex(bits_of(f), 8) + " near the midpoint of " + hex(lo, 4) + " and " +
                  hex(hi, 4) + ": got " + hex(got, 4) + ", want " + hex(want, 4));
        check_rounding<T>(oracle, f, log);
      }
    }
  }
  return log.result("midpoints and their neighbours");
}

/// `count` floats from `next_bits(rng)` (NaN patterns skipped) rounded as the oracle does.
template <class T, class Oracle, class NextBits>
::testing::AssertionResult random_floats_match(const Oracle& oracle, std::uint64_t seed, long count,
                                               NextBits next_bits) {
  mismatch_log log;
  std::mt19937_64 rng(seed);
  for (long n = 0; n < count; ++n) {
    const float f = float_from_bits(next_bits(rng));
    if (!std::isnan(f)) check_rounding<T>(oracle, f, log);
  }
  return log.result("random floats");
}

}  // namespace attnkit::test
