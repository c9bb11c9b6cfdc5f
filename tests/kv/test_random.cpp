// SPDX-License-Identifier: Apache-2.0
// Tests of kv::random: deterministic per seed, nested across budgets, uniform over seeds.
#include <attnkit/kv/random.hpp>

#include <set>
#include <vector>

#include <gtest/gtest.h>

#include <attnkit/kv/select.hpp>

#include "kv/eviction_support.hpp"

namespace attnkit {
namespace {

using V = std::vector<index_t>;

V run(std::uint64_t seed, index_t L, index_t budget) {
  const test::matrix keys(L, 1);
  return kv::select(kv::random{.seed = seed}, keys.view(), {}, budget);
}

TEST(Random, DeterministicPerSeedAndKeepsTheHighestDraws) {
  for (index_t L : {7, 13}) {
    std::vector<std::uint64_t> draws;
    for (index_t i = 0; i < L; ++i) draws.push_back(detail::splitmix64_at(42, std::uint64_t(i)));
    for (index_t budget : {index_t{1}, index_t{3}, L - 1}) {
      EXPECT_EQ(run(42, L, budget), run(42, L, budget));
      EXPECT_EQ(run(42, L, budget), test::top_by_sort(draws, test::iota_positions(0, L), budget));
    }
  }
}

TEST(Random, LargerBudgetsKeepSupersets) {
  for (std::uint64_t seed : {0u, 1u, 99u}) {
    V previous;
    for (index_t budget = 0; budget <= 13; ++budget) {
      const V kept = run(seed, 13, budget);
      EXPECT_TRUE(std::includes(kept.begin(), kept.end(), previous.begin(), previous.end()));
      previous = kept;
    }
  }
}

TEST(Random, SeedsGiveDifferentSubsetsEachPositionEquallyLikely) {
  const int seeds = 4000;
  std::vector<int> count(13, 0);
  std::set<V> distinct;
  for (int seed = 0; seed < seeds; ++seed) {
    const V kept = run(std::uint64_t(seed), 13, 4);
    distinct.insert(kept);
    for (index_t i : kept) ++count[std::size_t(i)];
  }
  for (std::size_t i = 0; i < count.size(); ++i)  // p = 4 / 13, standard error 0.0073
    EXPECT_NEAR(double(count[i]) / seeds, 4.0 / 13.0, 0.03) << i;
  EXPECT_GT(distinct.size(), 600u);  // of C(13, 4) = 715 subsets
}

}  // namespace
}  // namespace attnkit
