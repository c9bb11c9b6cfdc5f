// SPDX-License-Identifier: Apache-2.0
// An independent oracle for 16-bit float formats (bf16, fp16): values by ldexp, rounding by search.
#pragma once

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

namespace attnkit::test {

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
  static constexpr std::uint16_t kInf = static_cast<std::uint16_t>(((1u << ExpBits) - 1u) << ManBits);
  static constexpr std::uint16_t kManMask = static_cast<std::uint16_t>((1u << ManBits) - 1u);
  static constexpr std::uint16_t kQuiet = static_cast<std::uint16_t>(1u << (ManBits - 1));

  small_float_oracle() : values_(kInf + 1u) {
    for (std::uint32_t h = 0; h <= kInf; ++h) values_[h] = magnitude(static_cast<std::uint16_t>(h));
  }

  static bool is_nan(std::uint16_t h) { return (h & 0x7FFFu) > kInf; }

  /// The value of a non-NaN pattern in double (exact: 16-bit values fit a double).
  static double value(std::uint16_t h) {
    if ((h & 0x7FFFu) == kInf) return (h & kSign) ? -HUGE_VAL : HUGE_VAL;
    const double m = magnitude(h & 0x7FFFu);
    return (h & kSign) ? -m : m;
  }

  /// The pattern that round-to-nearest-even gives for the non-NaN float `f`: find the two
  /// representable magnitudes around |f| in the sorted table and compare |f| with their exact
  /// midpoint. The table's last entry, the infinity pattern, holds 2^(emax + 1), the value the
  /// next finite pattern would have, so overflow is decided by the same tie rule as any step.
  std::uint16_t round(float f) const {
    const std::uint16_t sign = std::signbit(f) ? kSign : 0u;
    const double a = std::fabs(static_cast<double>(f));
    if (std::isinf(a)) return sign | kInf;
    const auto above = std::upper_bound(values_.begin(), values_.end(), a);
    const auto lo = static_cast<std::uint16_t>((above - values_.begin()) - 1);
    if (lo == kInf || values_[lo] == a) return sign | lo;
    const auto hi = static_cast<std::uint16_t>(lo + 1u);
    const double mid = (values_[lo] + values_[hi]) / 2;  // exact: both have <= 11 significant bits
    if (a < mid) return sign | lo;
    if (a > mid) return sign | hi;
    return sign | ((lo & 1u) == 0 ? lo : hi);
  }

  /// The exact midpoint between the magnitudes of patterns h and h + 1 (h < kInf), as a float
  /// (exact: it has at most ManBits + 2 significant bits and lies in the float range).
  float midpoint(std::uint16_t h) const {
    return static_cast<float>((values_[h] + values_[h + 1u]) / 2);
  }
  double magnitude_of(std::uint16_t h) const { return values_[h]; }

 private:
  // Magnitude of a non-negative pattern; the infinity pattern gives 2^(emax + 1).
  static double magnitude(std::uint32_t h) {
    const int e = static_cast<int>(h >> ManBits);
    const double m = static_cast<double>(h & kManMask);
    if (e == 0) return std::ldexp(m, 1 - kBias - ManBits);  // subnormal: m * 2^(emin - ManBits)
    return std::ldexp(m + static_cast<double>(1u << ManBits), e - kBias - ManBits);
  }

  std::vector<double> values_;  // values_[h]: magnitude of pattern h, for h in [0, kInf]
};

using bf16_oracle = small_float_oracle<8, 7>;
using fp16_oracle = small_float_oracle<5, 10>;

inline float float_from_bits(std::uint32_t bits) { return std::bit_cast<float>(bits); }
inline std::uint32_t bits_of(float f) { return std::bit_cast<std::uint32_t>(f); }

}  // namespace attnkit::test
