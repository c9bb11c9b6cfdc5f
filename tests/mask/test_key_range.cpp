// SPDX-License-Identifier: Apache-2.0
// Tests of mask::key_range against the visibility rule of DESIGN 1.3 checked pair by pair.
#include <attnkit/mask/key_range.hpp>

#include <limits>
#include <tuple>
#include <vector>

#include <gtest/gtest.h>

namespace attnkit::mask {
namespace {

// DESIGN 1.3 rule 1, written independently of key_range.
bool visible(const attention_options& opt, index_t Sq, index_t Sk, index_t i, index_t j) {
  const index_t o = opt.align == alignment::bottom_right ? Sk - Sq : 0;
  if (j < 0 || j >= Sk) return false;
  if (opt.causal && j > i + o) return false;
  if (opt.window_left >= 0 && i + o - j > opt.window_left) return false;
  if (opt.window_right >= 0 && j - (i + o) > opt.window_right) return false;
  return true;
}

// A valid window that overflowed i + o + window before key_range saturated it.
constexpr index_t kHuge = std::numeric_limits<index_t>::max();

std::vector<attention_options> option_sets() {
  std::vector<attention_options> sets;
  for (bool causal : {false, true})
    for (alignment align : {alignment::bottom_right, alignment::top_left})
      for (index_t left : {index_t{-1}, index_t{0}, index_t{3}, index_t{40}, kHuge})
        for (index_t right : {index_t{-1}, index_t{0}, index_t{2}, index_t{50}, kHuge}) {
          attention_options opt;
          opt.causal = causal;
          opt.align = align;
          opt.window_left = left;
          opt.window_right = right;
          sets.push_back(opt);
        }
  return sets;
}

const std::vector<std::pair<index_t, index_t>> kShapes = {{1, 1},  {1, 9},   {9, 1},  {7, 7},
                                                          {13, 5}, {5, 13},  {0, 4},  {4, 0},
                                                          {33, 70}, {70, 33}};

TEST(KeyRange, RowIntervalsAreExactlyTheVisibleKeys) {
  for (const auto& opt : option_sets())
    for (const auto& [Sq, Sk] : kShapes) {
      const key_range r(opt, Sq, Sk);
      for (index_t i = 0; i < Sq; ++i)
        for (index_t j = 0; j < Sk; ++j)
          ASSERT_EQ(r.begin(i) <= j && j < r.end(i), visible(opt, Sq, Sk, i, j))
              << "causal " << opt.causal << " left " << opt.window_left << " right "
              << opt.window_right << " Sq " << Sq << " Sk " << Sk << " i " << i << " j " << j;
    }
}

TEST(KeyRange, ColumnIntervalsAreExactlyTheQueriesThatSeeAKey) {
  for (const auto& opt : option_sets())
    for (const auto& [Sq, Sk] : kShapes) {
      const key_range r(opt, Sq, Sk);
      for (index_t j = 0; j < Sk; ++j)
        for (index_t i = 0; i < Sq; ++i)
          ASSERT_EQ(r.first_query(j) <= i && i < r.end_query(j), visible(opt, Sq, Sk, i, j))
              << "Sq " << Sq << " Sk " << Sk << " i " << i << " j " << j;
    }
}

TEST(KeyRange, ClassifyMatchesThePairs) {
  for (const auto& opt : option_sets()) {
    const index_t Sq = 70, Sk = 33;
    const key_range r(opt, Sq, Sk);
    for (index_t i0 = 0; i0 < Sq; i0 += 9)
      for (index_t j0 = 0; j0 < Sk; j0 += 5) {
        const index_t i1 = std::min(i0 + 9, Sq), j1 = std::min(j0 + 5, Sk);
        index_t seen = 0;
        for (index_t i = i0; i < i1; ++i)
          for (index_t j = j0; j < j1; ++j) seen += visible(opt, Sq, Sk, i, j);
        const block_kind want = seen == 0                        ? block_kind::empty
                                : seen == (i1 - i0) * (j1 - j0) ? block_kind::full
                                                                 : block_kind::partial;
        ASSERT_EQ(r.classify(i0, i1, j0, j1), want) << "rows " << i0 << " keys " << j0;
      }
  }
}

TEST(KeyRange, BlockRangeCoversEveryVisibleKeyOfTheBlock) {
  for (const auto& opt : option_sets()) {
    const index_t Sq = 50, Sk = 61;
    const key_range r(opt, Sq, Sk);
    for (index_t i0 = 0; i0 < Sq; i0 += 16) {
      const index_t i1 = std::min(i0 + 16, Sq);
      for (index_t i = i0; i < i1; ++i)
        for (index_t j = 0; j < Sk; ++j)
          if (visible(opt, Sq, Sk, i, j)) {
            ASSERT_GE(j, r.block_begin(i0));
            ASSERT_LT(j, r.block_end(i1));
          }
    }
  }
}

TEST(KeyRange, BoundedOnlyWithAMask) {
  EXPECT_FALSE(key_range({}, 5, 5).bounded());
  attention_options causal;
  causal.causal = true;
  EXPECT_TRUE(key_range(causal, 5, 5).bounded());
}

}  // namespace
}  // namespace attnkit::mask
