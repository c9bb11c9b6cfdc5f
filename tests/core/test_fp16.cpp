// SPDX-License-Identifier: Apache-2.0
// Tests of attnkit::fp16: type properties, exact widening, round-to-nearest-even narrowing with
// subnormals and overflow, NaN, and bit-for-bit agreement with the compiler's _Float16.
#include <attnkit/core/fp16.hpp>

#include <bit>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <type_traits>

#include <gtest/gtest.h>

#include "core/small_float_oracle.hpp"

namespace attnkit {
namespace {

using test::bits_of;
using test::float_from_bits;
using test::fp16_oracle;

const fp16_oracle& oracle() {
  static const fp16_oracle instance;
  return instance;
}

float pow2(int e) { return static_cast<float>(std::ldexp(1.0, e)); }

// Random float patterns whose exponent lies in and around the fp16 range (2^-27 .. 2^17), where
// uniformly random patterns (mostly far outside it) say little.
std::uint32_t near_fp16_range(std::mt19937_64& rng) {
  const auto r = rng();
  const std::uint32_t exponent = 100u + static_cast<std::uint32_t>((r >> 32) % 45u);
  return (static_cast<std::uint32_t>(r) & 0x807FFFFFu) | (exponent << 23);
}

TEST(Fp16, IsASixteenBitTriviallyCopyableStandardLayoutType) {
  static_assert(sizeof(fp16) == 2);
  static_assert(alignof(fp16) == 2);
  static_assert(std::is_trivially_copyable_v<fp16>);
  static_assert(std::is_standard_layout_v<fp16>);
  static_assert(std::is_nothrow_default_constructible_v<fp16>);
  const fp16 pair[2] = {fp16::from_bits(0x1234), fp16::from_bits(0xABCD)};
  std::uint32_t raw = 0;
  static_assert(sizeof pair == sizeof raw);
  std::memcpy(&raw, pair, sizeof raw);
  EXPECT_EQ(raw, std::endian::native == std::endian::little ? 0xABCD1234u : 0x1234ABCDu);
}

TEST(Fp16, ConstructsExplicitlyFromFloatAndConvertsImplicitlyToFloat) {
  static_assert(std::is_constructible_v<fp16, float>);
  static_assert(!std::is_convertible_v<float, fp16>, "narrowing must be spelled out");
  static_assert(!std::is_convertible_v<double, fp16>);
  static_assert(!std::is_convertible_v<int, fp16>);
  static_assert(std::is_nothrow_convertible_v<fp16, float>);
  static_assert(std::is_same_v<decltype(fp16{} + fp16{}), float>, "arithmetic happens in float");
  static_assert(std::is_same_v<decltype(fp16{} * 2.0f), float>);
  const fp16 x(1.5f);
  const float y = x;  // implicit
  EXPECT_EQ(y, 1.5f);
  EXPECT_EQ(fp16(3.0f) + fp16(0.25f), 3.25f);
}

TEST(Fp16, ConversionsAreConstexpr) {
  // IEEE binary16: 1.0 is 0x3C00, -2.0 is 0xC000, the smallest subnormal 0x0001 is 2^-24.
  static_assert(fp16(1.0f).bits() == 0x3C00);
  static_assert(float(fp16::from_bits(0xC000)) == -2.0f);
  static_assert(float(fp16::from_bits(0x0001)) * 16777216.0f == 1.0f);
  static_assert(fp16::from_bits(0xBEEF).bits() == 0xBEEF);
  EXPECT_EQ(float(fp16(-2.0f)), -2.0f);
}

TEST(Fp16, ValueInitialisedIsPositiveZero) {
  const fp16 z{};
  EXPECT_EQ(z.bits(), 0u);
  EXPECT_EQ(float(z), 0.0f);
  EXPECT_FALSE(std::signbit(float(z)));
}

TEST(Fp16, FromBitsAndBitsRoundTripEveryPattern) {
  for (std::uint32_t h = 0; h <= 0xFFFFu; ++h)
    ASSERT_EQ(fp16::from_bits(static_cast<std::uint16_t>(h)).bits(), h);
}

TEST(Fp16, WidensEveryPatternExactly) {
  EXPECT_TRUE((test::widens_to_oracle_values<fp16>(oracle())));
  // A NaN widens with its payload in the top mantissa bits of the float.
  for (std::uint32_t h = 0x7C01; h <= 0x7FFF; ++h)
    for (std::uint32_t sign : {0u, 0x8000u})
      ASSERT_EQ(bits_of(fp16::from_bits(static_cast<std::uint16_t>(sign | h))),
                (sign << 16) | 0x7F800000u | ((h & 0x3FFu) << 13));
}

TEST(Fp16, NarrowingAWidenedPatternGivesItBack) {
  EXPECT_TRUE((test::narrow_of_widen_is_identity<fp16, fp16_oracle>()));
}

TEST(Fp16, MidpointsTieToEvenAndTheirNeighboursRoundToNearest) {
  EXPECT_TRUE((test::midpoints_round_to_nearest_even<fp16>(oracle())));
}

TEST(Fp16, RandomFloatsRoundAsTheOracleDoes) {
  EXPECT_TRUE((test::random_floats_match<fp16>(
      oracle(), 0xF16, 1'500'000, [](auto& rng) { return static_cast<std::uint32_t>(rng()); })));
  EXPECT_TRUE((test::random_floats_match<fp16>(oracle(), 0xF17, 1'500'000, near_fp16_range)));
}

TEST(Fp16, SignedZerosAndInfinitiesStayWhatTheyAre) {
  EXPECT_EQ(fp16(0.0f).bits(), 0x0000u);
  EXPECT_EQ(fp16(-0.0f).bits(), 0x8000u);
  EXPECT_TRUE(std::signbit(float(fp16(-0.0f))));
  const float inf = std::numeric_limits<float>::infinity();
  EXPECT_EQ(fp16(inf).bits(), 0x7C00u);
  EXPECT_EQ(fp16(-inf).bits(), 0xFC00u);
  EXPECT_EQ(float(fp16(inf)), inf);
  EXPECT_EQ(float(fp16(-inf)), -inf);
}

TEST(Fp16, NaNStaysAQuietNaNWithItsSignAndTopPayload) {
  // Quiet and signalling NaNs of both signs; 0x7F800001 has its payload only in bits that
  // binary16 drops, and must not become infinity.
  for (std::uint32_t payload : {0x00400000u, 0x00000001u, 0x00001FFFu, 0x00002000u, 0x00200000u,
                                0x007FFFFFu, 0x00412345u, 0x00312000u}) {
    for (std::uint32_t sign : {0u, 0x80000000u}) {
      const float nan = float_from_bits(sign | 0x7F800000u | payload);
      ASSERT_TRUE(std::isnan(nan));
      const std::uint16_t h = fp16(nan).bits();
      const auto where = test::hex(bits_of(nan), 8) + " -> " + test::hex(h, 4);
      EXPECT_TRUE(fp16_oracle::is_nan(h)) << where;
      EXPECT_NE(h & fp16_oracle::kQuiet, 0u) << where;
      EXPECT_EQ(h & 0x8000u, sign >> 16) << where;
      EXPECT_EQ(h & 0x1FFu, (payload >> 13) & 0x1FFu) << where << ": top payload bits kept";
      EXPECT_TRUE(std::isnan(float(fp16(nan))));
    }
  }
  EXPECT_TRUE(std::isnan(float(fp16(std::numeric_limits<float>::quiet_NaN()))));
  EXPECT_TRUE(std::isnan(float(fp16(std::numeric_limits<float>::signaling_NaN()))));
}

TEST(Fp16, SubnormalBoundaries) {
  EXPECT_EQ(float(fp16::from_bits(0x0001)), pow2(-24));
  EXPECT_EQ(fp16(pow2(-24)).bits(), 0x0001u);
  EXPECT_EQ(fp16(pow2(-25)).bits(), 0x0000u);  // exactly half the smallest subnormal: ties to 0
  EXPECT_EQ(fp16(-pow2(-25)).bits(), 0x8000u);
  EXPECT_EQ(fp16(std::nextafter(pow2(-25), 1.0f)).bits(), 0x0001u);  // just above: 2^-24
  EXPECT_EQ(fp16(-std::nextafter(pow2(-25), 1.0f)).bits(), 0x8001u);
  EXPECT_EQ(fp16(std::nextafter(pow2(-25), 0.0f)).bits(), 0x0000u);
  EXPECT_EQ(fp16(pow2(-26)).bits(), 0x0000u);
  EXPECT_EQ(fp16(std::numeric_limits<float>::denorm_min()).bits(), 0x0000u);
  EXPECT_EQ(fp16(3.0f * pow2(-25)).bits(), 0x0002u);  // 1.5 * 2^-24 ties to the even 2 * 2^-24
  EXPECT_EQ(fp16(5.0f * pow2(-25)).bits(), 0x0002u);  // 2.5 * 2^-24 ties to the even 2 * 2^-24
  // The largest subnormal, the midpoint above it and the smallest normal 2^-14.
  EXPECT_EQ(fp16(pow2(-14) - pow2(-24)).bits(), 0x03FFu);
  EXPECT_EQ(fp16(pow2(-14) - pow2(-25)).bits(), 0x0400u);  // tie: 0x03FF is odd
  EXPECT_EQ(fp16(std::nextafter(pow2(-14) - pow2(-25), 0.0f)).bits(), 0x03FFu);
  EXPECT_EQ(fp16(std::nextafter(pow2(-14), 0.0f)).bits(), 0x0400u);  // 2^-14 - tiny
  EXPECT_EQ(fp16(pow2(-14)).bits(), 0x0400u);
  EXPECT_EQ(float(fp16::from_bits(0x0400)), pow2(-14));
  EXPECT_EQ(float(fp16::from_bits(0x03FF)), pow2(-14) - pow2(-24));
}

TEST(Fp16, OverflowBoundaries) {
  EXPECT_EQ(float(fp16::from_bits(0x7BFF)), 65504.0f);
  EXPECT_EQ(fp16(65504.0f).bits(), 0x7BFFu);
  EXPECT_EQ(fp16(65519.0f).bits(), 0x7BFFu);
  EXPECT_EQ(fp16(std::nextafter(65520.0f, 0.0f)).bits(), 0x7BFFu);
  EXPECT_EQ(fp16(65520.0f).bits(), 0x7C00u);  // halfway to 2^16: ties to the even side, infinity
  EXPECT_EQ(fp16(-65520.0f).bits(), 0xFC00u);
  EXPECT_EQ(fp16(-std::nextafter(65520.0f, 0.0f)).bits(), 0xFBFFu);
  EXPECT_EQ(fp16(65536.0f).bits(), 0x7C00u);
  EXPECT_EQ(fp16(1.0e9f).bits(), 0x7C00u);
  EXPECT_EQ(fp16(std::numeric_limits<float>::max()).bits(), 0x7C00u);
  EXPECT_EQ(fp16(-std::numeric_limits<float>::max()).bits(), 0xFC00u);
}

#if defined(__FLT16_MANT_DIG__)
// The compiler's _Float16 (F16C or libgcc soft-float on x86-64) is a second, independent oracle.

std::uint16_t float16_bits(float f) {
  return std::bit_cast<std::uint16_t>(static_cast<_Float16>(f));
}

TEST(Fp16, WidensLikeFloat16) {
  test::mismatch_log log;
  for (std::uint32_t h = 0; h <= 0xFFFFu; ++h) {
    const float want = static_cast<float>(std::bit_cast<_Float16>(static_cast<std::uint16_t>(h)));
    const float got = fp16::from_bits(static_cast<std::uint16_t>(h));
    if (std::isnan(want) ? !std::isnan(got) : bits_of(got) != bits_of(want))
      log.add(test::hex(h, 4) + ": got " + test::hex(bits_of(got), 8) + ", _Float16 gives " +
              test::hex(bits_of(want), 8));
  }
  EXPECT_TRUE(log.result("widen vs _Float16"));
}

TEST(Fp16, NarrowsLikeFloat16) {
  test::mismatch_log log;
  auto check = [&](float f) {
    if (std::isnan(f)) return;
    const std::uint16_t got = fp16(f).bits(), want = float16_bits(f);
    if (got != want)
      log.add("float " + test::hex(bits_of(f), 8) + ": got " + test::hex(got, 4) +
              ", _Float16 gives " + test::hex(want, 4));
  };
  for (std::uint32_t h = 0; h < fp16_oracle::kInf; ++h) {
    const float mid = oracle().midpoint(h);
    for (float f : {mid, std::nextafter(mid, 0.0f), std::nextafter(mid, HUGE_VALF)}) {
      check(f);
      check(-f);
    }
    check(fp16::from_bits(static_cast<std::uint16_t>(h)));
  }
  std::mt19937_64 rng(0x16F);
  for (int n = 0; n < 500'000; ++n) {
    check(float_from_bits(static_cast<std::uint32_t>(rng())));
    check(float_from_bits(near_fp16_range(rng)));
  }
  EXPECT_TRUE(log.result("narrow vs _Float16"));
}
#endif

}  // namespace
}  // namespace attnkit
