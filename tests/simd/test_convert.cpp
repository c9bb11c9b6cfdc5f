// SPDX-License-Identifier: Apache-2.0
// Tests of simd::load / store (full and partial) for float, bf16 and fp16 (and loads of int8) on
// every compiled arch: each must agree bit for bit with the scalar conversions of core/.
#include <attnkit/simd/convert.hpp>

#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <tuple>
#include <vector>

#include <gtest/gtest.h>

#include "support/archs.hpp"

namespace attnkit {
namespace {

template <class T>
std::uint32_t bits_of(T x) {
  if constexpr (std::is_same_v<T, float>) return std::bit_cast<std::uint32_t>(x);
  else return x.bits();
}

// Floats that exercise rounding: specials, every 16-bit pattern widened, the floats adjacent to
// each, and random bit patterns.
std::vector<float> rounding_inputs() {
  const float inf = std::numeric_limits<float>::infinity();
  std::vector<float> xs = {0.0f, -0.0f, inf, -inf, std::numeric_limits<float>::quiet_NaN(),
                           -std::numeric_limits<float>::quiet_NaN(),
                           std::bit_cast<float>(0x7F800001u), 65504.0f, 65519.99f, 65520.0f,
                           0x1p-24f, 0x1p-25f, 0x1.000002p-25f, 0x1p-14f, 1e-40f, 3.4e38f};
  for (std::uint32_t h = 0; h < 65536; h += 3) {
    for (const float x : {float(fp16::from_bits(std::uint16_t(h))),
                          float(bf16::from_bits(std::uint16_t(h)))}) {
      if (!std::isfinite(x)) continue;
      xs.push_back(x);
      xs.push_back(std::nextafter(x, inf));
      xs.push_back(std::nextafter(x, -inf));
    }
  }
  std::mt19937 rng(11);
  for (int n = 0; n < 100000; ++n) xs.push_back(std::bit_cast<float>(std::uint32_t(rng())));
  return xs;
}

template <class Arch, class T>
struct config {
  using arch = Arch;
  using type = T;
};

template <class List>
struct with_types;
template <class... Archs>
struct with_types<::testing::Types<Archs...>> {
  using type = ::testing::Types<config<Archs, float>..., config<Archs, bf16>...,
                                config<Archs, fp16>...>;
};

struct config_name {
  template <class C>
  static std::string GetName(int n) {
    const char* t = std::is_same_v<typename C::type, float>  ? "float"
                    : std::is_same_v<typename C::type, bf16> ? "bf16"
                                                             : "fp16";
    return test::arch_name::GetName<typename C::arch>(n) + "_" + t;
  }
};

template <class C>
class SimdConvert : public ::testing::Test {
 protected:
  using arch = typename C::arch;
  using T = typename C::type;
  using batch = xsimd::batch<float, arch>;
  static constexpr std::size_t kWidth = batch::size;
  void SetUp() override { ATTNKIT_SKIP_UNLESS_CPU_SUPPORTS(arch); }
};
TYPED_TEST_SUITE(SimdConvert, typename with_types<test::compiled_archs>::type, config_name);

TYPED_TEST(SimdConvert, LoadWidensExactly) {
  using T = typename TestFixture::T;
  using arch = typename TestFixture::arch;
  constexpr std::size_t w = TestFixture::kWidth;
  std::vector<T> in;
  if constexpr (std::is_same_v<T, float>) {
    for (float x : rounding_inputs()) in.push_back(x);
  } else {
    for (std::uint32_t h = 0; h < 65536; ++h) in.push_back(T::from_bits(std::uint16_t(h)));
  }
  in.resize(in.size() / w * w);
  std::vector<float> out(in.size());
  for (std::size_t n = 0; n < in.size(); n += w)
    simd::load<arch>(&in[n]).store_unaligned(&out[n]);
  for (std::size_t n = 0; n < in.size(); ++n) {
    const float want = float(in[n]);
    if (std::isnan(want)) {
      ASSERT_TRUE(std::isnan(out[n])) << "element " << n;
      ASSERT_EQ(std::signbit(out[n]), std::signbit(want)) << "element " << n;
    } else {
      ASSERT_EQ(std::bit_cast<std::uint32_t>(out[n]), std::bit_cast<std::uint32_t>(want))
          << "element " << n << " = " << want;
    }
  }
}

TYPED_TEST(SimdConvert, StoreRoundsLikeTheScalarType) {
  using T = typename TestFixture::T;
  using batch = typename TestFixture::batch;
  constexpr std::size_t w = TestFixture::kWidth;
  std::vector<float> in = rounding_inputs();
  in.resize(in.size() / w * w);
  std::vector<T> out(in.size());
  for (std::size_t n = 0; n < in.size(); n += w) simd::store(&out[n], batch::load_unaligned(&in[n]));
  for (std::size_t n = 0; n < in.size(); ++n) {
    const T want(in[n]);
    if (std::isnan(in[n])) {
      ASSERT_TRUE(std::isnan(float(out[n]))) << "element " << n;
      ASSERT_EQ(std::signbit(float(out[n])), std::signbit(in[n])) << "element " << n;
    } else {
      ASSERT_EQ(bits_of(out[n]), bits_of(want)) << "element " << n << " = " << in[n];
    }
  }
}

TYPED_TEST(SimdConvert, PartialLoadReadsOnlyNAndZeroFills) {
  using T = typename TestFixture::T;
  using arch = typename TestFixture::arch;
  constexpr std::size_t w = TestFixture::kWidth;
  for (std::size_t n = 0; n < w; ++n) {
    // n valid elements followed by NaN: a read past n would show up as a NaN lane.
    std::vector<T> in(w, T(std::numeric_limits<float>::quiet_NaN()));
    for (std::size_t l = 0; l < n; ++l) in[l] = T(float(l) + 0.5f);
    std::vector<float> out(w);
    simd::load_partial<arch>(in.data(), n).store_unaligned(out.data());
    for (std::size_t l = 0; l < w; ++l)
      EXPECT_EQ(out[l], l < n ? float(l) + 0.5f : 0.0f) << "n " << n << " lane " << l;
  }
}

TYPED_TEST(SimdConvert, PartialStoreWritesOnlyN) {
  using T = typename TestFixture::T;
  using batch = typename TestFixture::batch;
  constexpr std::size_t w = TestFixture::kWidth;
  std::vector<float> lanes(w);
  for (std::size_t l = 0; l < w; ++l) lanes[l] = float(l) + 1.0f;
  for (std::size_t n = 0; n < w; ++n) {
    std::vector<T> out(w, T(-7.0f));
    simd::store_partial(out.data(), batch::load_unaligned(lanes.data()), n);
    for (std::size_t l = 0; l < w; ++l)
      EXPECT_EQ(float(out[l]), l < n ? float(l) + 1.0f : -7.0f) << "n " << n << " lane " << l;
  }
}

template <class Arch>
class SimdLoadInt8 : public ::testing::Test {
 protected:
  void SetUp() override { ATTNKIT_SKIP_UNLESS_CPU_SUPPORTS(Arch); }
};
TYPED_TEST_SUITE(SimdLoadInt8, test::compiled_archs, test::arch_name);

TYPED_TEST(SimdLoadInt8, EveryValueFullAndPartial) {
  using batch = xsimd::batch<float, TypeParam>;
  constexpr std::size_t w = batch::size;
  std::vector<std::int8_t> in;
  for (int x = -128; x < 128; ++x) in.push_back(static_cast<std::int8_t>(x));
  std::vector<float> out(w);
  for (std::size_t n = 0; n + w <= in.size(); n += w) {
    simd::load<TypeParam>(&in[n]).store_unaligned(out.data());
    for (std::size_t l = 0; l < w; ++l) ASSERT_EQ(out[l], float(in[n + l])) << "element " << n + l;
  }
  for (std::size_t n = 0; n < w; ++n) {
    // n valid elements followed by 127: a read past n would show up as a non-zero lane.
    std::vector<std::int8_t> part(w, 127);
    for (std::size_t l = 0; l < n; ++l) part[l] = static_cast<std::int8_t>(-100 + int(l));
    simd::load_partial<TypeParam>(part.data(), n).store_unaligned(out.data());
    for (std::size_t l = 0; l < w; ++l)
      EXPECT_EQ(out[l], l < n ? float(-100 + int(l)) : 0.0f) << "n " << n << " lane " << l;
  }
}

}  // namespace
}  // namespace attnkit
