// SPDX-License-Identifier: Apache-2.0
// Tests of kv::streaming_llm: sinks then the newest, every budget edge, the field check.
#include <attnkit/kv/streaming_llm.hpp>

#include <vector>

#include <gtest/gtest.h>

#include <attnkit/kv/select.hpp>

#include "kv/eviction_support.hpp"

namespace attnkit {
namespace {

using test::iota_positions;
using test::merged;
using V = std::vector<index_t>;

/// streaming_llm over L positions given only through keys [L, 1].
V run(kv::streaming_llm policy, index_t L, index_t budget) {
  const test::matrix keys(L, 1);
  return kv::select(policy, keys.view(), {}, budget);
}

TEST(StreamingLlm, SinksThenTheNewest) {
  EXPECT_EQ(run({.sinks = 2}, 7, 1), V{0});
  EXPECT_EQ(run({.sinks = 2}, 7, 2), (V{0, 1}));
  EXPECT_EQ(run({.sinks = 2}, 7, 3), (V{0, 1, 6}));
  EXPECT_EQ(run({.sinks = 2}, 7, 6), (V{0, 1, 3, 4, 5, 6}));
  EXPECT_EQ(run({.sinks = 2}, 7, 7), iota_positions(0, 7));
  EXPECT_EQ(run({.sinks = 2}, 7, 14), iota_positions(0, 7));
  EXPECT_TRUE(run({.sinks = 2}, 7, 0).empty());
  for (index_t budget = 1; budget < 13; ++budget) {
    SCOPED_TRACE(budget);
    const index_t front = std::min<index_t>(4, budget);
    EXPECT_EQ(run({}, 13, budget),
              merged(iota_positions(0, front), iota_positions(13 - (budget - front), 13)));
  }
}

TEST(StreamingLlm, NoSinksIsASlidingWindowAndManySinksArePrefix) {
  EXPECT_EQ(run({.sinks = 0}, 13, 1), V{12});
  EXPECT_EQ(run({.sinks = 0}, 13, 12), iota_positions(1, 13));
  EXPECT_EQ(run({.sinks = 20}, 13, 12), iota_positions(0, 12));
  EXPECT_EQ(run({.sinks = 20}, 13, 1), V{0});
}

TEST(StreamingLlm, DefaultsToFourSinks) {
  EXPECT_EQ(kv::streaming_llm{}.sinks, 4);
  EXPECT_EQ(run({}, 13, 6), (V{0, 1, 2, 3, 11, 12}));
}

TEST(StreamingLlm, NegativeSinksAreRejected) {
  for (index_t sinks : {-1, -7})
    test::expect_rejected([&] { run({.sinks = sinks}, 7, 3); }, "kv::select", "policy.sinks");
  // Checked even when the budget keeps everything.
  test::expect_rejected([&] { run({.sinks = -1}, 7, 70); }, "kv::select", "policy.sinks");
}

}  // namespace
}  // namespace attnkit
