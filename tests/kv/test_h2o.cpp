// SPDX-License-Identifier: Apache-2.0
// Tests of kv::h2o: the newest plus the heavy hitters of accumulated attention, ties, NaN, the
// field check.
#include <attnkit/kv/h2o.hpp>

#include <random>
#include <vector>

#include <gtest/gtest.h>

#include <attnkit/kv/select.hpp>

#include "kv/eviction_support.hpp"

namespace attnkit {
namespace {

using test::iota_positions;
using test::kInf;
using test::kNaN;
using V = std::vector<index_t>;

V run(kv::h2o policy, const std::vector<float>& accumulated, index_t budget) {
  return kv::select(policy, {}, {.accumulated = accumulated}, budget);
}

// Heavy hitters at 1 (0.9), 4 (0.8) and 2 (0.5); the newest two are 5 and 6.
const std::vector<float> kSeven = {0.1f, 0.9f, 0.5f, 0.05f, 0.8f, 0.2f, 0.0f};

TEST(H2o, NewestPlusHeavyHitters) {
  EXPECT_EQ(run({.recent = 2}, kSeven, 0), V{});
  EXPECT_EQ(run({.recent = 2}, kSeven, 1), V{6});  // budget < recent: the newest
  EXPECT_EQ(run({.recent = 2}, kSeven, 2), (V{5, 6}));
  EXPECT_EQ(run({.recent = 2}, kSeven, 3), (V{1, 5, 6}));
  EXPECT_EQ(run({.recent = 2}, kSeven, 4), (V{1, 4, 5, 6}));
  EXPECT_EQ(run({.recent = 2}, kSeven, 6), (V{0, 1, 2, 4, 5, 6}));  // L - 1 drops 3
  EXPECT_EQ(run({.recent = 2}, kSeven, 7), iota_positions(0, 7));
  EXPECT_EQ(run({.recent = 2}, kSeven, 14), iota_positions(0, 7));
}

TEST(H2o, RecentZeroIsPureHeavyHittersAndTheNewestCompetes) {
  EXPECT_EQ(run({}, kSeven, 1), V{1});
  EXPECT_EQ(run({}, kSeven, 3), (V{1, 2, 4}));
  EXPECT_EQ(run({}, kSeven, 6), (V{0, 1, 2, 3, 4, 5}));  // 6 holds the least attention
  EXPECT_EQ(run({.recent = 100}, kSeven, 6), iota_positions(1, 7));
}

TEST(H2o, MatchesASortOnRandomStatisticsOfOddLength) {
  std::mt19937_64 rng(3);
  std::uniform_real_distribution<float> dist(0.0f, 4.0f);
  std::vector<float> acc(13);
  for (float& x : acc) x = dist(rng);
  for (index_t recent : {0, 1, 3, 12, 13}) {
    for (index_t budget : {1, 5, 12}) {
      const index_t r = std::min(recent, budget);
      EXPECT_EQ(run({.recent = recent}, acc, budget),
                test::merged(test::top_by_sort(acc, iota_positions(0, 13 - r), budget - r),
                             iota_positions(13 - r, 13)))
          << recent << " " << budget;
    }
  }
}

TEST(H2o, TiesGoToTheLaterPosition) {
  const std::vector<float> flat(7, 0.25f);
  EXPECT_EQ(run({}, flat, 3), (V{4, 5, 6}));
  const std::vector<float> pairs = {1, 3, 3, 2, 1, 2, 0};
  EXPECT_EQ(run({}, pairs, 1), V{2});
  EXPECT_EQ(run({}, pairs, 3), (V{1, 2, 5}));
  EXPECT_EQ(run({.recent = 1}, pairs, 4), (V{1, 2, 5, 6}));
}

TEST(H2o, NanRanksLastInfinityFirst) {
  const std::vector<float> acc = {kNaN, 0.5f, kInf, -kInf, kNaN, 0.1f, kNaN};
  EXPECT_EQ(run({}, acc, 1), V{2});
  EXPECT_EQ(run({}, acc, 3), (V{1, 2, 5}));
  EXPECT_EQ(run({}, acc, 4), (V{1, 2, 3, 5}));       // -inf before any NaN
  EXPECT_EQ(run({}, acc, 5), (V{1, 2, 3, 5, 6}));    // then the latest NaN
  EXPECT_EQ(run({.recent = 1}, acc, 2), (V{2, 6}));  // a NaN among the newest is still kept
}

TEST(H2o, NegativeRecentIsRejected) {
  test::expect_rejected([&] { run({.recent = -1}, kSeven, 3); }, "kv::select", "policy.recent");
}

}  // namespace
}  // namespace attnkit
