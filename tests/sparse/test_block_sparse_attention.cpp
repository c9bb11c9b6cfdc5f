// SPDX-License-Identifier: Apache-2.0
// Tests of block_sparse_attention on every compiled arch: all blocks on equals flash_attention bit
// for bit; random layouts (odd sizes, block sizes that do not divide them, GQA, every mask, per-head
// and broadcast masks) match the double reference; empty rows, hidden NaNs, threads, bad layouts.
#include <attnkit/sparse/block_sparse_attention.hpp>

#include <cmath>
#include <cstring>
#include <limits>
#include <string>
#include <tuple>
#include <vector>

#include <gtest/gtest.h>

#include <attnkit/core/bf16.hpp>
#include <attnkit/core/threads.hpp>

#include "exact/reference_support.hpp"
#include "sparse/block_sparse_support.hpp"
#include "support/archs.hpp"
#include "support/random.hpp"
#include "support/tensor.hpp"
#include "support/tolerance.hpp"

namespace attnkit::test {
namespace {

struct problem {
  tensor<float, 4> q, k, v;
};

problem random_problem(const dims& n, std::uint64_t seed) {
  return {random_tensor<float, 4>({n.B, n.Sq, n.Hq, n.D}, seed),
          random_tensor<float, 4>({n.B, n.Sk, n.Hkv, n.D}, seed + 1),
          random_tensor<float, 4>({n.B, n.Sk, n.Hkv, n.Dv}, seed + 2)};
}

constexpr float kSentinel = -777.0f;

/// block_sparse_attention<Arch> against the oracle on every compiled arch the CPU runs.
void check_every_arch(const problem& p, const block_layout& layout, const attention_options& opt) {
  const auto oracle = make_block_sparse_oracle(p.q, p.k, p.v, layout, opt);
  const auto e = p.q.extents();
  tested_archs::for_each([&](auto arch) {
    using Arch = decltype(arch);
    if (!simd::cpu_supports<Arch>()) return;
    SCOPED_TRACE(std::string("arch ") + Arch::name());
    tensor<float, 4> out({e[0], e[1], e[2], p.v.extents()[3]}, kSentinel);
    tensor<float, 3> lse({e[0], e[2], e[1]}, kSentinel);
    block_sparse<Arch, float>(p.q.cview(), p.k.cview(), p.v.cview(), out.view(), layout, opt,
                              lse.view());
    EXPECT_TRUE(within_fp32_tolerance(out.cview(), oracle.naive_out.cview(), oracle.out.cview()))
        << "out";
    EXPECT_TRUE(within_fp32_tolerance(lse.cview(), oracle.naive_lse.cview(), oracle.lse.cview()))
        << "lse";
  });
}

template <class T, std::size_t R>
bool same_bits(const tensor<T, R>& a, const tensor<T, R>& b) {
  return a.storage().size() == b.storage().size() &&
         std::memcmp(a.storage().data(), b.storage().data(), a.storage().size() * sizeof(T)) == 0;
}

/// Options the random-layout tests sweep, on top of the layout.
std::vector<std::pair<std::string, owned_options>> option_cases(index_t Hq, index_t Sq, index_t Sk) {
  std::vector<std::pair<std::string, owned_options>> cases;
  auto add = [&](std::string name, auto edit) {
    owned_options o;
    edit(o);
    cases.emplace_back(std::move(name), std::move(o));
  };
  add("none", [](owned_options&) {});
  add("causal_bottom_right", [](owned_options& o) { o.causal = true; });
  add("causal_top_left", [](owned_options& o) { o.causal = true, o.align = alignment::top_left; });
  add("window_20_9", [](owned_options& o) { o.window_left = 20, o.window_right = 9; });
  add("window_left_top_left", [](owned_options& o) {
    o.window_left = 11, o.align = alignment::top_left;
  });
  add("everything", [&](owned_options& o) {
    o.causal = true, o.window_left = 45, o.softcap = 3.0f, o.scale = 0.6f;
    o.bias = random_tensor<float, 4>({1, Hq, Sq, Sk}, 77, -1.0, 1.0);
    for (index_t h = 0; h < Hq; ++h) o.alibi_slopes.push_back(0.05f * float(h + 1));
    for (index_t h = 0; h < Hq; ++h) o.sinks.push_back(0.3f * float(h) - 0.5f);
  });
  return cases;
}

// All blocks on: the driver takes exactly flash_attention's path, so the results are the same
// bits, whatever the block sizes, with and without masks.
TEST(BlockSparseAttention, AllBlocksOnIsFlashAttentionBitForBit) {
  const dims n{.B = 2, .Sq = 113, .Sk = 203, .Hq = 4, .Hkv = 2, .D = 24, .Dv = 24};
  const auto p = random_problem(n, 3);
  // (block_q, block_k, heads of the mask): broadcast and per-head masks.
  for (const auto& [bq, bk, heads] : {std::tuple<index_t, index_t, index_t>{64, 64, 1}, {16, 32, 4},
                                      {7, 5, 1}, {500, 1, 4}}) {
    const block_grid grid{.Sq = n.Sq, .Sk = n.Sk, .block_q = bq, .block_k = bk};
    {
      const auto layout = random_layout(grid, heads, 1.0, 1);
      for (const auto& [name, o] : option_cases(n.Hq, n.Sq, n.Sk)) {
        SCOPED_TRACE(name + " blocks " + std::to_string(bq) + "x" + std::to_string(bk));
        const attention_options opt = o.options();
        tested_archs::for_each([&](auto arch) {
          using Arch = decltype(arch);
          if (!simd::cpu_supports<Arch>()) return;
          SCOPED_TRACE(Arch::name());
          tensor<float, 4> got({n.B, n.Sq, n.Hq, n.Dv}), want({n.B, n.Sq, n.Hq, n.Dv});
          tensor<float, 3> got_lse({n.B, n.Hq, n.Sq}), want_lse({n.B, n.Hq, n.Sq});
          block_sparse<Arch, float>(p.q.cview(), p.k.cview(), p.v.cview(), got.view(),
                                    layout.layout(), opt, got_lse.view());
          dense_flash<Arch>(p.q.cview(), p.k.cview(), p.v.cview(), want.view(), opt, want_lse.view());
          EXPECT_TRUE(same_bits(got, want));
          EXPECT_TRUE(same_bits(got_lse, want_lse));
        });
      }
    }
  }
}

// Random layouts against the double reference: sizes that are not multiples of the block sizes,
// GQA, every option kind, per-head and broadcast masks, sparse and dense layouts.
struct random_case {
  index_t Sq, Sk, bq, bk, D;
};

class BlockSparseRandom : public ::testing::TestWithParam<random_case> {};

TEST_P(BlockSparseRandom, MatchesReference) {
  const random_case c = GetParam();
  const dims n{.B = 1, .Sq = c.Sq, .Sk = c.Sk, .Hq = 4, .Hkv = 2, .D = c.D, .Dv = c.D};
  const auto p = random_problem(n, 11);
  const block_grid grid{.Sq = n.Sq, .Sk = n.Sk, .block_q = c.bq, .block_k = c.bk};
  // Each option case with one layout: case k takes a per-head mask when k is odd and a dense
  // draw when k / 2 is odd, so the six cases pair every mask kind with both densities.
  std::uint64_t k = 0;
  for (const auto& [name, o] : option_cases(n.Hq, n.Sq, n.Sk)) {
    const index_t heads = k % 2 == 1 ? n.Hq : 1;
    const double density = (k / 2) % 2 == 1 ? 0.6 : 0.25;
    SCOPED_TRACE(name + " heads " + std::to_string(heads) + " density " + std::to_string(density));
    const auto layout = random_layout(grid, heads, density, 100 + k++);
    check_every_arch(p, layout.layout(), o.options());
  }
}

INSTANTIATE_TEST_SUITE_P(Shapes, BlockSparseRandom,
                         ::testing::Values(random_case{37, 53, 16, 32, 24},
                                           random_case{113, 203, 64, 64, 64},
                                           random_case{203, 113, 7, 5, 17},
                                           random_case{150, 250, 48, 100, 24},
                                           random_case{1, 239, 1, 30, 24}),
                         [](const auto& info) {
                           const random_case& c = info.param;
                           return "Sq" + std::to_string(c.Sq) + "_Sk" + std::to_string(c.Sk) + "_b" +
                                  std::to_string(c.bq) + "x" + std::to_string(c.bk) + "_D" +
                                  std::to_string(c.D);
                         });

// A strided mask view (here: the transposed storage of a [H, cols, rows] array) and stride-0
// broadcast over heads read the same cells as a contiguous copy.
TEST(BlockSparseAttention, StridedAndBroadcastMaskViews) {
  const dims n{.B = 1, .Sq = 90, .Sk = 70, .Hq = 2, .Hkv = 1, .D = 20, .Dv = 20};
  const auto p = random_problem(n, 5);
  const block_grid grid{.Sq = n.Sq, .Sk = n.Sk, .block_q = 16, .block_k = 16};
  const auto dense = random_layout(grid, 1, 0.5, 9);
  const index_t rows = dense.rows, cols = dense.cols;
  std::vector<std::uint8_t> transposed(static_cast<std::size_t>(rows * cols));
  for (index_t r = 0; r < rows; ++r)
    for (index_t c = 0; c < cols; ++c) transposed[std::size_t(c * rows + r)] = dense(0, r, c);
  const block_layout strided{16, 16, tensor_view<const std::uint8_t, 3>(transposed.data(),
                                                                         {n.Hq, rows, cols},
                                                                         {0, 1, rows})};
  check_every_arch(p, strided, {});
  tensor<float, 4> a({1, n.Sq, n.Hq, n.Dv}), b({1, n.Sq, n.Hq, n.Dv});
  block_sparse<default_arch, float>(p.q.cview(), p.k.cview(), p.v.cview(), a.view(), strided);
  block_sparse<default_arch, float>(p.q.cview(), p.k.cview(), p.v.cview(), b.view(), dense.layout());
  EXPECT_TRUE(same_bits(a, b));
}

// Rows that see no key (hidden by the layout, or by the layout and the options together):
// out = 0 exactly and lse = -inf, or the sink's logit with sinks; never NaN.
TEST(BlockSparseAttention, EmptyRowsGiveZeroAndMinusInfinity) {
  const dims n{.B = 1, .Sq = 50, .Sk = 60, .Hq = 2, .Hkv = 1, .D = 16, .Dv = 16};
  const auto p = random_problem(n, 8);
  const block_grid grid{.Sq = n.Sq, .Sk = n.Sk, .block_q = 10, .block_k = 12};
  auto layout = random_layout(grid, n.Hq, 0.7, 4);
  for (index_t c = 0; c < layout.cols; ++c) layout(0, 2, c) = 0, layout(1, 4, c) = 0;
  for (bool sinks : {false, true}) {
    owned_options o;
    if (sinks) o.sinks = {0.75f, -1.5f};
    const attention_options opt = o.options();
    check_every_arch(p, layout.layout(), opt);
    tested_archs::for_each([&](auto arch) {
      using Arch = decltype(arch);
      if (!simd::cpu_supports<Arch>()) return;
      tensor<float, 4> out({1, n.Sq, n.Hq, n.Dv}, kSentinel);
      tensor<float, 3> lse({1, n.Hq, n.Sq}, kSentinel);
      block_sparse<Arch, float>(p.q.cview(), p.k.cview(), p.v.cview(), out.view(), layout.layout(),
                                opt, lse.view());
      for (const auto& [h, r] : {std::pair<index_t, index_t>{0, 2}, {1, 4}})
        for (index_t i = r * 10; i < (r + 1) * 10; ++i) {
          const float want_lse = sinks ? o.sinks[std::size_t(h)] : -std::numeric_limits<float>::infinity();
          EXPECT_EQ(lse(0, h, i), want_lse) << Arch::name() << " head " << h << " query " << i;
          for (index_t d = 0; d < n.Dv; ++d) ASSERT_EQ(out(0, i, h, d), 0.0f);
        }
    });
  }
  // Every block hidden: every row empty.
  const auto none = random_layout(grid, 1, 0.0, 1);
  tensor<float, 4> out({1, n.Sq, n.Hq, n.Dv}, kSentinel);
  tensor<float, 3> lse({1, n.Hq, n.Sq}, kSentinel);
  block_sparse<default_arch, float>(p.q.cview(), p.k.cview(), p.v.cview(), out.view(), none.layout(),
                                    {}, lse.view());
  for (float x : out.storage()) ASSERT_EQ(x, 0.0f);
  for (float x : lse.storage()) ASSERT_EQ(x, -std::numeric_limits<float>::infinity());
}

// NaN and infinity in K and V rows of hidden blocks reach no output (the driver skips or masks
// them, including the exact product of partly hidden tiles); in a visible block they reach
// exactly the rows that see them, as in the reference.
TEST(BlockSparseAttention, NonFiniteValuesReachOnlyTheRowsThatSeeThem) {
  const dims n{.B = 1, .Sq = 70, .Sk = 90, .Hq = 2, .Hkv = 1, .D = 16, .Dv = 16};
  auto p = random_problem(n, 21);
  const block_grid grid{.Sq = n.Sq, .Sk = n.Sk, .block_q = 8, .block_k = 6};
  const auto layout = random_layout(grid, n.Hq, 0.5, 6);
  for (index_t j : {3, 40, 41, 77}) {
    p.v(0, j, 0, 5) = std::numeric_limits<float>::quiet_NaN();
    p.k(0, j + 1, 0, 2) = std::numeric_limits<float>::infinity();
  }
  const auto oracle = make_block_sparse_oracle(p.q, p.k, p.v, layout.layout(), {});
  index_t finite_rows = 0;
  for (index_t i = 0; i < n.Sq; ++i) finite_rows += std::isfinite(oracle.out(0, i, 0, 5)) ? 1 : 0;
  ASSERT_GT(finite_rows, 0);  // the test means something only if some rows do not see the NaNs
  ASSERT_LT(finite_rows, n.Sq);
  check_every_arch(p, layout.layout(), {});
}

// The result does not depend on the thread count (the work is cut into different chunks).
TEST(BlockSparseAttention, OneAndTwoThreadsGiveTheSameBits) {
  const dims n{.B = 1, .Sq = 600, .Sk = 577, .Hq = 3, .Hkv = 1, .D = 32, .Dv = 32};
  const auto p = random_problem(n, 13);
  const block_grid grid{.Sq = n.Sq, .Sk = n.Sk, .block_q = 40, .block_k = 24};
  const auto layout = random_layout(grid, n.Hq, 0.4, 2);
  attention_options opt;
  opt.causal = true;
  const int saved = get_num_threads();
  tensor<float, 4> one({1, n.Sq, n.Hq, n.Dv}), two({1, n.Sq, n.Hq, n.Dv});
  tensor<float, 3> lse_one({1, n.Hq, n.Sq}), lse_two({1, n.Hq, n.Sq});
  set_num_threads(1);
  block_sparse<default_arch, float>(p.q.cview(), p.k.cview(), p.v.cview(), one.view(),
                                    layout.layout(), opt, lse_one.view());
  set_num_threads(2);
  block_sparse<default_arch, float>(p.q.cview(), p.k.cview(), p.v.cview(), two.view(),
                                    layout.layout(), opt, lse_two.view());
  set_num_threads(saved);
  EXPECT_TRUE(same_bits(one, two));
  EXPECT_TRUE(same_bits(lse_one, lse_two));
}

// bf16 storage: DESIGN 4's RMS rule against the double reference on the rounded inputs.
TEST(BlockSparseAttention, Bf16WithinRmsTolerance) {
  const dims n{.B = 1, .Sq = 113, .Sk = 203, .Hq = 2, .Hkv = 1, .D = 64, .Dv = 64};
  const auto p = random_problem(n, 17);
  const auto q = convert<bf16>(p.q.cview()), k = convert<bf16>(p.k.cview()),
             v = convert<bf16>(p.v.cview());
  const block_grid grid{.Sq = n.Sq, .Sk = n.Sk, .block_q = 16, .block_k = 32};
  const auto layout = random_layout(grid, n.Hq, 0.5, 3);
  attention_options opt;
  opt.causal = true;
  tensor<bf16, 4> out({1, n.Sq, n.Hq, n.Dv});
  block_sparse<default_arch, bf16>(q.cview(), k.cview(), v.cview(), out.view(), layout.layout(), opt);
  tensor<double, 4> want({1, n.Sq, n.Hq, n.Dv});
  const auto qd = convert<double>(q.cview()), kd = convert<double>(k.cview()),
             vd = convert<double>(v.cview());
  reference::block_sparse_attention<double>(qd.cview(), kd.cview(), vd.cview(), want.view(),
                                            layout.layout(), opt);
  EXPECT_TRUE(within_rms_tolerance(out.cview(), want.cview()));
}

// Invalid layouts throw attnkit::error naming the layout, and nothing is written.
TEST(BlockSparseAttention, BadLayoutsThrowAndLeaveOutputsUntouched) {
  const dims n{.B = 1, .Sq = 37, .Sk = 53, .Hq = 4, .Hkv = 2, .D = 8, .Dv = 8};
  const auto p = random_problem(n, 2);
  const block_grid grid{.Sq = n.Sq, .Sk = n.Sk, .block_q = 16, .block_k = 32};  // 3 x 2 blocks
  const auto good = random_layout(grid, n.Hq, 0.5, 1);
  const auto* cells = good.cells.data();
  using mask_view = tensor_view<const std::uint8_t, 3>;
  const std::vector<std::pair<std::string, block_layout>> bad = {
      {"layout.block_q", {0, 32, good.layout().mask}},
      {"layout.block_k", {16, -1, good.layout().mask}},
      {"layout.mask", {16, 32, mask_view(cells, {2, 3, 2})}},   // 2 heads of 4
      {"layout.mask", {16, 32, mask_view(cells, {4, 2, 3})}},   // rows and cols swapped
      {"layout.mask", {16, 32, mask_view(cells, {4, 3, 1})}},   // one key block short
      {"layout.mask", {16, 16, good.layout().mask}},            // 53 keys need 4 blocks of 16
      {"layout.mask", {16, 32, mask_view(nullptr, {4, 3, 2})}},
      {"layout.mask", {16, 32, {}}},
  };
  for (const auto& [argument, layout] : bad) {
    tensor<float, 4> out({1, n.Sq, n.Hq, n.Dv}, kSentinel);
    tensor<float, 3> lse({1, n.Hq, n.Sq}, kSentinel);
    try {
      block_sparse<default_arch, float>(p.q.cview(), p.k.cview(), p.v.cview(), out.view(), layout,
                                        {}, lse.view());
      ADD_FAILURE() << "no error for a bad " << argument;
    } catch (const attnkit::error& e) {
      EXPECT_NE(std::string(e.what()).find("'" + argument + "'"), std::string::npos) << e.what();
    }
    for (float x : out.storage()) ASSERT_EQ(x, kSentinel);
    for (float x : lse.storage()) ASSERT_EQ(x, kSentinel);
  }
  // The reference checks the same way.
  tensor<double, 4> out({1, n.Sq, n.Hq, n.Dv});
  const auto qd = convert<double>(p.q.cview()), kd = convert<double>(p.k.cview()),
             vd = convert<double>(p.v.cview());
  EXPECT_THROW(reference::block_sparse_attention<double>(qd.cview(), kd.cview(), vd.cview(),
                                                         out.view(), bad[0].second),
               attnkit::error);
  // Other arguments are checked as flash_attention checks them.
  tensor<float, 4> out_f({1, n.Sq, n.Hq, n.Dv});
  attention_options opt;
  opt.window_left = -2;
  const auto bad_option = [&] {
    block_sparse<default_arch, float>(p.q.cview(), p.k.cview(), p.v.cview(), out_f.view(),
                                      good.layout(), opt);
  };
  EXPECT_THROW(bad_option(), attnkit::error);
}

// Empty problems: no queries (a mask with no rows) and no keys (every row empty).
TEST(BlockSparseAttention, EmptyQueriesOrKeys) {
  const block_grid no_q{.Sq = 0, .Sk = 20, .block_q = 4, .block_k = 4};
  const auto p0 = random_problem({.B = 1, .Sq = 0, .Sk = 20, .Hq = 1, .Hkv = 1, .D = 8, .Dv = 8}, 1);
  tensor<float, 4> out0({1, 0, 1, 8});
  block_sparse<default_arch, float>(p0.q.cview(), p0.k.cview(), p0.v.cview(), out0.view(),
                                    random_layout(no_q, 1, 1.0, 1).layout());
  const block_grid no_k{.Sq = 9, .Sk = 0, .block_q = 4, .block_k = 4};
  const auto p1 = random_problem({.B = 1, .Sq = 9, .Sk = 0, .Hq = 1, .Hkv = 1, .D = 8, .Dv = 8}, 1);
  tensor<float, 4> out1({1, 9, 1, 8}, kSentinel);
  tensor<float, 3> lse1({1, 1, 9}, kSentinel);
  block_sparse<default_arch, float>(p1.q.cview(), p1.k.cview(), p1.v.cview(), out1.view(),
                                    random_layout(no_k, 1, 1.0, 1).layout(), {}, lse1.view());
  for (float x : out1.storage()) EXPECT_EQ(x, 0.0f);
  for (float x : lse1.storage()) EXPECT_EQ(x, -std::numeric_limits<float>::infinity());
}

}  // namespace
}  // namespace attnkit::test
