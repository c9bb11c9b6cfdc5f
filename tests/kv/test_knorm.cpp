// SPDX-License-Identifier: Apache-2.0
// Tests of kv::knorm: the lowest key norms kept, strided keys, ties, NaN and infinite keys.
#include <attnkit/kv/knorm.hpp>

#include <vector>

#include <gtest/gtest.h>

#include <attnkit/kv/select.hpp>

#include "kv/eviction_support.hpp"

namespace attnkit {
namespace {

using test::kInf;
using test::kNaN;
using V = std::vector<index_t>;

/// Keys [L, 2] whose rows are (x, y).
test::matrix rows(const std::vector<std::pair<float, float>>& xy) {
  test::matrix m(index_t(xy.size()), 2);
  for (index_t i = 0; i < m.rows; ++i) {
    m(i, 0) = xy[std::size_t(i)].first;
    m(i, 1) = xy[std::size_t(i)].second;
  }
  return m;
}

// Norms: 5, 1, 13, 2, 0, 10, 3.
const test::matrix kSeven = rows({{3, 4}, {0, 1}, {5, 12}, {0, -2}, {0, 0}, {6, 8}, {3, 0}});

TEST(Knorm, LowestKeyNormsAreKept) {
  const auto run = [](index_t budget) {
    return kv::select(kv::knorm{}, kSeven.view(), {}, budget);
  };
  EXPECT_EQ(run(0), V{});
  EXPECT_EQ(run(1), V{4});
  EXPECT_EQ(run(2), (V{1, 4}));
  EXPECT_EQ(run(4), (V{1, 3, 4, 6}));
  EXPECT_EQ(run(6), (V{0, 1, 3, 4, 5, 6}));  // L - 1 drops the norm 13
  EXPECT_EQ(run(7), test::iota_positions(0, 7));
  EXPECT_EQ(run(14), test::iota_positions(0, 7));
}

TEST(Knorm, ReadsStridedKeys) {
  // The same keys stored transposed, [2, 7], seen as [7, 2] with strides (1, 7).
  std::vector<float> transposed(14);
  for (index_t i = 0; i < 7; ++i)
    for (index_t d = 0; d < 2; ++d)
      transposed[std::size_t(d * 7 + i)] = kSeven.data[std::size_t(i * 2 + d)];
  const tensor_view<const float, 2> keys(transposed.data(), {7, 2}, {1, 7});
  EXPECT_EQ(kv::select(kv::knorm{}, keys, {}, 4), (V{1, 3, 4, 6}));
}

TEST(Knorm, TiesToTheLaterNanLastInfinityJustBefore) {
  const test::matrix keys =
      rows({{1, 0}, {kNaN, 0}, {0, 1}, {kInf, 0}, {-1, 0}, {0, 0.5f}, {2, 0}});
  const auto run = [&](index_t budget) { return kv::select(kv::knorm{}, keys.view(), {}, budget); };
  EXPECT_EQ(run(1), V{5});
  EXPECT_EQ(run(3), (V{2, 4, 5}));  // norms 1 at 0, 2, 4: the later two
  EXPECT_EQ(run(5), (V{0, 2, 4, 5, 6}));
  EXPECT_EQ(run(6), (V{0, 2, 3, 4, 5, 6}));  // infinity before NaN
}

TEST(Knorm, IgnoresStatistics) {
  const std::vector<float> acc = {9, 9, 9, 9, 9, 9, 0};
  EXPECT_EQ(kv::select(kv::knorm{}, kSeven.view(), {.accumulated = acc, .last = acc}, 1), V{4});
}

}  // namespace
}  // namespace attnkit
