// SPDX-License-Identifier: Apache-2.0
// Tests of simd::exp on every compiled arch: ulp error against double exp, specials, NaN.
#include <attnkit/simd/exp.hpp>

#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include <gtest/gtest.h>

#include "support/archs.hpp"

namespace attnkit {
namespace {

template <class Arch>
class SimdExp : public ::testing::Test {
 protected:
  void SetUp() override { ATTNKIT_SKIP_UNLESS_CPU_SUPPORTS(Arch); }

  // simd::exp (or exp_nonpositive) of every value of xs (padded to whole batches).
  template <bool kNonPositive = false>
  static std::vector<float> run(const std::vector<float>& xs) {
    using batch = xsimd::batch<float, Arch>;
    constexpr std::size_t w = batch::size;
    std::vector<float> in(xs), out((xs.size() + w - 1) / w * w);
    in.resize(out.size(), 0.0f);
    for (std::size_t n = 0; n < in.size(); n += w)
      (kNonPositive ? simd::exp_nonpositive(batch::load_unaligned(&in[n]))
                    : simd::exp(batch::load_unaligned(&in[n])))
          .store_unaligned(&out[n]);
    out.resize(xs.size());
    return out;
  }
};
TYPED_TEST_SUITE(SimdExp, test::compiled_archs, test::arch_name);

// Distance in units in the last place between float a and the double exact value.
double ulp_error(float got, double exact) {
  const float rounded = static_cast<float>(exact);
  const float ulp = std::nextafter(rounded, std::numeric_limits<float>::infinity()) - rounded;
  return std::fabs(double(got) - exact) / double(ulp);
}

TYPED_TEST(SimdExp, WithinTwoUlpOverTheNormalRange) {
  // Every 4099th float bit pattern of both signs (all magnitudes, about 550 000 values) and a
  // uniform grid of 200 000 points (the exponents that matter to softmax) in [-86.9, 88.7].
  std::vector<float> xs;
  for (std::uint32_t bits = 0; std::bit_cast<float>(bits) <= 88.7f; bits += 4099) {
    xs.push_back(std::bit_cast<float>(bits));
    if (std::bit_cast<float>(bits) <= 86.9f) xs.push_back(-std::bit_cast<float>(bits));
  }
  for (int n = 0; n < 200000; ++n) xs.push_back(-86.9f + 175.6f * float(n) / 200000.0f);
  const auto ys = TestFixture::run(xs);
  double worst = 0.0;
  float worst_x = 0.0f;
  for (std::size_t n = 0; n < xs.size(); ++n) {
    const double e = ulp_error(ys[n], std::exp(double(xs[n])));
    if (e > worst) worst = e, worst_x = xs[n];
  }
  EXPECT_LE(worst, 2.0) << "at x = " << worst_x;
}

TYPED_TEST(SimdExp, SpecialValues) {
  const float inf = std::numeric_limits<float>::infinity();
  const std::vector<float> xs = {0.0f, -0.0f, 1.0f, -1.0f, -inf, inf, -1e30f, 1e30f, -87.5f,
                                 -100.0f, -1e4f, 88.72f, 88.73f, 89.0f, 100.0f};
  const auto ys = TestFixture::run(xs);
  EXPECT_EQ(ys[0], 1.0f);
  EXPECT_EQ(ys[1], 1.0f);
  EXPECT_LE(ulp_error(ys[2], std::exp(1.0)), 2.0);
  EXPECT_LE(ulp_error(ys[3], std::exp(-1.0)), 2.0);
  EXPECT_EQ(ys[4], 0.0f);  // exp(-inf) = 0 exactly, not NaN
  EXPECT_EQ(ys[5], inf);
  EXPECT_EQ(ys[6], 0.0f);
  EXPECT_EQ(ys[7], inf);
  for (std::size_t n = 8; n <= 10; ++n) EXPECT_EQ(ys[n], 0.0f) << xs[n];  // flushed, never NaN
  EXPECT_LE(ulp_error(ys[11], std::exp(double(xs[11]))), 2.0);  // just below FLT_MAX
  for (std::size_t n = 12; n < xs.size(); ++n) EXPECT_EQ(ys[n], inf) << xs[n];
}

TYPED_TEST(SimdExp, FlushesOnlyBelowTwoToTheMinus125) {
  // Between -86.99 and -87.34 the exact result is below 2^-125 and may be flushed; above it the
  // result is within 2 ulp (checked above). Whatever is returned must be tiny and not NaN.
  std::vector<float> xs;
  for (float x = -86.9f; x > -87.4f; x -= 0.001f) xs.push_back(x);
  const auto ys = TestFixture::run(xs);
  for (std::size_t n = 0; n < xs.size(); ++n) {
    ASSERT_FALSE(std::isnan(ys[n])) << xs[n];
    EXPECT_LE(std::fabs(double(ys[n]) - std::exp(double(xs[n]))), std::ldexp(1.0, -125)) << xs[n];
  }
}

TYPED_TEST(SimdExp, NaNStaysNaN) {
  const float qnan = std::numeric_limits<float>::quiet_NaN();
  const auto ys = TestFixture::run({qnan, -qnan, 1.0f, qnan});
  EXPECT_TRUE(std::isnan(ys[0]));
  EXPECT_TRUE(std::isnan(ys[1]));
  EXPECT_FALSE(std::isnan(ys[2]));
  EXPECT_TRUE(std::isnan(ys[3]));
}

TYPED_TEST(SimdExp, NonPositiveVariantWithinTwoUlp) {
  // Every 1021st bit pattern of [-87.3, 0] and a uniform grid of 100 000 points.
  std::vector<float> xs;
  for (std::uint32_t bits = 0; std::bit_cast<float>(bits) <= 87.3f; bits += 1021)
    xs.push_back(-std::bit_cast<float>(bits));
  for (int n = 0; n <= 100000; ++n) xs.push_back(-87.3f * float(n) / 100000.0f);
  const auto ys = TestFixture::template run<true>(xs);
  double worst = 0.0;
  float worst_x = 0.0f;
  for (std::size_t n = 0; n < xs.size(); ++n) {
    const double e = ulp_error(ys[n], std::exp(double(xs[n])));
    if (e > worst) worst = e, worst_x = xs[n];
  }
  EXPECT_LE(worst, 2.0) << "at x = " << worst_x;
}

TYPED_TEST(SimdExp, NonPositiveVariantSpecialValues) {
  const float inf = std::numeric_limits<float>::infinity();
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const auto ys = TestFixture::template run<true>({0.0f, -0.0f, -inf, -87.7f, -100.0f, -1e30f, nan});
  EXPECT_EQ(ys[0], 1.0f);
  EXPECT_EQ(ys[1], 1.0f);
  for (std::size_t n = 2; n <= 5; ++n) EXPECT_EQ(ys[n], 0.0f) << n;  // flushed, never NaN
  EXPECT_TRUE(std::isnan(ys[6]));
}

}  // namespace
}  // namespace attnkit
