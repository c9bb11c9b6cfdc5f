// SPDX-License-Identifier: Apache-2.0
// Tests of the layout builders (local band, strided, Longformer, BigBird): their cells on small
// grids against patterns worked out by hand from the definitions, against the definitions as
// predicates on larger grids, BigBird's seeded draws, the storage's view, and bad arguments.
#include <attnkit/sparse/bigbird_layout.hpp>
#include <attnkit/sparse/block_grid.hpp>
#include <attnkit/sparse/block_layout.hpp>
#include <attnkit/sparse/block_layout_storage.hpp>
#include <attnkit/sparse/local_band_layout.hpp>
#include <attnkit/sparse/longformer_layout.hpp>
#include <attnkit/sparse/strided_layout.hpp>

#include <algorithm>
#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace attnkit::test {
namespace {

/// Head h of a layout as one string per row block: '1' visible, '.' hidden.
std::vector<std::string> cells(const block_layout_storage& s, index_t h = 0) {
  std::vector<std::string> rows;
  for (index_t r = 0; r < s.rows; ++r) {
    std::string line;
    for (index_t c = 0; c < s.cols; ++c) line += s(h, r, c) ? '1' : '.';
    rows.push_back(line);
  }
  return rows;
}

using pattern = std::vector<std::string>;

TEST(BlockGrid, CountsAndDiagonal) {
  const block_grid g{.Sq = 12, .Sk = 20, .block_q = 4, .block_k = 4};
  EXPECT_EQ(g.rows(), 3);
  EXPECT_EQ(g.cols(), 5);
  EXPECT_EQ(g.diagonal_first(0), 2);  // bottom-right: query 0's diagonal key is 8
  EXPECT_EQ(g.diagonal_last(2), 4);
  const block_grid odd{.Sq = 10, .Sk = 3, .block_q = 3, .block_k = 2};
  EXPECT_EQ(odd.rows(), 4);
  EXPECT_EQ(odd.cols(), 2);
  EXPECT_EQ(odd.diagonal_first(0), -4);  // key -7 lies in block floor(-7 / 2) = -4
  EXPECT_EQ(odd.diagonal_last(3), 1);    // the short last row block ends at query 9, key 2
}

TEST(LocalBandLayout, SquareGridCellByCell) {
  const block_grid g{.Sq = 48, .Sk = 48, .block_q = 8, .block_k = 8};
  EXPECT_EQ(cells(local_band_layout(g, 1)),
            (pattern{"11....", "111...", ".111..", "..111.", "...111", "....11"}));
  EXPECT_EQ(cells(local_band_layout(g, 1, true)),
            (pattern{"1.....", "11....", ".11...", "..11..", "...11.", "....11"}));
  EXPECT_EQ(cells(local_band_layout(g, 0)),
            (pattern{"1.....", ".1....", "..1...", "...1..", "....1.", ".....1"}));
  EXPECT_EQ(cells(local_band_layout(g, 100)), pattern(6, "111111"));
}

TEST(LocalBandLayout, RectangularGridsFollowTheAlignment) {
  const block_grid br{.Sq = 12, .Sk = 20, .block_q = 4, .block_k = 4};
  EXPECT_EQ(cells(local_band_layout(br, 1)), (pattern{".111.", "..111", "...11"}));
  block_grid tl = br;
  tl.align = alignment::top_left;
  EXPECT_EQ(cells(local_band_layout(tl, 1)), (pattern{"11...", "111..", ".111."}));
  // Query blocks twice the key blocks: each row holds two diagonal key blocks.
  const block_grid wide{.Sq = 16, .Sk = 16, .block_q = 8, .block_k = 4};
  EXPECT_EQ(cells(local_band_layout(wide, 0)), (pattern{"11..", "..11"}));
  EXPECT_EQ(cells(local_band_layout(wide, 1, true)), (pattern{"11..", ".111"}));
}

TEST(LocalBandLayout, MatchesItsDefinitionOnLargerGrids) {
  for (index_t width : {0, 1, 3})
    for (bool causal : {false, true}) {
      const block_grid g{.Sq = 1000, .Sk = 1000, .block_q = 32, .block_k = 32};
      const auto s = local_band_layout(g, width, causal);
      ASSERT_EQ(s.rows, 32);
      for (index_t r = 0; r < s.rows; ++r)
        for (index_t c = 0; c < s.cols; ++c)
          ASSERT_EQ(s(0, r, c) != 0, c >= r - width && c <= (causal ? r : r + width))
              << r << ", " << c;
    }
}

TEST(StridedLayout, CellByCell) {
  const block_grid g{.Sq = 8, .Sk = 8, .block_q = 1, .block_k = 1};
  EXPECT_EQ(cells(strided_layout(g, 0, 3, true)),
            (pattern{"1.......", ".1......", "..1.....", "1..1....", ".1..1...", "..1..1..",
                     "1..1..1.", ".1..1..1"}));
  // Both sides without causal: band of 1 plus the columns c = r (mod 4).
  EXPECT_EQ(cells(strided_layout(g, 1, 4)),
            (pattern{"11..1...", "111..1..", ".111..1.", "..111..1", "1..111..", ".1..111.",
                     "..1..111", "...1..11"}));
  const auto every = strided_layout(g, 0, 1);
  EXPECT_EQ(every.visible_blocks(), 64);
}

TEST(StridedLayout, MatchesItsDefinitionOnLargerGrids) {
  const block_grid g{.Sq = 700, .Sk = 700, .block_q = 16, .block_k = 16};
  for (index_t stride : {2, 5, 7}) {
    const auto s = strided_layout(g, 2, stride, true);
    for (index_t r = 0; r < s.rows; ++r)
      for (index_t c = 0; c < s.cols; ++c)
        ASSERT_EQ(s(0, r, c) != 0, c <= r && (r - c <= 2 || (r - c) % stride == 0)) << r << ", " << c;
  }
}

TEST(LongformerLayout, CellByCell) {
  const block_grid g{.Sq = 6, .Sk = 6, .block_q = 1, .block_k = 1};
  const std::vector<index_t> global = {0, 4};
  EXPECT_EQ(cells(longformer_layout(g, 1, global)),
            (pattern{"111111", "111.1.", "11111.", "1.111.", "111111", "1...11"}));
  EXPECT_EQ(cells(longformer_layout(g, 1, global, true)),
            (pattern{"1.....", "11....", "111...", "1.11..", "11111.", "1...11"}));
  EXPECT_EQ(cells(longformer_layout(g, 0, {})), cells(local_band_layout(g, 0)));
}

TEST(LongformerLayout, GlobalKeyBlocksBeyondTheRows) {
  // 2 query blocks, 5 key blocks: global block 3 is a key block only.
  const block_grid g{.Sq = 8, .Sk = 20, .block_q = 4, .block_k = 4};
  const std::vector<index_t> global = {0, 3};
  EXPECT_EQ(cells(longformer_layout(g, 0, global)), (pattern{"11111", "1..11"}));
}

TEST(BigbirdLayout, WindowGlobalAndExactlyTheRandomBlocks) {
  const block_grid g{.Sq = 64 * 20, .Sk = 64 * 20, .block_q = 64, .block_k = 64};
  const std::vector<index_t> global = {0, 7};
  for (bool causal : {false, true}) {
    const auto s = bigbird_layout(g, 1, global, 3, 42, 4, causal);
    const auto base = longformer_layout(g, 1, global, causal);
    ASSERT_EQ(s.heads, 4);
    for (index_t h = 0; h < s.heads; ++h)
      for (index_t r = 0; r < s.rows; ++r) {
        index_t extra = 0, candidates = 0;
        for (index_t c = 0; c < s.cols; ++c) {
          if (base(0, r, c)) ASSERT_TRUE(s(h, r, c)) << "window / global block lost";
          else if (!causal || c <= r) ++candidates, extra += s(h, r, c) ? 1 : 0;
          else ASSERT_FALSE(s(h, r, c)) << "random block after the diagonal";
        }
        EXPECT_EQ(extra, std::min<index_t>(3, candidates)) << "head " << h << " row " << r;
      }
  }
}

TEST(BigbirdLayout, ReproduciblePerSeedAndIndependentAcrossHeads) {
  const block_grid g{.Sq = 2000, .Sk = 2000, .block_q = 50, .block_k = 50};
  const std::vector<index_t> global = {1};
  const auto a = bigbird_layout(g, 1, global, 2, 7, 3);
  const auto b = bigbird_layout(g, 1, global, 2, 7, 3);
  const auto c = bigbird_layout(g, 1, global, 2, 8, 3);
  EXPECT_EQ(a.cells, b.cells);
  EXPECT_NE(a.cells, c.cells);
  EXPECT_NE(cells(a, 0), cells(a, 1));
  EXPECT_NE(cells(a, 1), cells(a, 2));
}

TEST(BigbirdLayout, RandomBlocksAreRoughlyUniform) {
  // One row block, 12 key blocks, the first in the window: 11 candidates, 3 drawn per head.
  const block_grid g{.Sq = 1, .Sk = 12, .block_q = 1, .block_k = 1, .align = alignment::top_left};
  const index_t heads = 4400;
  const auto s = bigbird_layout(g, 0, {}, 3, 1234, heads);
  std::vector<index_t> count(12, 0);
  for (index_t h = 0; h < heads; ++h)
    for (index_t c = 0; c < 12; ++c) count[std::size_t(c)] += s(h, 0, c);
  EXPECT_EQ(count[0], heads);
  const double expected = double(heads) * 3.0 / 11.0;  // 1200; sd about 30
  for (index_t c = 1; c < 12; ++c)
    EXPECT_NEAR(double(count[std::size_t(c)]), expected, 150.0) << "block " << c;
}

TEST(BlockLayoutStorage, ViewCountsAndFraction) {
  const block_grid g{.Sq = 100, .Sk = 70, .block_q = 16, .block_k = 32};
  const auto s = local_band_layout(g, 0);
  const block_layout view = s.layout();
  EXPECT_EQ(view.block_q, 16);
  EXPECT_EQ(view.block_k, 32);
  EXPECT_EQ(view.mask.extent(0), 1);
  EXPECT_EQ(view.mask.extent(1), 7);
  EXPECT_EQ(view.mask.extent(2), 3);
  EXPECT_NO_THROW(attnkit::detail::check_block_layout("test", view, 8, 100, 70));
  EXPECT_EQ(s.visible_blocks(), index_t(std::count(s.cells.begin(), s.cells.end(), 1)));
  EXPECT_DOUBLE_EQ(s.visible_fraction(), double(s.visible_blocks()) / 21.0);
  for (index_t r = 0; r < 7; ++r)
    for (index_t c = 0; c < 3; ++c) EXPECT_EQ(view.mask(0, r, c), s(0, r, c));
}

TEST(LayoutBuilders, BadArgumentsThrow) {
  const block_grid g{.Sq = 64, .Sk = 64, .block_q = 16, .block_k = 16};
  block_grid bad_block = g;
  bad_block.block_k = 0;
  block_grid bad_length = g;
  bad_length.Sq = -1;
  const std::vector<index_t> out_of_range = {4}, negative = {-1};
  EXPECT_THROW(local_band_layout(g, -1), attnkit::error);
  EXPECT_THROW(local_band_layout(bad_block, 1), attnkit::error);
  EXPECT_THROW(local_band_layout(bad_length, 1), attnkit::error);
  EXPECT_THROW(strided_layout(g, 1, 0), attnkit::error);
  EXPECT_THROW(longformer_layout(g, 1, out_of_range), attnkit::error);
  EXPECT_THROW(longformer_layout(g, 1, negative), attnkit::error);
  EXPECT_THROW(bigbird_layout(g, 1, {}, -1, 0), attnkit::error);
  EXPECT_THROW(bigbird_layout(g, 1, {}, 1, 0, 0), attnkit::error);
  try {
    strided_layout(g, 1, 0);
  } catch (const attnkit::error& e) {
    EXPECT_NE(std::string(e.what()).find("'stride'"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace attnkit::test
