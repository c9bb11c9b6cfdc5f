// SPDX-License-Identifier: Apache-2.0
// detail::splitmix64_at and gaussian_at, the seeded counter-based generators of the randomised parts (eviction
// policies, random features): the same numbers on every platform and standard library.
#pragma once

#include <cmath>
#include <cstdint>
#include <numbers>

namespace attnkit::detail {

/// The (i + 1)-th output of SplitMix64 (Steele, Lea, Flood 2014) started at state `seed`: the
/// state seed + (i + 1) * 0x9E3779B97F4A7C15 through its finaliser. Random access by position, so
/// position i draws the same number whatever else is ranked.
constexpr std::uint64_t splitmix64_at(std::uint64_t seed, std::uint64_t i) noexcept {
  std::uint64_t z = seed + (i + 1) * 0x9E3779B97F4A7C15ull;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

/// A double in the open interval (0, 1) from the top 52 bits of x: (floor(x / 2^12) + 0.5) / 2^52,
/// exact in double (53 bits), so 2^-53 <= u <= 1 - 2^-53. (53 bits would round the top value to 1.)
constexpr double open_unit_interval(std::uint64_t x) noexcept {
  return (static_cast<double>(x >> 12) + 0.5) * 0x1.0p-52;
}

/// The index-th standard Gaussian of the stream `seed`: Box-Muller's cosine branch on the two
/// open-interval uniforms splitmix64_at(seed, 2 index) and (seed, 2 index + 1). Only std::log,
/// std::sqrt and std::cos stand between the seed and the number.
inline double gaussian_at(std::uint64_t seed, std::uint64_t index) noexcept {
  const double u1 = open_unit_interval(splitmix64_at(seed, 2 * index));
  const double u2 = open_unit_interval(splitmix64_at(seed, 2 * index + 1));
  return std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * std::numbers::pi * u2);
}

}  // namespace attnkit::detail
