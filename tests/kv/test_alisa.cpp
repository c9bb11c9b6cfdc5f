// SPDX-License-Identifier: Apache-2.0
// Tests of kv::alisa: the local window plus the globally important of the window statistics.
#include <attnkit/kv/alisa.hpp>

#include <vector>

#include <gtest/gtest.h>

#include <attnkit/kv/select.hpp>

#include "kv/eviction_support.hpp"

namespace attnkit {
namespace {

using test::kNaN;
using V = std::vector<index_t>;

V run(kv::alisa policy, const std::vector<float>& window, index_t budget,
      const std::vector<float>& accumulated = {}) {
  return kv::select(policy, {}, {.accumulated = accumulated, .window = window}, budget);
}

// Globally important: 0 (sink-like, 2.0), 3 (1.5), 7 (1.0); the newest three are 10, 11, 12.
const std::vector<float> kThirteen = {2.0f, 0.1f, 0.2f, 1.5f, 0.1f, 0.0f, 0.3f,
                                      1.0f, 0.1f, 0.2f, 0.0f, 0.0f, 0.0f};

TEST(Alisa, LocalWindowPlusGloballyImportant) {
  EXPECT_EQ(run({.recent = 3}, kThirteen, 0), V{});
  EXPECT_EQ(run({.recent = 3}, kThirteen, 1), V{12});
  EXPECT_EQ(run({.recent = 3}, kThirteen, 3), (V{10, 11, 12}));
  EXPECT_EQ(run({.recent = 3}, kThirteen, 4), (V{0, 10, 11, 12}));
  EXPECT_EQ(run({.recent = 3}, kThirteen, 6), (V{0, 3, 7, 10, 11, 12}));
  EXPECT_EQ(run({.recent = 3}, kThirteen, 12),
            (V{0, 1, 2, 3, 4, 6, 7, 8, 9, 10, 11, 12}));  // drops 5, the older zero
  EXPECT_EQ(run({.recent = 3}, kThirteen, 13), test::iota_positions(0, 13));
  EXPECT_EQ(run({.recent = 3}, kThirteen, 26), test::iota_positions(0, 13));
}

TEST(Alisa, ReadsWindowNotAccumulated) {
  const std::vector<float> accumulated = {0, 9, 9, 9, 0};
  const std::vector<float> window = {5, 0, 0, 0, 0};
  EXPECT_EQ(run({.recent = 1}, window, 2, accumulated), (V{0, 4}));
}

TEST(Alisa, TiesToTheLaterAndNanLast) {
  const std::vector<float> window = {kNaN, 1.0f, 1.0f, kNaN, 0.0f, 0.0f, 0.0f};
  EXPECT_EQ(run({.recent = 1}, window, 3), (V{1, 2, 6}));
  EXPECT_EQ(run({.recent = 1}, window, 4), (V{1, 2, 5, 6}));
  EXPECT_EQ(run({.recent = 1}, window, 6), (V{1, 2, 3, 4, 5, 6}));
}

TEST(Alisa, NegativeRecentIsRejected) {
  test::expect_rejected([&] { run({.recent = -2}, kThirteen, 3); }, "kv::select", "policy.recent");
}

}  // namespace
}  // namespace attnkit
