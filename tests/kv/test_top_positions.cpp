// SPDX-License-Identifier: Apache-2.0
// Tests of the shared ranking: rank_before's order (NaN last, ties to the later position),
// append_top against a full sort, recent_plus_top's two parts.
#include <attnkit/kv/top_positions.hpp>

#include <algorithm>
#include <cstdint>
#include <random>
#include <vector>

#include <gtest/gtest.h>

#include "kv/eviction_support.hpp"

namespace attnkit {
namespace {

using test::kInf;
using test::kNaN;

TEST(RankBefore, HigherFirstNanLastTiesToTheLaterPosition) {
  EXPECT_TRUE(detail::rank_before(2.0f, 0, 1.0f, 5));
  EXPECT_FALSE(detail::rank_before(1.0f, 5, 2.0f, 0));
  EXPECT_TRUE(detail::rank_before(1.0f, 5, 1.0f, 4));  // tie: later wins
  EXPECT_FALSE(detail::rank_before(1.0f, 4, 1.0f, 5));
  EXPECT_TRUE(detail::rank_before(-kInf, 0, kNaN, 9));  // any number before NaN
  EXPECT_FALSE(detail::rank_before(kNaN, 9, -kInf, 0));
  EXPECT_TRUE(detail::rank_before(kNaN, 9, kNaN, 3));  // two NaNs: later wins
  EXPECT_FALSE(detail::rank_before(kNaN, 3, kNaN, 9));
  EXPECT_TRUE(detail::rank_before(0.0f, 2, -0.0f, 1));  // +0 == -0: a tie
  EXPECT_FALSE(detail::rank_before(1.0f, 3, 1.0f, 3));  // irreflexive
  EXPECT_TRUE(detail::rank_before(std::uint64_t{7}, 0, std::uint64_t{6}, 1));
  EXPECT_TRUE(detail::rank_before(std::uint64_t{7}, 1, std::uint64_t{7}, 0));
}

TEST(AppendTop, MatchesAFullSortOnScoresFullOfTiesNansAndInfinities) {
  std::mt19937_64 rng(5);
  const std::vector<float> palette = {0.0f, 1.0f, 1.0f, 2.0f, -1.0f, kNaN, kInf, -kInf, 0.5f};
  for (int trial = 0; trial < 200; ++trial) {
    const index_t n = index_t(rng() % 20);
    std::vector<float> score;
    for (index_t i = 0; i < n; ++i) score.push_back(palette[rng() % palette.size()]);
    const index_t first = n == 0 ? 0 : index_t(rng() % std::uint64_t(n));
    const index_t count = index_t(rng() % 22);
    std::vector<index_t> kept;
    detail::append_top(kept, first, n, count, [&](index_t i) { return score[std::size_t(i)]; });
    std::sort(kept.begin(), kept.end());
    EXPECT_EQ(kept, test::top_by_sort(score, test::iota_positions(first, n), count))
        << "trial " << trial;
  }
}

TEST(RecentPlusTop, NewestThenTheBestOfTheRest) {
  const std::vector<float> score = {5, 0, 4, 0, 3, 9, 9};
  const auto s = [&](index_t i) { return score[std::size_t(i)]; };
  EXPECT_EQ(detail::recent_plus_top(7, 4, 2, s), (std::vector<index_t>{0, 2, 5, 6}));
  EXPECT_EQ(detail::recent_plus_top(7, 2, 5, s), (std::vector<index_t>{5, 6}));
  EXPECT_EQ(detail::recent_plus_top(7, 3, 0, s), (std::vector<index_t>{0, 5, 6}));
  EXPECT_EQ(detail::recent_plus_top(7, 5, 0, s), (std::vector<index_t>{0, 2, 4, 5, 6}));
}

}  // namespace
}  // namespace attnkit
