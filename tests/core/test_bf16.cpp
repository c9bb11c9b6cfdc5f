// SPDX-License-Identifier: Apache-2.0
// Tests of attnkit::bf16: type properties, exact widening, round-to-nearest-even narrowing, NaN.
#include <attnkit/core/bf16.hpp>

#include <bit>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <type_traits>

#include <gtest/gtest.h>

#include "core/small_float_oracle.hpp"

namespace attnkit {
namespace {

using test::bf16_oracle;
using test::bits_of;
using test::float_from_bits;

const bf16_oracle& oracle() {
  static const bf16_oracle instance;
  return instance;
}

TEST(Bf16, IsASixteenBitTriviallyCopyableStandardLayoutType) {
  static_assert(sizeof(bf16) == 2);
  static_assert(alignof(bf16) == 2);
  static_assert(std::is_trivially_copyable_v<bf16>);
  static_assert(std::is_standard_layout_v<bf16>);
  static_assert(std::is_nothrow_default_constructible_v<bf16>);
  // Arrays of bf16 are what kernels read: each element occupies exactly its 16 bits.
  const bf16 pair[2] = {bf16::from_bits(0x1234), bf16::from_bits(0xABCD)};
  std::uint32_t raw = 0;
  static_assert(sizeof pair == sizeof raw);
  std::memcpy(&raw, pair, sizeof raw);
  EXPECT_EQ(raw, std::endian::native == std::endian::little ? 0xABCD1234u : 0x1234ABCDu);
}

TEST(Bf16, ConstructsExplicitlyFromFloatAndConvertsImplicitlyToFloat) {
  static_assert(std::is_constructible_v<bf16, float>);
  static_assert(!std::is_convertible_v<float, bf16>, "narrowing must be spelled out");
  static_assert(!std::is_convertible_v<double, bf16>);
  static_assert(!std::is_convertible_v<int, bf16>);
  static_assert(std::is_nothrow_convertible_v<bf16, float>);
  static_assert(std::is_same_v<decltype(bf16{} + bf16{}), float>, "arithmetic happens in float");
  static_assert(std::is_same_v<decltype(bf16{} * 2.0f), float>);
  const bf16 x(1.5f);
  const float y = x;  // implicit
  EXPECT_EQ(y, 1.5f);
  EXPECT_EQ(bf16(3.0f) + bf16(0.25f), 3.25f);
}

TEST(Bf16, ConversionsAreConstexpr) {
  // bf16 is the upper half of a binary32, so these patterns are the IEEE definitions.
  static_assert(bf16(1.0f).bits() == (bits_of(1.0f) >> 16));
  static_assert(float(bf16::from_bits(0xC040)) == -3.0f);
  static_assert(bf16::from_bits(0xBEEF).bits() == 0xBEEF);
  EXPECT_EQ(float(bf16(-2.0f)), -2.0f);
}

TEST(Bf16, ValueInitialisedIsPositiveZero) {
  const bf16 z{};
  EXPECT_EQ(z.bits(), 0u);
  EXPECT_EQ(float(z), 0.0f);
  EXPECT_FALSE(std::signbit(float(z)));
}

TEST(Bf16, FromBitsAndBitsRoundTripEveryPattern) {
  for (std::uint32_t h = 0; h <= 0xFFFFu; ++h)
    ASSERT_EQ(bf16::from_bits(static_cast<std::uint16_t>(h)).bits(), h);
}

TEST(Bf16, WidensEveryPatternExactly) {
  EXPECT_TRUE((test::widens_to_oracle_values<bf16>(oracle())));
  // bf16 is by definition the upper half of a binary32: NaN payloads carry over bit for bit.
  for (std::uint32_t h = 0; h <= 0xFFFFu; ++h)
    ASSERT_EQ(bits_of(bf16::from_bits(static_cast<std::uint16_t>(h))), h << 16);
}

TEST(Bf16, NarrowingAWidenedPatternGivesItBack) {
  EXPECT_TRUE((test::narrow_of_widen_is_identity<bf16, bf16_oracle>()));
}

TEST(Bf16, MidpointsTieToEvenAndTheirNeighboursRoundToNearest) {
  EXPECT_TRUE((test::midpoints_round_to_nearest_even<bf16>(oracle())));
}

TEST(Bf16, RandomFloatsRoundAsTheOracleDoes) {
  EXPECT_TRUE((test::random_floats_match<bf16>(
      oracle(), 0xBF16, 3'000'000, [](auto& rng) { return static_cast<std::uint32_t>(rng()); })));
  // Floats whose low half sits right at or around the rounding point, where a carry or a
  // wrong tie rule shows: low halves 0x7FFF, 0x8000, 0x8001 with random upper halves.
  EXPECT_TRUE((test::random_floats_match<bf16>(oracle(), 0x7FFF, 600'000, [](auto& rng) {
    const auto r = static_cast<std::uint32_t>(rng());
    return (r & 0xFFFF0000u) | (0x7FFFu + r % 3u);
  })));
}

TEST(Bf16, SignedZerosAndInfinitiesStayWhatTheyAre) {
  EXPECT_EQ(bf16(0.0f).bits(), 0x0000u);
  EXPECT_EQ(bf16(-0.0f).bits(), 0x8000u);
  EXPECT_TRUE(std::signbit(float(bf16(-0.0f))));
  const float inf = std::numeric_limits<float>::infinity();
  EXPECT_EQ(float(bf16(inf)), inf);
  EXPECT_EQ(float(bf16(-inf)), -inf);
}

TEST(Bf16, NaNStaysAQuietNaNWithItsSign) {
  // Quiet and signalling NaNs of both signs; 0x7F800001 has its payload only in the low half,
  // which truncation alone would turn into infinity.
  for (std::uint32_t payload : {0x00400000u, 0x00000001u, 0x00000100u, 0x00010000u, 0x00200000u,
                                0x007FFFFFu, 0x00412345u}) {
    for (std::uint32_t sign : {0u, 0x80000000u}) {
      const float nan = float_from_bits(sign | 0x7F800000u | payload);
      ASSERT_TRUE(std::isnan(nan));
      const std::uint16_t h = bf16(nan).bits();
      EXPECT_TRUE(bf16_oracle::is_nan(h))
          << test::hex(bits_of(nan), 8) << " -> " << test::hex(h, 4);
      EXPECT_NE(h & bf16_oracle::kQuiet, 0u) << test::hex(bits_of(nan), 8);
      EXPECT_EQ(h & 0x8000u, sign >> 16) << test::hex(bits_of(nan), 8);
      EXPECT_TRUE(std::isnan(float(bf16(nan))));
    }
  }
  EXPECT_TRUE(std::isnan(float(bf16(std::numeric_limits<float>::quiet_NaN()))));
  EXPECT_TRUE(std::isnan(float(bf16(std::numeric_limits<float>::signaling_NaN()))));
}

TEST(Bf16, OverflowAndUnderflowBoundaries) {
  const float max_bf16 = bf16::from_bits(0x7F7F);  // (2 - 2^-7) * 2^127
  EXPECT_EQ(static_cast<double>(max_bf16), std::ldexp(255.0, 120));
  EXPECT_EQ(bf16(max_bf16).bits(), 0x7F7Fu);
  // The midpoint between the largest bf16 and 2^128 ties to the even side, infinity; the float
  // below it stays finite. FLT_MAX lies above it and overflows.
  const float overflow_tie = static_cast<float>(std::ldexp(511.0, 119));
  EXPECT_EQ(bf16(overflow_tie).bits(), 0x7F80u);
  EXPECT_EQ(bf16(std::nextafter(overflow_tie, 0.0f)).bits(), 0x7F7Fu);
  EXPECT_EQ(bf16(std::numeric_limits<float>::max()).bits(), 0x7F80u);
  EXPECT_EQ(bf16(-std::numeric_limits<float>::max()).bits(), 0xFF80u);
  // Subnormal bf16 exist (the float subnormals with 7 significant bits).
  const float min_sub = static_cast<float>(std::ldexp(1.0, -133));
  EXPECT_EQ(bf16(min_sub).bits(), 0x0001u);
  EXPECT_EQ(bf16(static_cast<float>(std::ldexp(1.0, -134))).bits(), 0x0000u);  // tie to even 0
  EXPECT_EQ(bf16(static_cast<float>(std::ldexp(3.0, -135))).bits(), 0x0001u);  // above the tie
  EXPECT_EQ(bf16(static_cast<float>(std::ldexp(3.0, -134))).bits(), 0x0002u);  // tie to even 2
  EXPECT_EQ(bf16(std::numeric_limits<float>::denorm_min()).bits(), 0x0000u);
  EXPECT_EQ(bf16(-std::numeric_limits<float>::denorm_min()).bits(), 0x8000u);
  // Rounding up out of the subnormals gives the smallest normal, 2^-126.
  EXPECT_EQ(float(bf16(std::nextafter(std::numeric_limits<float>::min(), 0.0f))),
            std::numeric_limits<float>::min());
}

}  // namespace
}  // namespace attnkit
