// SPDX-License-Identifier: Apache-2.0
// bench::normal_source, the seeded generator of the synthetic benchmark inputs: SplitMix64 with
// Box-Muller normals, the same numbers with every standard library.
#pragma once

#include <cmath>
#include <cstdint>
#include <numbers>

namespace attnkit::bench {

/// A sequential SplitMix64 stream (Steele, Lea, Flood 2014) with uniform and standard normal
/// draws. std:: distributions are avoided on purpose: their output differs between standard
/// libraries, and the evaluation's table must not. Normals come from the Box-Muller transform,
/// both of each pair used; only std::log, std::sqrt, std::cos and std::sin (last-ulp
/// differences between libms at most) stand between the seed and the numbers.
class normal_source {
 public:
  explicit normal_source(std::uint64_t seed) noexcept : state_(seed) {}

  /// The next 64 random bits.
  std::uint64_t next_bits() noexcept {
    state_ += 0x9E3779B97F4A7C15ull;
    std::uint64_t z = state_;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }

  /// A double in the open interval (0, 1), from the top 53 bits.
  double uniform() noexcept { return (static_cast<double>(next_bits() >> 11) + 0.5) * 0x1.0p-53; }

  /// An integer in [0, n), n >= 1 (the multiply-shift map; its bias is below 2^-32 for the
  /// small n used here).
  std::uint64_t below(std::uint64_t n) noexcept { return (next_bits() >> 32) * n >> 32; }

  /// A standard normal draw.
  double normal() noexcept {
    if (has_spare_) {
      has_spare_ = false;
      return spare_;
    }
    const double radius = std::sqrt(-2.0 * std::log(uniform()));
    const double angle = 2.0 * std::numbers::pi * uniform();
    spare_ = radius * std::sin(angle);
    has_spare_ = true;
    return radius * std::cos(angle);
  }

 private:
  std::uint64_t state_;
  double spare_ = 0.0;
  bool has_spare_ = false;
};

}  // namespace attnkit::bench
