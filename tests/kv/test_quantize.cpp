// SPDX-License-Identifier: Apache-2.0
// Tests of the int8 row quantiser: half a step of error, the scale rule, zero, tiny and huge rows.
#include <attnkit/kv/quantize.hpp>

#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <vector>

#include <gtest/gtest.h>

#include <attnkit/core/bf16.hpp>

namespace attnkit::detail {
namespace {

struct quantized_row {
  std::vector<std::int8_t> q;
  float scale;
};

quantized_row quantize(const std::vector<float>& x) {
  quantized_row r{std::vector<std::int8_t>(x.size(), std::int8_t{99}), 0.0f};
  r.scale = quantize_int8_row(
      static_cast<index_t>(x.size()), [&](index_t d) { return x[static_cast<std::size_t>(d)]; },
      r.q.data());
  return r;
}

// |x - scale * q| <= scale / 2, with room for the rounding of x / scale in double.
void expect_within_half_step(const std::vector<float>& x, const quantized_row& r) {
  const double scale = r.scale;
  for (std::size_t d = 0; d < x.size(); ++d) {
    EXPECT_GE(r.q[d], -127) << d;
    const double error = std::fabs(double(x[d]) - scale * r.q[d]);
    EXPECT_LE(error, scale * (0.5 + 1e-12)) << "d " << d << " x " << x[d] << " q " << int(r.q[d]);
  }
}

float amax_of(const std::vector<float>& x) {
  float m = 0.0f;
  for (float v : x) m = std::max(m, std::fabs(v));
  return m;
}

TEST(QuantizeInt8, RandomRowsWithinHalfAStepAndTheMaxAt127) {
  std::mt19937_64 rng(7);
  for (std::size_t n : {1u, 3u, 17u, 128u, 129u}) {
    for (double range : {1e-30, 1e-3, 1.0, 3.5, 1e4, 1e30}) {
      std::uniform_real_distribution<double> dist(-range, range);
      std::vector<float> x(n);
      for (float& v : x) v = float(dist(rng));
      const quantized_row r = quantize(x);
      SCOPED_TRACE(testing::Message() << "n " << n << " range " << range);
      expect_within_half_step(x, r);
      const float amax = amax_of(x);
      EXPECT_EQ(r.scale, int8_scale(amax));
      for (std::size_t d = 0; d < n; ++d)
        if (std::fabs(x[d]) == amax) {
          EXPECT_EQ(std::abs(int(r.q[d])), 127) << d;
        }
    }
  }
}

TEST(QuantizeInt8, ScaleIsAmaxOver127RoundedUp) {
  for (float amax : {1.0f, 127.0f, 0.1f, 3.0e38f, std::numeric_limits<float>::max(), 1e-40f,
                     std::numeric_limits<float>::denorm_min(), 1.17549435e-38f}) {
    const float s = int8_scale(amax);
    EXPECT_GT(s, 0.0f) << amax;
    EXPECT_GE(double(s) * 127.0, double(amax)) << amax;  // no value clips
    // and it is the smallest such float
    const float below = std::nextafter(s, 0.0f);
    EXPECT_LT(double(below) * 127.0, double(amax)) << amax;
  }
  EXPECT_EQ(int8_scale(0.0f), 0.0f);
  EXPECT_EQ(int8_scale(127.0f), 1.0f);
}

TEST(QuantizeInt8, ZeroRowsGetScaleZero) {
  const quantized_row r = quantize({0.0f, -0.0f, 0.0f});
  EXPECT_EQ(r.scale, 0.0f);
  for (std::int8_t q : r.q) EXPECT_EQ(q, 0);
}

TEST(QuantizeInt8, SubnormalRowsDoNotClip) {
  const float tiny = std::numeric_limits<float>::denorm_min();
  const std::vector<float> x = {tiny, -3 * tiny, 200 * tiny, -200 * tiny, 0.0f};
  const quantized_row r = quantize(x);
  EXPECT_EQ(r.scale, 2 * tiny);  // 200 / 127 ulps rounded up: the max lands at 100, not 127
  expect_within_half_step(x, r);
  EXPECT_EQ(r.q[2], 100);
  EXPECT_EQ(r.q[3], -100);
}

TEST(QuantizeInt8, ExactMultiplesAndTiesRoundAwayFromZero) {
  // amax 127: scale 1, integers are exact and halves round away from zero.
  const quantized_row r = quantize({127.0f, -5.0f, 2.5f, -2.5f, 0.5f, -126.5f});
  EXPECT_EQ(r.scale, 1.0f);
  EXPECT_EQ(r.q, (std::vector<std::int8_t>{127, -5, 3, -3, 1, -127}));
}

TEST(QuantizeInt8, Bf16SourcesGoThroughFloat) {
  const std::vector<bf16> x = {bf16(0.75f), bf16(-1.5f), bf16(0.0f)};
  std::vector<std::int8_t> q(3);
  const float scale = quantize_int8_row(
      3, [&](index_t d) { return x[std::size_t(d)]; }, q.data());
  EXPECT_EQ(scale, int8_scale(1.5f));
  EXPECT_EQ(q[1], -127);
  EXPECT_EQ(q[0], std::int8_t(std::round(0.75 / scale)));
  EXPECT_EQ(q[2], 0);
}

}  // namespace
}  // namespace attnkit::detail
