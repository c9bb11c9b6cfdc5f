// SPDX-License-Identifier: Apache-2.0
// Tests of kv::tova: the positions the latest query attends to most, ties and NaN.
#include <attnkit/kv/tova.hpp>

#include <vector>

#include <gtest/gtest.h>

#include <attnkit/kv/select.hpp>

#include "kv/eviction_support.hpp"

namespace attnkit {
namespace {

using test::kNaN;
using V = std::vector<index_t>;

V run(const std::vector<float>& last, index_t budget, const std::vector<float>& accumulated = {}) {
  return kv::select(kv::tova{}, {}, {.accumulated = accumulated, .last = last}, budget);
}

TEST(Tova, HighestAttentionOfTheLatestQuery) {
  const std::vector<float> last = {0.3f, 0.0f, 0.1f, 0.05f, 0.4f, 0.05f, 0.1f};
  EXPECT_EQ(run(last, 0), V{});
  EXPECT_EQ(run(last, 1), V{4});
  EXPECT_EQ(run(last, 2), (V{0, 4}));
  EXPECT_EQ(run(last, 3), (V{0, 4, 6}));  // 2 and 6 tie: the later wins
  EXPECT_EQ(run(last, 4), (V{0, 2, 4, 6}));
  EXPECT_EQ(run(last, 5), (V{0, 2, 4, 5, 6}));
  EXPECT_EQ(run(last, 6), (V{0, 2, 3, 4, 5, 6}));  // L - 1 drops the zero
  EXPECT_EQ(run(last, 7), test::iota_positions(0, 7));
  EXPECT_EQ(run(last, 14), test::iota_positions(0, 7));
}

TEST(Tova, ReadsLastNotAccumulated) {
  const std::vector<float> last = {1, 0, 0, 0, 0};
  const std::vector<float> accumulated = {0, 5, 5, 5, 5};
  EXPECT_EQ(run(last, 1, accumulated), V{0});
}

TEST(Tova, NanRanksLast) {
  const std::vector<float> last = {kNaN, 0.0f, kNaN, 0.2f, 0.1f, kNaN, 0.0f};
  EXPECT_EQ(run(last, 4), (V{1, 3, 4, 6}));
  EXPECT_EQ(run(last, 5), (V{1, 3, 4, 5, 6}));
}

}  // namespace
}  // namespace attnkit
