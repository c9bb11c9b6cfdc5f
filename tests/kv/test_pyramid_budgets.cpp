// SPDX-License-Identifier: Apache-2.0
// Tests of kv::pyramid_budgets: the linear pyramid, exact sums, rounding within one token,
// PyramidKV's clamp, the argument checks.
#include <attnkit/kv/pyramid_budgets.hpp>

#include <numeric>
#include <vector>

#include <gtest/gtest.h>

#include "kv/eviction_support.hpp"

namespace attnkit {
namespace {

using V = std::vector<index_t>;

index_t sum(const V& v) { return std::accumulate(v.begin(), v.end(), index_t{0}); }

TEST(PyramidBudgets, HandComputedPyramid) {
  // a 100, beta 20: top 195, bottom 5, step 190 / 3: t = 195, 131.67, 68.33, 5;
  // cumulative 0, 195, 326.67, 395, 400 rounds to 0, 195, 327, 395, 400.
  EXPECT_EQ(kv::pyramid_budgets(4, 100), (V{195, 132, 68, 5}));
  // beta 1: uniform.
  EXPECT_EQ(kv::pyramid_budgets(5, 37, 1.0f), (V{37, 37, 37, 37, 37}));
  // One layer: the average.
  EXPECT_EQ(kv::pyramid_budgets(1, 64), V{64});
  EXPECT_EQ(kv::pyramid_budgets(3, 0), (V{0, 0, 0}));
}

TEST(PyramidBudgets, SumsExactlyDecreasesAndStaysWithinOneOfTheLine) {
  for (index_t layers : {1, 2, 7, 32, 80})
    for (index_t a : {0, 1, 3, 64, 127, 2048})
      for (float beta : {1.0f, 2.0f, 7.5f, 20.0f, 1000.0f}) {
        SCOPED_TRACE(testing::Message() << layers << " " << a << " " << beta);
        const V b = kv::pyramid_budgets(layers, a, beta);
        ASSERT_EQ(index_t(b.size()), layers);
        EXPECT_EQ(sum(b), layers * a);
        const double top = 2.0 * a - a / double(beta), bottom = a / double(beta);
        for (index_t l = 0; l < layers; ++l) {
          const double t = layers == 1 ? a : top - l * (top - bottom) / double(layers - 1);
          EXPECT_LT(std::abs(double(b[std::size_t(l)]) - t), 1.0) << l;
          EXPECT_GE(b[std::size_t(l)], 0);
        }
        EXPECT_GE(b.front(), b.back());
      }
}

TEST(PyramidBudgets, ClampedToTheLength) {
  // a 100, beta 20, length 150: top 195 > 150, so top 150 and bottom 50: 150, 116.67, 83.33, 50.
  EXPECT_EQ(kv::pyramid_budgets(4, 100, 20.0f, 150), (V{150, 117, 83, 50}));
  // No clamp needed: as unclamped.
  EXPECT_EQ(kv::pyramid_budgets(4, 100, 20.0f, 195), kv::pyramid_budgets(4, 100));
  // An average at or above the length keeps everything everywhere.
  EXPECT_EQ(kv::pyramid_budgets(3, 100, 20.0f, 100), (V{100, 100, 100}));
  EXPECT_EQ(kv::pyramid_budgets(3, 100, 20.0f, 40), (V{40, 40, 40}));
  EXPECT_EQ(kv::pyramid_budgets(3, 5, 20.0f, 0), (V{0, 0, 0}));
  for (index_t length : {101, 120, 180, 400}) {
    const V b = kv::pyramid_budgets(9, 100, 20.0f, length);
    EXPECT_EQ(sum(b), 900);
    for (index_t x : b) EXPECT_LE(x, length);
  }
}

TEST(PyramidBudgets, BadArgumentsAreRejected) {
  const std::string where = "kv::pyramid_budgets";
  test::expect_rejected([] { kv::pyramid_budgets(0, 10); }, where, "layers");
  test::expect_rejected([] { kv::pyramid_budgets(4, -1); }, where, "average_budget");
  for (float beta : {0.5f, 0.0f, -2.0f, test::kNaN, test::kInf})
    test::expect_rejected([&] { kv::pyramid_budgets(4, 10, beta); }, where, "beta");
  test::expect_rejected([] { kv::pyramid_budgets(4, 10, 20.0f, -2); }, where, "length");
}

}  // namespace
}  // namespace attnkit
