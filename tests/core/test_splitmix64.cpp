// SPDX-License-Identifier: Apache-2.0
// Tests of detail::splitmix64_at against SplitMix64's published outputs, and the open unit
// interval map.
#include <attnkit/core/splitmix64.hpp>

#include <cmath>
#include <cstdint>

#include <gtest/gtest.h>

namespace attnkit {
namespace {

TEST(Splitmix64, MatchesTheReferenceSequenceFromStateZero) {
  // The first outputs of splitmix64.c (Vigna) seeded with 0.
  static_assert(detail::splitmix64_at(0, 0) == 0xE220A8397B1DCDAFull);
  EXPECT_EQ(detail::splitmix64_at(0, 1), 0x6E789E6AA1B965F4ull);
  EXPECT_EQ(detail::splitmix64_at(0, 2), 0x06C45D188009454Full);
}

TEST(Splitmix64, PositionIOfSeedSIsPositionZeroOfTheAdvancedState) {
  for (std::uint64_t i : {1u, 5u, 1000u})
    EXPECT_EQ(detail::splitmix64_at(7, i), detail::splitmix64_at(7 + i * 0x9E3779B97F4A7C15ull, 0));
}

TEST(OpenUnitInterval, NeverZeroNorOne) {
  EXPECT_EQ(detail::open_unit_interval(0), 0x1.0p-53);
  EXPECT_EQ(detail::open_unit_interval(~std::uint64_t{0}), 1.0 - 0x1.0p-53);
  EXPECT_LT(detail::open_unit_interval(~std::uint64_t{0}), 1.0);
  EXPECT_EQ(detail::open_unit_interval(std::uint64_t{1} << 63), 0.5 + 0x1.0p-53);
  // log(-log(u)) is finite at both ends: the Gumbel noise never overflows.
  EXPECT_TRUE(std::isfinite(std::log(-std::log(detail::open_unit_interval(0)))));
  EXPECT_TRUE(std::isfinite(std::log(-std::log(detail::open_unit_interval(~std::uint64_t{0})))));
}

}  // namespace
}  // namespace attnkit
