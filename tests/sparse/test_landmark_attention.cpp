// SPDX-License-Identifier: Apache-2.0
// Tests of landmark_attention, landmark_blocks and landmark_summaries on every compiled arch: the
// kernel against the double reference over the same blocks (decode-sized and larger query
// counts, partial last blocks, GQA, strided views, causal), all blocks = exact attention, the
// choice itself (local block kept, best summaries first), given summaries = computed ones,
// determinism over threads, argument errors.
#include <attnkit/sparse/landmark_attention.hpp>
#include <attnkit/sparse/landmark_blocks.hpp>
#include <attnkit/sparse/landmark_summaries.hpp>
#include <attnkit/sparse/reference_retrieval.hpp>

#include <algorithm>
#include <cmath>
#include <limits>

#include <gtest/gtest.h>

#include "sparse/retrieval_support.hpp"

namespace attnkit::test {
namespace {

template <class Arch>
tensor<std::int32_t, 4> picks_of(const retrieval_problem& p, const landmark_options& opt) {
  const auto qe = p.q.extents();
  tensor<std::int32_t, 4> picks({qe[0], qe[2], qe[1], opt.blocks + 1}, -5);
  landmark_blocks<Arch>(p.q.cview(), p.k.cview(), picks.view(), opt);
  return picks;
}

template <class Arch>
void check_against_reference(const retrieval_dims& n, const landmark_options& opt, bool bhsd,
                             std::uint64_t seed = 3) {
  const auto p = make_problem(n, seed, bhsd);
  const auto picks = picks_of<Arch>(p, opt);
  const index_t o = n.Sk - n.Sq;
  const auto oracle = visibility_oracle(p, opt.scale, [&](index_t b, index_t h, index_t i, index_t j) {
    if (opt.causal && j > i + o) return false;
    for (index_t x = 0; x <= opt.blocks; ++x)
      if (picks(b, h, i, x) == j / opt.block_size) return true;
    return false;
  });
  tensor<double, 4> ref({n.B, n.Sq, n.Hq, n.Dv});
  tensor<double, 3> ref_lse({n.B, n.Hq, n.Sq});
  const auto qd = convert<double>(p.q.cview()), kd = convert<double>(p.k.cview()),
             vd = convert<double>(p.v.cview());
  reference::landmark_attention<double, double>(qd.cview(), kd.cview(), vd.cview(), ref.view(),
                                                picks.cview(), opt, ref_lse.view());
  EXPECT_EQ(max_abs_error(ref.cview(), oracle.out.cview()), 0.0);
  EXPECT_EQ(max_abs_error(ref_lse.cview(), oracle.lse.cview()), 0.0);
  retrieval_output got(n, bhsd);
  landmark_attention<Arch>(p.q.cview(), p.k.cview(), p.v.cview(), got.out.view(), opt, got.lse.view());
  expect_close(got, oracle);
}

template <class Arch>
class LandmarkAttention : public ::testing::Test {};
TYPED_TEST_SUITE(LandmarkAttention, compiled_archs, arch_name);

TYPED_TEST(LandmarkAttention, MatchesReferenceOverTheSameBlocks) {
  using Arch = TypeParam;
  ATTNKIT_SKIP_UNLESS_CPU_SUPPORTS(Arch);
  for (index_t Sq : {1, 5, 16})
    for (bool causal : {false, true}) {
      const index_t bs = Sq == 5 ? 30 : 16, blocks = Sq == 1 ? 0 : Sq == 5 ? 2 : 3;
      SCOPED_TRACE(testing::Message() << "Sq " << Sq << " causal " << causal);
      check_against_reference<Arch>({.B = 1, .Sq = Sq, .Sk = 203, .Hq = 4, .Hkv = 2, .D = 24, .Dv = 19},
                                    {.block_size = bs, .blocks = blocks, .causal = causal}, causal);
    }
  // More than 64 queries (two groups), a scale, Sq > Sk causal (empty first rows).
  check_against_reference<Arch>({.B = 1, .Sq = 70, .Sk = 61, .Hq = 1, .Hkv = 1, .D = 7, .Dv = 9},
                                {.block_size = 8, .blocks = 2, .causal = true, .scale = 0.7f}, false);
}

TYPED_TEST(LandmarkAttention, AllBlocksIsExactAttention) {
  using Arch = TypeParam;
  ATTNKIT_SKIP_UNLESS_CPU_SUPPORTS(Arch);
  const retrieval_dims n{.B = 1, .Sq = 7, .Sk = 100, .Hq = 2, .Hkv = 1, .D = 16, .Dv = 16};
  const auto p = make_problem(n, 11, true);
  for (bool causal : {false, true})
    for (index_t blocks : {6, 7, 1000}) {  // 7 blocks of 16 keys, the last of 4
      SCOPED_TRACE(testing::Message() << "causal " << causal << " blocks " << blocks);
      retrieval_output got(n);
      landmark_attention<Arch>(p.q.cview(), p.k.cview(), p.v.cview(), got.out.view(),
                               {.block_size = 16, .blocks = blocks, .causal = causal}, got.lse.view());
      expect_close(got, exact_oracle(p, causal));
    }
}

// The choice: ascending blocks, the local one last among them, min(blocks, local) retrieved
// ones, each scoring at least as high (in double, up to fp32 rounding) as every candidate left.
TYPED_TEST(LandmarkAttention, PicksTheLocalBlockAndTheBestSummaries) {
  using Arch = TypeParam;
  ATTNKIT_SKIP_UNLESS_CPU_SUPPORTS(Arch);
  const retrieval_dims n{.B = 1, .Sq = 9, .Sk = 150, .Hq = 2, .Hkv = 1, .D = 12, .Dv = 12};
  const auto p = make_problem(n, 41);
  const index_t bs = 20, nb = 8;
  tensor<float, 4> summaries({1, nb, 1, n.D});
  landmark_summaries(p.k.cview(), summaries.view(), bs);
  for (bool causal : {false, true}) {
    const landmark_options opt{.block_size = bs, .blocks = 3, .causal = causal};
    const auto picks = picks_of<Arch>(p, opt);
    for (index_t h = 0; h < n.Hq; ++h)
      for (index_t i = 0; i < n.Sq; ++i) {
        const index_t local = (causal ? i + n.Sk - n.Sq : n.Sk - 1) / bs;
        const index_t take = std::min<index_t>(3, local);
        std::vector<index_t> chosen;
        for (index_t x = 0; x <= opt.blocks; ++x)
          if (picks(0, h, i, x) >= 0) chosen.push_back(picks(0, h, i, x));
        ASSERT_EQ(index_t(chosen.size()), take + 1);
        EXPECT_EQ(chosen.back(), local);
        EXPECT_TRUE(std::is_sorted(chosen.begin(), chosen.end()));
        auto score = [&](index_t blk) {
          double s = 0;
          for (index_t d = 0; d < n.D; ++d) s += double(p.q(0, i, h, d)) * double(summaries(0, blk, 0, d));
          return s;
        };
        double worst_chosen = std::numeric_limits<double>::infinity();
        for (index_t x = 0; x < take; ++x) worst_chosen = std::min(worst_chosen, score(chosen[std::size_t(x)]));
        for (index_t blk = 0; blk < local; ++blk) {
          if (std::find(chosen.begin(), chosen.end(), blk) == chosen.end()) {
            EXPECT_GE(worst_chosen, score(blk) - 1e-5);
          }
        }
      }
  }
}

TYPED_TEST(LandmarkAttention, GivenSummariesAndThreadsGiveTheSameBits) {
  using Arch = TypeParam;
  ATTNKIT_SKIP_UNLESS_CPU_SUPPORTS(Arch);
  const retrieval_dims n{.B = 2, .Sq = 4, .Sk = 301, .Hq = 4, .Hkv = 2, .D = 20, .Dv = 12};
  const auto p = make_problem(n, 31, true);
  landmark_options opt{.block_size = 32, .blocks = 3};
  auto run = [&](int threads, const landmark_options& o) {
    thread_scope scope(threads);
    retrieval_output got(n);
    landmark_attention<Arch>(p.q.cview(), p.k.cview(), p.v.cview(), got.out.view(), o, got.lse.view());
    return got;
  };
  const auto one = run(1, opt), two = run(2, opt);
  EXPECT_TRUE(same_bits(one.out, two.out));
  EXPECT_TRUE(same_bits(one.lse, two.lse));
  tensor<float, 4> summaries({n.B, 10, n.Hkv, n.D}, {0, 2, 1, 3}, 1);  // strided, padded
  landmark_summaries(p.k.cview(), summaries.view(), 32);
  opt.summaries = summaries.cview();
  const auto given = run(1, opt);
  EXPECT_TRUE(same_bits(one.out, given.out));
  EXPECT_TRUE(same_bits(one.lse, given.lse));
}

TEST(LandmarkSummaries, AreBlockMeans) {
  const auto k = random_tensor<float, 4>({2, 45, 3, 5}, 8);
  tensor<float, 4> s({2, 4, 3, 5});
  landmark_summaries(k.cview(), s.view(), 12);
  for (index_t b = 0; b < 2; ++b)
    for (index_t n = 0; n < 4; ++n)
      for (index_t h = 0; h < 3; ++h)
        for (index_t d = 0; d < 5; ++d) {
          double sum = 0;
          const index_t j1 = std::min<index_t>(45, (n + 1) * 12);
          for (index_t j = n * 12; j < j1; ++j) sum += k(b, j, h, d);
          EXPECT_EQ(s(b, n, h, d), static_cast<float>(sum / double(j1 - n * 12)));
        }
}

// No keys: every row is empty (out = 0, lse = -inf).
TEST(LandmarkAttention, NoKeys) {
  const retrieval_dims n{.B = 1, .Sq = 3, .Sk = 0, .Hq = 2, .Hkv = 1, .D = 4, .Dv = 3};
  const auto p = make_problem(n, 1);
  retrieval_output got(n);
  landmark_attention(p.q.cview(), p.k.cview(), p.v.cview(), got.out.view(), {}, got.lse.view());
  for (float x : got.out.storage()) EXPECT_EQ(x, 0.0f);
  for (float x : got.lse.storage()) EXPECT_EQ(x, -std::numeric_limits<float>::infinity());
}

TEST(LandmarkAttentionArguments, RejectedBeforeAnyWrite) {
  const retrieval_dims n{.B = 1, .Sq = 2, .Sk = 9, .Hq = 2, .Hkv = 1, .D = 4, .Dv = 3};
  const auto p = make_problem(n, 1);
  const tensor<float, 4> wrong_summaries({1, 2, 1, 4});  // 9 keys in blocks of 4: 3 blocks
  auto expect_throw = [&](const landmark_options& opt) {
    retrieval_output got(n);
    EXPECT_THROW(landmark_attention(p.q.cview(), p.k.cview(), p.v.cview(), got.out.view(), opt,
                                    got.lse.view()),
                 error);
    for (float x : got.out.storage()) EXPECT_EQ(x, -777.0f);
    for (float x : got.lse.storage()) EXPECT_EQ(x, -777.0f);
  };
  expect_throw({.block_size = 0});
  expect_throw({.blocks = -1});
  expect_throw({.scale = std::numeric_limits<float>::quiet_NaN()});
  expect_throw({.block_size = 4, .summaries = wrong_summaries.cview()});
  tensor<std::int32_t, 4> picks({1, 2, 2, 4}, -5);  // blocks = 4 needs 5 entries
  EXPECT_THROW(landmark_blocks(p.q.cview(), p.k.cview(), picks.view(), {.blocks = 4}), error);
  for (auto x : picks.storage()) EXPECT_EQ(x, -5);
  tensor<float, 4> s({1, 3, 1, 4}, -5.0f);
  EXPECT_THROW(landmark_summaries(p.k.cview(), s.view(), 0), error);
  for (float x : s.storage()) EXPECT_EQ(x, -5.0f);
}

}  // namespace
}  // namespace attnkit::test
