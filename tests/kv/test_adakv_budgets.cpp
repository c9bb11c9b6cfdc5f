// SPDX-License-Identifier: Apache-2.0
// Tests of kv::adakv_budgets: the global top-k over heads with a floor per head, against a
// brute force; consistency with per-head selection; the argument checks.
#include <attnkit/kv/adakv_budgets.hpp>

#include <algorithm>
#include <numeric>
#include <random>
#include <span>
#include <vector>

#include <gtest/gtest.h>

#include <attnkit/kv/h2o.hpp>
#include <attnkit/kv/select.hpp>

#include "kv/eviction_support.hpp"

namespace attnkit {
namespace {

using V = std::vector<index_t>;

V budgets(const std::vector<std::vector<float>>& scores, index_t total, float alpha = 0.2f) {
  std::vector<std::span<const float>> spans(scores.begin(), scores.end());
  return kv::adakv_budgets(spans, total, alpha);
}

TEST(AdakvBudgets, HandComputedSplit) {
  // Head 0 is concentrated, head 1 flat.
  const std::vector<std::vector<float>> scores = {{0.9f, 0.05f, 0.03f, 0.02f},
                                                  {0.25f, 0.25f, 0.25f, 0.25f}};
  // No floor: the four best overall are 0.9 and the three latest 0.25.
  EXPECT_EQ(budgets(scores, 4, 0.0f), (V{1, 3}));
  // alpha 1: each head is guaranteed total / H = 2.
  EXPECT_EQ(budgets(scores, 4, 1.0f), (V{2, 2}));
  // alpha 0.5: floor 1 each, then 0.25, 0.25 of head 1.
  EXPECT_EQ(budgets(scores, 4, 0.5f), (V{1, 3}));
  EXPECT_EQ(budgets(scores, 0), (V{0, 0}));
  EXPECT_EQ(budgets(scores, 8), (V{4, 4}));
  EXPECT_EQ(budgets(scores, 100), (V{4, 4}));
}

TEST(AdakvBudgets, FloorsHoldForALowScoringHead) {
  const std::vector<std::vector<float>> scores = {
      std::vector<float>(10, 0.0f), std::vector<float>(10, 1.0f), std::vector<float>(10, 2.0f)};
  // total 15, alpha 0.2: floor(0.2 * 15 / 3) = 1 for the zero head; the rest to head 2 then 1.
  EXPECT_EQ(budgets(scores, 15), (V{1, 4, 10}));
  EXPECT_EQ(budgets(scores, 15, 0.6f), (V{3, 3, 9}));
  EXPECT_EQ(budgets(scores, 15, 1.0f), (V{5, 5, 5}));
}

TEST(AdakvBudgets, ShortHeadsAndFloorsAboveTheirLength) {
  const std::vector<std::vector<float>> scores = {{0.0f}, {}, {1, 1, 1, 1, 1, 1, 1}};
  // floor(1.0 * 6 / 3) = 2, but head 0 holds 1 and head 1 none.
  EXPECT_EQ(budgets(scores, 6, 1.0f), (V{1, 0, 5}));
  EXPECT_EQ(budgets(scores, 8, 0.0f), (V{1, 0, 7}));
}

/// The brute force of the documented rule, and consistency with h2o on each head.
TEST(AdakvBudgets, MatchesBruteForceAndPerHeadSelection) {
  std::mt19937_64 rng(4);
  const std::vector<float> palette = {0.0f, 0.1f, 0.1f, 0.5f, 1.0f, test::kNaN, 2.0f};
  for (int trial = 0; trial < 100; ++trial) {
    const index_t H = 1 + index_t(rng() % 4);
    std::vector<std::vector<float>> scores{std::size_t(H)};
    index_t positions = 0;
    for (auto& s : scores) {
      s.resize(rng() % 14);
      for (float& x : s) x = palette[rng() % palette.size()];
      positions += index_t(s.size());
    }
    const index_t total = index_t(rng() % std::uint64_t(positions + 3));
    const float alpha = float(rng() % 5) / 4.0f;
    SCOPED_TRACE(testing::Message() << "trial " << trial);
    const V b = budgets(scores, total, alpha);
    // Brute force: (score, position, head) sorted; each head's floor first.
    struct item {
      float s;
      index_t i, h;
    };
    std::vector<item> all;
    const index_t floor = index_t(std::floor(double(alpha) * double(total) / double(H)));
    V expected(std::size_t(H), 0);
    for (index_t h = 0; h < H; ++h) {
      const auto& s = scores[std::size_t(h)];
      const V top = test::top_by_sort(s, test::iota_positions(0, index_t(s.size())),
                                      std::min(floor, index_t(s.size())));
      expected[std::size_t(h)] = index_t(top.size());
      for (index_t i = 0; i < index_t(s.size()); ++i)
        if (!std::binary_search(top.begin(), top.end(), i))
          all.push_back({s[std::size_t(i)], i, h});
    }
    std::stable_sort(all.begin(), all.end(), [](const item& x, const item& y) {
      if (std::isnan(x.s) != std::isnan(y.s)) return std::isnan(y.s);
      if (!std::isnan(x.s) && x.s != y.s) return x.s > y.s;
      return x.i != y.i ? x.i > y.i : x.h > y.h;
    });
    index_t left =
        std::min(total, positions) - std::accumulate(expected.begin(), expected.end(), index_t{0});
    for (index_t k = 0; k < left; ++k) ++expected[std::size_t(all[std::size_t(k)].h)];
    EXPECT_EQ(b, expected);
    EXPECT_EQ(std::accumulate(b.begin(), b.end(), index_t{0}), std::min(total, positions));
    // Each head's selection with its budget is its top budget_h: the global choice.
    for (index_t h = 0; h < H; ++h) {
      const auto& s = scores[std::size_t(h)];
      EXPECT_EQ(
          kv::select(kv::h2o{}, {}, {.accumulated = s}, b[std::size_t(h)]),
          test::top_by_sort(s, test::iota_positions(0, index_t(s.size())), b[std::size_t(h)]));
    }
  }
}

TEST(AdakvBudgets, BadArgumentsAreRejected) {
  const std::string where = "kv::adakv_budgets";
  const std::vector<std::vector<float>> scores = {{1, 2}, {3}};
  test::expect_rejected([] { kv::adakv_budgets({}, 3); }, where, "head_scores");
  test::expect_rejected([&] { budgets(scores, -1); }, where, "total_budget");
  for (float alpha : {-0.1f, 1.5f, test::kNaN})
    test::expect_rejected([&] { budgets(scores, 2, alpha); }, where, "alpha_safeguard");
}

}  // namespace
}  // namespace attnkit
