// SPDX-License-Identifier: Apache-2.0
// Tests of simd::reduce_sum and simd::reduce_max on every compiled arch.
#include <attnkit/simd/reduce.hpp>

#include <cmath>
#include <limits>
#include <random>
#include <vector>

#include <gtest/gtest.h>

#include "support/archs.hpp"

namespace attnkit {
namespace {

template <class Arch>
class SimdReduce : public ::testing::Test {
 protected:
  using batch = xsimd::batch<float, Arch>;
  static constexpr std::size_t kWidth = batch::size;
  void SetUp() override { ATTNKIT_SKIP_UNLESS_CPU_SUPPORTS(Arch); }
};
TYPED_TEST_SUITE(SimdReduce, test::compiled_archs, test::arch_name);

TYPED_TEST(SimdReduce, MaxFindsTheLargestLaneWherever) {
  using batch = typename TestFixture::batch;
  constexpr std::size_t w = TestFixture::kWidth;
  for (std::size_t winner = 0; winner < w; ++winner) {
    std::vector<float> lanes(w);
    for (std::size_t l = 0; l < w; ++l) lanes[l] = -100.0f - float(l);
    lanes[winner] = -3.5f;
    EXPECT_EQ(simd::reduce_max(batch::load_unaligned(lanes.data())), -3.5f) << "lane " << winner;
  }
}

TYPED_TEST(SimdReduce, MaxOfMinusInfinityLanes) {
  using batch = typename TestFixture::batch;
  const float inf = std::numeric_limits<float>::infinity();
  EXPECT_EQ(simd::reduce_max(batch(-inf)), -inf);
  std::vector<float> lanes(TestFixture::kWidth, -inf);
  lanes.back() = 7.0f;
  EXPECT_EQ(simd::reduce_max(batch::load_unaligned(lanes.data())), 7.0f);
}

TYPED_TEST(SimdReduce, SumMatchesDoubleSum) {
  using batch = typename TestFixture::batch;
  constexpr std::size_t w = TestFixture::kWidth;
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> dist(-10.0f, 10.0f);
  for (int trial = 0; trial < 100; ++trial) {
    std::vector<float> lanes(w);
    double exact = 0.0, magnitude = 0.0;
    for (auto& x : lanes) {
      x = dist(rng);
      exact += x;
      magnitude += std::fabs(x);
    }
    const float got = simd::reduce_sum(batch::load_unaligned(lanes.data()));
    // A float sum of w terms errs by at most (w - 1) u sum |x| (u = 2^-24).
    EXPECT_LE(std::fabs(double(got) - exact), double(w) * 0x1p-24 * magnitude);
  }
}

TYPED_TEST(SimdReduce, SumOfIntegersIsExact) {
  using batch = typename TestFixture::batch;
  std::vector<float> lanes(TestFixture::kWidth);
  float exact = 0.0f;
  for (std::size_t l = 0; l < lanes.size(); ++l) exact += lanes[l] = float(3 * l + 1);
  EXPECT_EQ(simd::reduce_sum(batch::load_unaligned(lanes.data())), exact);
}

}  // namespace
}  // namespace attnkit
