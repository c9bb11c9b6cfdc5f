// SPDX-License-Identifier: Apache-2.0
// Tests of detail::block_allocator: hand-out order, reuse, counts, rejected releases.
#include <attnkit/kv/block_allocator.hpp>

#include <cstdint>
#include <set>
#include <vector>

#include <gtest/gtest.h>

#include "exact/argument_cases.hpp"

namespace attnkit::detail {
namespace {

using test::argument_cases::expect_rejected;

TEST(BlockAllocator, FreshPoolHandsOutAscendingIds) {
  block_allocator pool(5);
  EXPECT_EQ(pool.num_blocks(), 5);
  EXPECT_EQ(pool.num_free(), 5);
  for (std::int32_t expected = 0; expected < 5; ++expected) {
    EXPECT_FALSE(pool.is_allocated(expected));
    EXPECT_EQ(pool.allocate(), expected);
    EXPECT_TRUE(pool.is_allocated(expected));
    EXPECT_EQ(pool.num_free(), 4 - expected);
    EXPECT_EQ(pool.num_used(), expected + 1);
  }
}

TEST(BlockAllocator, ReleasedBlocksAreReusedMostRecentFirst) {
  block_allocator pool(4);
  for (int i = 0; i < 4; ++i) pool.allocate();
  pool.release(2);
  pool.release(0);
  EXPECT_EQ(pool.num_free(), 2);
  EXPECT_FALSE(pool.is_allocated(2));
  EXPECT_EQ(pool.allocate(), 0);
  EXPECT_EQ(pool.allocate(), 2);
  EXPECT_EQ(pool.num_free(), 0);
}

TEST(BlockAllocator, EveryIdOnceUnderChurn) {
  block_allocator pool(7);
  std::vector<std::int32_t> held;
  for (int round = 0; round < 50; ++round) {
    while (pool.num_free() > 0) held.push_back(pool.allocate());
    EXPECT_EQ(std::set<std::int32_t>(held.begin(), held.end()).size(), 7u);
    for (std::size_t i = round % 3; i < held.size(); i += 2) pool.release(held[i]);
    std::vector<std::int32_t> kept;
    for (std::int32_t block : held)
      if (pool.is_allocated(block)) kept.push_back(block);
    held = kept;
    EXPECT_EQ(pool.num_used(), static_cast<index_t>(held.size()));
  }
}

TEST(BlockAllocator, EmptyPool) {
  block_allocator none;
  EXPECT_EQ(none.num_blocks(), 0);
  block_allocator zero(0);
  EXPECT_EQ(zero.num_free(), 0);
  expect_rejected([&] { zero.allocate(); }, "block_allocator::allocate", "num_free()");
}

TEST(BlockAllocator, RejectsBadSizesAndReleasesWithoutChange) {
  expect_rejected([] { block_allocator pool(-1); }, "block_allocator", "num_blocks");
  expect_rejected([] { block_allocator pool(index_t{1} << 31); }, "block_allocator", "num_blocks");
  block_allocator pool(3);
  const std::int32_t a = pool.allocate();
  expect_rejected([&] { pool.release(3); }, "block_allocator::release", "block");
  expect_rejected([&] { pool.release(-1); }, "block_allocator::release", "block");
  expect_rejected([&] { pool.release(1); }, "block_allocator::release", "block");  // never taken
  pool.release(a);
  expect_rejected([&] { pool.release(a); }, "block_allocator::release", "block");  // double
  EXPECT_EQ(pool.num_free(), 3);
  pool.allocate();
  pool.allocate();
  pool.allocate();
  expect_rejected([&] { pool.allocate(); }, "block_allocator::allocate", "num_free()");
  EXPECT_EQ(pool.num_free(), 0);
}

}  // namespace
}  // namespace attnkit::detail
