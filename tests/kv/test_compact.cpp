// SPDX-License-Identifier: Apache-2.0
// Tests of kv::compact: a per-position array compacted as kv_cache::keep compacts a head.
#include <attnkit/kv/compact.hpp>

#include <span>
#include <vector>

#include <gtest/gtest.h>

#include "kv/eviction_support.hpp"

namespace attnkit {
namespace {

TEST(Compact, MovesKeptEntriesToTheFrontInOrder) {
  std::vector<float> stats = {10, 11, 12, 13, 14, 15, 16};
  const std::vector<index_t> kept = {1, 2, 5, 6};
  const std::span<float> front = kv::compact(std::span<float>(stats), kept);
  EXPECT_EQ(front.data(), stats.data());
  EXPECT_EQ(std::vector<float>(front.begin(), front.end()), (std::vector<float>{11, 12, 15, 16}));
  // Past the kept ones: reset to 0, so a statistic the decode kernel adds to starts fresh.
  EXPECT_EQ(std::vector<float>(stats.begin() + 4, stats.end()), (std::vector<float>{0, 0, 0}));
  std::vector<float> all = {1, 2, 3};
  kv::compact(all, std::vector<index_t>{0, 1, 2});
  EXPECT_EQ(all, (std::vector<float>{1, 2, 3}));
  kv::compact(all, std::vector<index_t>{});
  EXPECT_TRUE(all.empty());
  std::vector<double> doubles = {0.5, 1.5, 2.5};
  kv::compact(doubles, std::vector<index_t>{2});
  EXPECT_EQ(doubles, std::vector<double>{2.5});
}

TEST(Compact, BadPositionsAreRejectedBeforeAnythingMoves) {
  const std::vector<float> before = {1, 2, 3, 4, 5};
  for (const std::vector<index_t>& kept :
       std::vector<std::vector<index_t>>{{1, 5}, {-1, 2}, {2, 2}, {3, 1}, {0, 1, 2, 3, 4, 5}}) {
    std::vector<float> stats = before;
    test::expect_rejected([&] { kv::compact(std::span<float>(stats), kept); }, "kv::compact", "kept");
    EXPECT_EQ(stats, before);
    test::expect_rejected([&] { kv::compact(stats, kept); }, "kv::compact", "kept");
    EXPECT_EQ(stats, before);
  }
}

}  // namespace
}  // namespace attnkit
