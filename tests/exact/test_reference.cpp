// SPDX-License-Identifier: Apache-2.0
// Hand-computed forward cases of reference::attention, each derived on paper from DESIGN 1.3.
#include <attnkit/exact/reference.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <set>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "exact/reference_support.hpp"
#include "support/random.hpp"
#include "support/tensor.hpp"
#include "support/tolerance.hpp"

namespace attnkit {
namespace {

using test::dense_problem;
using test::dims;
using test::kInf;
using test::kNaN;

const double kLn2 = std::log(2.0), kLn3 = std::log(3.0), kLn5 = std::log(5.0);

// The visibility probe: with q = 0 every visible logit is 0, so the softmax is uniform over the
// visible keys; with v the identity (Dv = Sk) out(i, j) is the weight of key j, exactly 1/n_i
// when visible and 0 when not, and lse_i = ln n_i (-inf and out = 0 when n_i = 0).
void expect_visible_keys(index_t Sq, index_t Sk, const attention_options& opt,
                         const std::vector<std::set<index_t>>& visible) {
  ASSERT_EQ(static_cast<index_t>(visible.size()), Sq);
  dense_problem<double> p({1, Sq, Sk, 1, 1, 1, Sk});
  for (index_t j = 0; j < Sk; ++j) p.v(0, j, 0, j) = 1.0;
  p.run(opt);
  for (index_t i = 0; i < Sq; ++i) {
    SCOPED_TRACE("query row " + std::to_string(i));
    const auto n = static_cast<double>(visible[i].size());
    for (index_t j = 0; j < Sk; ++j) {
      const double want = visible[i].count(j) ? 1.0 / n : 0.0;
      EXPECT_DOUBLE_EQ(p.out(0, i, 0, j), want) << "key " << j;
      if (want == 0.0) {
        EXPECT_TRUE(test::is_positive_zero(p.out(0, i, 0, j))) << "key " << j;
      }
    }
    if (n == 0) {
      EXPECT_EQ(p.lse(0, 0, i), -kInf);
    } else {
      EXPECT_DOUBLE_EQ(p.lse(0, 0, i), std::log(n));
    }
  }
}

attention_options with_mask(bool causal, alignment align, index_t left = -1, index_t right = -1) {
  attention_options opt;
  opt.causal = causal;
  opt.align = align;
  opt.window_left = left;
  opt.window_right = right;
  return opt;
}

// ---- plain softmax ------------------------------------------------------------------------------

TEST(ReferenceForward, TwoKeysWithLogitsZeroAndLn3WeighOneQuarterAndThreeQuarters) {
  // D = 1, scale 1, q = 1, k = (0, ln 3): z = (0, ln 3), exp(z) = (1, 3), sum 4,
  // weights (1/4, 3/4). v0 = (4, 0), v1 = (0, 8): out = (1, 6); lse = ln 4.
  dense_problem<double> p({1, 1, 2, 1, 1, 1, 2});
  p.q(0, 0, 0, 0) = 1.0;
  p.k(0, 1, 0, 0) = kLn3;
  p.v(0, 0, 0, 0) = 4.0;
  p.v(0, 1, 0, 1) = 8.0;
  attention_options opt;
  opt.scale = 1.0f;
  p.run(opt);
  EXPECT_NEAR(p.out(0, 0, 0, 0), 1.0, 1e-15);
  EXPECT_NEAR(p.out(0, 0, 0, 1), 6.0, 1e-14);
  EXPECT_NEAR(p.lse(0, 0, 0), std::log(4.0), 1e-15);
}

TEST(ReferenceForward, ThreeKeysWeighInProportionToExpLogits) {
  // z = (0, ln 2, ln 5): exp(z) = (1, 2, 5), sum 8, weights (1/8, 2/8, 5/8).
  // v = 8 * identity: out = (1, 2, 5); lse = ln 8.
  dense_problem<double> p({1, 1, 3, 1, 1, 1, 3});
  p.q(0, 0, 0, 0) = 1.0;
  p.k(0, 1, 0, 0) = kLn2;
  p.k(0, 2, 0, 0) = kLn5;
  for (index_t j = 0; j < 3; ++j) p.v(0, j, 0, j) = 8.0;
  attention_options opt;
  opt.scale = 1.0f;
  p.run(opt);
  EXPECT_NEAR(p.out(0, 0, 0, 0), 1.0, 1e-14);
  EXPECT_NEAR(p.out(0, 0, 0, 1), 2.0, 1e-14);
  EXPECT_NEAR(p.out(0, 0, 0, 2), 5.0, 1e-14);
  EXPECT_NEAR(p.lse(0, 0, 0), std::log(8.0), 1e-15);
}

TEST(ReferenceForward, DefaultScaleIsInverseSqrtOfHeadDim) {
  // D = 4, q = (2, 0, 0, 0), k0 = 0, k1 = (ln 3, 0, 0, 0): <q, k1> = 2 ln 3.
  // Default scale 1/sqrt(4) = 1/2: z1 = ln 3, weights (1/4, 3/4); v = (0, 1): out = 3/4, lse = ln 4.
  // Explicit scale 1/4: z1 = ln 3 / 2, exp(z1) = sqrt 3: out = sqrt3 / (1 + sqrt3), lse = ln(1 + sqrt3).
  dense_problem<double> p({1, 1, 2, 1, 1, 4, 1});
  p.q(0, 0, 0, 0) = 2.0;
  p.k(0, 1, 0, 0) = kLn3;
  p.v(0, 1, 0, 0) = 1.0;
  p.run();
  EXPECT_NEAR(p.out(0, 0, 0, 0), 0.75, 1e-15);
  EXPECT_NEAR(p.lse(0, 0, 0), std::log(4.0), 1e-15);
  const double default_out = p.out(0, 0, 0, 0), default_lse = p.lse(0, 0, 0);

  attention_options half;
  half.scale = 0.5f;  // exactly 1/sqrt(4): the same logits, the same bits
  p.run(half);
  EXPECT_EQ(p.out(0, 0, 0, 0), default_out);
  EXPECT_EQ(p.lse(0, 0, 0), default_lse);

  attention_options quarter;
  quarter.scale = 0.25f;
  p.run(quarter);
  const double s3 = std::sqrt(3.0);
  EXPECT_NEAR(p.out(0, 0, 0, 0), s3 / (1.0 + s3), 1e-15);
  EXPECT_NEAR(p.lse(0, 0, 0), std::log(1.0 + s3), 1e-15);
}

TEST(ReferenceForward, DefaultScaleMatchesExplicitInverseSqrtForOddHeadDim) {
  // D = 3: 1/sqrt(3) is not a float, so the default and float(1/sqrt(3)) differ by < 1e-7 relative.
  dense_problem<double> p({2, 3, 4, 2, 1, 3, 2});
  p.randomize(11);
  p.run();
  const auto by_default = test::convert<double>(p.out.cview());
  attention_options opt;
  opt.scale = static_cast<float>(1.0 / std::sqrt(3.0));
  p.run(opt);
  EXPECT_LT(test::max_abs_error(p.out.cview(), by_default.cview()), 1e-7);
  opt.scale = 1.0f;  // and a different scale really changes the result
  p.run(opt);
  EXPECT_GT(test::max_abs_error(p.out.cview(), by_default.cview()), 1e-3);
}

// ---- masks --------------------------------------------------------------------------------------

TEST(ReferenceForward, CausalBottomRightWithFewerQueriesThanKeys) {
  // Sq = 2, Sk = 4, o = 2: row i sees j <= i + 2.
  expect_visible_keys(2, 4, with_mask(true, alignment::bottom_right), {{0, 1, 2}, {0, 1, 2, 3}});
}

TEST(ReferenceForward, CausalTopLeftWithFewerQueriesThanKeys) {
  // o = 0: row i sees j <= i.
  expect_visible_keys(2, 4, with_mask(true, alignment::top_left), {{0}, {0, 1}});
}

TEST(ReferenceForward, CausalBottomRightWithMoreQueriesThanKeysHasEmptyRows) {
  // Sq = 4, Sk = 2, o = -2: row i sees j <= i - 2, so rows 0 and 1 see nothing.
  expect_visible_keys(4, 2, with_mask(true, alignment::bottom_right), {{}, {}, {0}, {0, 1}});
}

TEST(ReferenceForward, CausalTopLeftWithMoreQueriesThanKeys) {
  expect_visible_keys(4, 2, with_mask(true, alignment::top_left), {{0}, {0, 1}, {0, 1}, {0, 1}});
}

TEST(ReferenceForward, WindowBothSidesInBothAlignments) {
  // Window (2, 1): i + o - 2 <= j <= i + o + 1.
  // bottom_right, Sq = 3, Sk = 6, o = 3: [i + 1, i + 4] within [0, 5].
  expect_visible_keys(3, 6, with_mask(false, alignment::bottom_right, 2, 1),
                      {{1, 2, 3, 4}, {2, 3, 4, 5}, {3, 4, 5}});
  // top_left, o = 0: [i - 2, i + 1].
  expect_visible_keys(3, 6, with_mask(false, alignment::top_left, 2, 1),
                      {{0, 1}, {0, 1, 2}, {0, 1, 2, 3}});
}

TEST(ReferenceForward, WindowOneSided) {
  // Left only (1, -1), Sq = Sk = 4: j >= i - 1.
  expect_visible_keys(4, 4, with_mask(false, alignment::bottom_right, 1, -1),
                      {{0, 1, 2, 3}, {0, 1, 2, 3}, {1, 2, 3}, {2, 3}});
  // Right only (-1, 1): j <= i + 1.
  expect_visible_keys(4, 4, with_mask(false, alignment::bottom_right, -1, 1),
                      {{0, 1}, {0, 1, 2}, {0, 1, 2, 3}, {0, 1, 2, 3}});
}

TEST(ReferenceForward, WindowsOfTheLargestIndexBoundNothing) {
  // PTRDIFF_MAX is a valid window; i + o + window would overflow, the rule must not.
  constexpr index_t kMax = std::numeric_limits<index_t>::max();
  expect_visible_keys(3, 4, with_mask(false, alignment::bottom_right, kMax, kMax),
                      {{0, 1, 2, 3}, {0, 1, 2, 3}, {0, 1, 2, 3}});
  expect_visible_keys(3, 4, with_mask(true, alignment::top_left, kMax, kMax),
                      {{0}, {0, 1}, {0, 1, 2}});
  expect_visible_keys(4, 3, with_mask(false, alignment::bottom_right, kMax - 1, 0),
                      {{}, {0}, {0, 1}, {0, 1, 2}});
}

TEST(ReferenceForward, WindowCombinedWithCausal) {
  // causal and window_left 1: i - 1 <= j <= i.
  expect_visible_keys(4, 4, with_mask(true, alignment::bottom_right, 1, -1),
                      {{0}, {0, 1}, {1, 2}, {2, 3}});
  // causal and window_right 2: the tighter bound, causal, wins.
  expect_visible_keys(4, 4, with_mask(true, alignment::bottom_right, -1, 2),
                      {{0}, {0, 1}, {0, 1, 2}, {0, 1, 2, 3}});
}

TEST(ReferenceForward, WindowZeroZeroSeesExactlyTheDiagonalKey) {
  // One visible key: weight exp(z - z) / exp(0) = 1 exactly, so out = v of that key, bit for bit,
  // and lse = z = scale <q_i, k_j>.
  struct shape {
    index_t Sq, Sk;
    alignment align;
  };
  for (const shape s : {shape{5, 5, alignment::bottom_right}, shape{3, 5, alignment::bottom_right},
                        shape{5, 3, alignment::top_left}}) {
    const index_t o = s.align == alignment::bottom_right ? s.Sk - s.Sq : 0;
    dense_problem<float> p({2, s.Sq, s.Sk, 4, 2, 3, 5});
    p.randomize(21);
    p.run(with_mask(false, s.align, 0, 0));
    for (index_t b = 0; b < 2; ++b)
      for (index_t i = 0; i < s.Sq; ++i)
        for (index_t h = 0; h < 4; ++h) {
          const index_t j = i + o;
          if (j < 0 || j >= s.Sk) {  // top_left with Sq > Sk: the diagonal key does not exist
            EXPECT_EQ(p.lse(b, h, i), -std::numeric_limits<float>::infinity());
            for (index_t d = 0; d < 5; ++d) EXPECT_TRUE(test::is_positive_zero(p.out(b, i, h, d)));
            continue;
          }
          double dot = 0;
          for (index_t d = 0; d < 3; ++d) dot += double(p.q(b, i, h, d)) * double(p.k(b, j, h / 2, d));
          EXPECT_NEAR(p.lse(b, h, i), dot / std::sqrt(3.0), 1e-6);
          for (index_t d = 0; d < 5; ++d) EXPECT_EQ(p.out(b, i, h, d), p.v(b, j, h / 2, d));
        }
  }
}

TEST(ReferenceForward, CausalIsExactlyWindowRightZero) {
  for (const auto align : {alignment::bottom_right, alignment::top_left})
    for (const auto& [Sq, Sk] : {std::pair<index_t, index_t>{3, 7}, {7, 3}, {5, 5}})
      for (const index_t left : {index_t(-1), index_t(2)}) {
        SCOPED_TRACE(::testing::Message() << "Sq " << Sq << " Sk " << Sk << " left " << left);
        dense_problem<float> a({2, Sq, Sk, 2, 1, 3, 2}), w({2, Sq, Sk, 2, 1, 3, 2});
        a.randomize(31);
        w.randomize(31);
        a.run(with_mask(true, align, left, -1));
        w.run(with_mask(false, align, left, 0));
        EXPECT_EQ(a.out.storage(), w.out.storage());
        EXPECT_EQ(a.lse.storage(), w.lse.storage());
        // and the mask is not a no-op: the unmasked result differs
        w.run(with_mask(false, align, left, -1));
        EXPECT_NE(a.out.storage(), w.out.storage());
      }
}

// ---- score modifiers ----------------------------------------------------------------------------

TEST(ReferenceForward, SoftcapAppliesCTanhOfScaledLogit) {
  // softcap c = 2, raw logits (0, 2 atanh(ln3 / 2)): z = 2 tanh(raw / 2) = (0, ln 3), so the
  // weights are (1/4, 3/4) again: out = (1, 6) with v0 = (4, 0), v1 = (0, 8); lse = ln 4.
  dense_problem<double> p({1, 1, 2, 1, 1, 1, 2});
  p.q(0, 0, 0, 0) = 1.0;
  p.k(0, 1, 0, 0) = 2.0 * std::atanh(kLn3 / 2.0);
  p.v(0, 0, 0, 0) = 4.0;
  p.v(0, 1, 0, 1) = 8.0;
  attention_options opt;
  opt.scale = 1.0f;
  opt.softcap = 2.0f;
  p.run(opt);
  EXPECT_NEAR(p.out(0, 0, 0, 0), 1.0, 1e-14);
  EXPECT_NEAR(p.out(0, 0, 0, 1), 6.0, 1e-14);
  EXPECT_NEAR(p.lse(0, 0, 0), std::log(4.0), 1e-14);

  // c = 5 and raw logit +-1000: z = +-5 tanh(200) = +-5, weight of key 1 e^z / (1 + e^z).
  opt.softcap = 5.0f;
  for (const double raw : {1000.0, -1000.0}) {
    p.k(0, 1, 0, 0) = raw;
    p.run(opt);
    const double z = raw > 0 ? 5.0 : -5.0;
    EXPECT_NEAR(p.out(0, 0, 0, 0), 4.0 / (1.0 + std::exp(z)), 1e-14);
    EXPECT_NEAR(p.out(0, 0, 0, 1), 8.0 * std::exp(z) / (1.0 + std::exp(z)), 1e-13);
    EXPECT_NEAR(p.lse(0, 0, 0), std::log(1.0 + std::exp(z)), 1e-14);
  }
}

TEST(ReferenceForward, AlibiSubtractsSlopeTimesDistanceWithoutCausal) {
  // q = 0: z_ij = -slope_h |i + o - j|. Slope ln 2 gives exp(z) = 2^-|i+o-j|, slope ln 3 gives
  // 3^-|i+o-j|. Sq = Sk = 3 (o = 0 in both alignments):
  //   head 0: row 0 (1, 1/2, 1/4) / (7/4) = (4, 2, 1) / 7; row 1 (1/2, 1, 1/2) / 2 = (1, 2, 1) / 4;
  //           row 2 (1, 2, 4) / 7; lse ln(7/4), ln 2, ln(7/4).
  //   head 1: row 0 (1, 1/3, 1/9) / (13/9) = (9, 3, 1) / 13; row 1 (1/3, 1, 1/3) / (5/3) =
  //           (1, 3, 1) / 5; row 2 (1, 3, 9) / 13; lse ln(13/9), ln(5/3), ln(13/9).
  // j > i + o for some pairs, so the sign of i + o - j matters. The slopes are floats, so
  // z carries a 1e-7 relative error.
  dense_problem<double> p({1, 3, 3, 2, 1, 1, 3});
  for (index_t j = 0; j < 3; ++j) p.v(0, j, 0, j) = 1.0;
  test::owned_options o;
  o.alibi_slopes = {float(kLn2), float(kLn3)};
  p.run(o.options());
  const double want[2][3][3] = {{{4 / 7., 2 / 7., 1 / 7.}, {.25, .5, .25}, {1 / 7., 2 / 7., 4 / 7.}},
                                {{9 / 13., 3 / 13., 1 / 13.}, {.2, .6, .2}, {1 / 13., 3 / 13., 9 / 13.}}};
  const double want_lse[2][3] = {{std::log(7 / 4.), kLn2, std::log(7 / 4.)},
                                 {std::log(13 / 9.), std::log(5 / 3.), std::log(13 / 9.)}};
  for (index_t h = 0; h < 2; ++h)
    for (index_t i = 0; i < 3; ++i) {
      for (index_t j = 0; j < 3; ++j) EXPECT_NEAR(p.out(0, i, h, j), want[h][i][j], 2e-7);
      EXPECT_NEAR(p.lse(0, h, i), want_lse[h][i], 2e-7);
    }
}

TEST(ReferenceForward, AlibiDistanceUsesTheAlignmentOffset) {
  // Sq = 2, Sk = 3, slope ln 2, q = 0.
  // bottom_right (o = 1): row 0 distances (1, 0, 1) -> (1, 2, 1) / 4; row 1 (2, 1, 0) -> (1, 2, 4) / 7.
  // top_left (o = 0): row 0 (0, 1, 2) -> (4, 2, 1) / 7; row 1 (1, 0, 1) -> (1, 2, 1) / 4.
  // With causal, bottom_right, Sq = Sk = 3: row 0 {0} -> 1; row 1 (1/2, 1) -> (1, 2) / 3;
  // row 2 (1/4, 1/2, 1) -> (1, 2, 4) / 7.
  test::owned_options o;
  o.alibi_slopes = {float(kLn2)};
  const std::vector<double> q14 = {.25, .5, .25}, q7 = {1 / 7., 2 / 7., 4 / 7.}, q7r = {4 / 7., 2 / 7., 1 / 7.};
  auto check = [&](index_t Sq, alignment align, bool causal,
                   const std::vector<std::vector<double>>& want) {
    dense_problem<double> p({1, Sq, 3, 1, 1, 1, 3});
    for (index_t j = 0; j < 3; ++j) p.v(0, j, 0, j) = 1.0;
    o.align = align;
    o.causal = causal;
    p.run(o.options());
    for (index_t i = 0; i < Sq; ++i)
      for (index_t j = 0; j < 3; ++j)
        EXPECT_NEAR(p.out(0, i, 0, j), want[i][j], 2e-7) << "row " << i << " key " << j;
  };
  check(2, alignment::bottom_right, false, {q14, q7});
  check(2, alignment::top_left, false, {q7r, q14});
  check(3, alignment::bottom_right, true, {{1, 0, 0}, {1 / 3., 2 / 3., 0}, q7});
}

TEST(ReferenceForward, BiasIsAddedPerBatchHeadQueryKey) {
  // q = 0 and bias = ln c: the weights are c_j / sum c and lse = ln sum c, for
  // c(b, h, i, j) = 1 + j (1 + b + 2h + 3i), different in every batch, head and row.
  const dims n{2, 2, 3, 2, 1, 1, 3};
  dense_problem<double> p(n);
  for (index_t j = 0; j < 3; ++j) p.v(0, j, 0, j) = p.v(1, j, 0, j) = 1.0;
  auto c = [](index_t b, index_t h, index_t i, index_t j) { return 1.0 + j * (1.0 + b + 2 * h + 3 * i); };
  test::owned_options o;
  o.bias.emplace(std::array<index_t, 4>{2, 2, 2, 3});
  test::for_each_index(o.bias->extents(), [&](const auto& x) {
    (*o.bias)(x[0], x[1], x[2], x[3]) = float(std::log(c(x[0], x[1], x[2], x[3])));
  });
  p.run(o.options());
  for (index_t b = 0; b < 2; ++b)
    for (index_t h = 0; h < 2; ++h)
      for (index_t i = 0; i < 2; ++i) {
        const double sum = c(b, h, i, 0) + c(b, h, i, 1) + c(b, h, i, 2);
        for (index_t j = 0; j < 3; ++j) EXPECT_NEAR(p.out(b, i, h, j), c(b, h, i, j) / sum, 1e-7);
        EXPECT_NEAR(p.lse(b, h, i), std::log(sum), 1e-6);
      }
}

TEST(ReferenceForward, BiasBroadcastsThroughExtentOneAndStrideZero) {
  // bias = (ln 1, ln 2, ln 5) over the keys, the same for every b, h, i: weights (1, 2, 5) / 8,
  // lse ln 8; given once with extents [1, 1, 1, 3] and once as [2, 2, 2, 3] with strides (0, 0, 0, 1).
  const dims n{2, 2, 3, 2, 1, 1, 3};
  const std::vector<float> row = {0.0f, float(kLn2), float(kLn5)};
  auto run = [&](tensor_view<const float, 4> bias) {
    dense_problem<double> p(n);
    for (index_t j = 0; j < 3; ++j) p.v(0, j, 0, j) = p.v(1, j, 0, j) = 1.0;
    attention_options opt;
    opt.bias = bias;
    p.run(opt);
    for (index_t b = 0; b < 2; ++b)
      for (index_t h = 0; h < 2; ++h)
        for (index_t i = 0; i < 2; ++i) {
          EXPECT_NEAR(p.out(b, i, h, 0), 1 / 8., 1e-7);
          EXPECT_NEAR(p.out(b, i, h, 1), 2 / 8., 1e-7);
          EXPECT_NEAR(p.out(b, i, h, 2), 5 / 8., 1e-7);
          EXPECT_NEAR(p.lse(b, h, i), std::log(8.0), 1e-6);
        }
    return p.out.storage();
  };
  const auto by_extent = run(tensor_view<const float, 4>(row.data(), {1, 1, 1, 3}));
  const auto by_stride = run(tensor_view<const float, 4>(row.data(), {2, 2, 2, 3}, {0, 0, 0, 1}));
  EXPECT_EQ(by_extent, by_stride);
}

TEST(ReferenceForward, BiasBroadcastOverKeysShiftsOnlyLse) {
  // bias [B, 1, Sq, 1] = ln c(b, i), constant over keys and heads: the weights stay uniform
  // (1/3 each) and lse = ln 3 + ln c(b, i), with c = 1 + b + 2i.
  const dims n{2, 2, 3, 2, 1, 1, 3};
  dense_problem<double> p(n);
  for (index_t j = 0; j < 3; ++j) p.v(0, j, 0, j) = p.v(1, j, 0, j) = 1.0;
  test::owned_options o;
  o.bias.emplace(std::array<index_t, 4>{2, 1, 2, 1});
  for (index_t b = 0; b < 2; ++b)
    for (index_t i = 0; i < 2; ++i) (*o.bias)(b, 0, i, 0) = float(std::log(1.0 + b + 2 * i));
  p.run(o.options());
  for (index_t b = 0; b < 2; ++b)
    for (index_t h = 0; h < 2; ++h)
      for (index_t i = 0; i < 2; ++i) {
        for (index_t j = 0; j < 3; ++j) EXPECT_NEAR(p.out(b, i, h, j), 1 / 3., 1e-15);
        EXPECT_NEAR(p.lse(b, h, i), std::log(3.0 * (1.0 + b + 2 * i)), 1e-6);
      }
}

TEST(ReferenceForward, MinusInfinityBiasMasksLikeAnInvisibleKey) {
  // DESIGN 1.3 rule 2 makes invisible entries -inf, so a -inf bias is a mask: bias (-inf, 0, -inf)
  // leaves key 1 alone (out = v1, lse = 0); a row whose every logit is -inf is empty (out 0, lse -inf).
  dense_problem<double> p({1, 2, 3, 1, 1, 1, 3});
  for (index_t j = 0; j < 3; ++j) p.v(0, j, 0, j) = 1.0;
  const float ninf = -std::numeric_limits<float>::infinity();
  const std::vector<float> bias = {ninf, 0.0f, ninf, ninf, ninf, ninf};
  attention_options opt;
  opt.bias = tensor_view<const float, 4>(bias.data(), {1, 1, 2, 3});
  p.run(opt);
  EXPECT_EQ(p.out(0, 0, 0, 0), 0.0);
  EXPECT_EQ(p.out(0, 0, 0, 1), 1.0);
  EXPECT_EQ(p.out(0, 0, 0, 2), 0.0);
  EXPECT_EQ(p.lse(0, 0, 0), 0.0);
  for (index_t j = 0; j < 3; ++j) EXPECT_TRUE(test::is_positive_zero(p.out(0, 1, 0, j)));
  EXPECT_EQ(p.lse(0, 0, 1), -kInf);
}

// ---- sinks --------------------------------------------------------------------------------------

TEST(ReferenceForward, SinkJoinsOnlyTheDenominator) {
  // q = 0, Sk = 2: z = (0, 0). Head 0 sink ln 2: denominator 2 + 1 + 1 = 4, weights (1/4, 1/4),
  // out = (4, 0)/4 + (0, 8)/4 = (1, 2), lse = ln 4. Head 1 sink ln 6: denominator 8,
  // out = (1/2, 1), lse = ln 8. Head 2 sink -inf contributes exp(-inf) = 0: out = (2, 4), lse = ln 2.
  dense_problem<double> p({1, 1, 2, 3, 1, 1, 2});
  p.v(0, 0, 0, 0) = 4.0;
  p.v(0, 1, 0, 1) = 8.0;
  test::owned_options o;
  o.sinks = {float(kLn2), float(std::log(6.0)), -std::numeric_limits<float>::infinity()};
  p.run(o.options());
  EXPECT_NEAR(p.out(0, 0, 0, 0), 1.0, 1e-7);
  EXPECT_NEAR(p.out(0, 0, 0, 1), 2.0, 1e-7);
  EXPECT_NEAR(p.lse(0, 0, 0), std::log(4.0), 1e-7);
  EXPECT_NEAR(p.out(0, 0, 1, 0), 0.5, 1e-7);
  EXPECT_NEAR(p.out(0, 0, 1, 1), 1.0, 1e-7);
  EXPECT_NEAR(p.lse(0, 1, 0), std::log(8.0), 1e-7);
  EXPECT_DOUBLE_EQ(p.out(0, 0, 2, 0), 2.0);
  EXPECT_DOUBLE_EQ(p.out(0, 0, 2, 1), 4.0);
  EXPECT_DOUBLE_EQ(p.lse(0, 2, 0), kLn2);
}

TEST(ReferenceForward, EmptyRowWithSinkHasLseOfTheSinkAndZeroOutput) {
  // causal bottom_right, Sq = 3, Sk = 2 (o = -1): row 0 sees nothing -> out 0, lse = sink.
  // Rows 1 and 2 see keys: lse = ln(e^s + sum e^z) > s.
  dense_problem<float> p({1, 3, 2, 2, 1, 4, 3});
  p.randomize(41);
  test::owned_options o;
  o.causal = true;
  o.sinks = {0.75f, -2.5f};
  p.run(o.options());
  for (index_t h = 0; h < 2; ++h) {
    EXPECT_EQ(p.lse(0, h, 0), o.sinks[h]);
    for (index_t d = 0; d < 3; ++d) EXPECT_TRUE(test::is_positive_zero(p.out(0, 0, h, d)));
    for (index_t i = 1; i < 3; ++i) EXPECT_GT(p.lse(0, h, i), o.sinks[h]);
  }
  EXPECT_EQ(test::count_non_finite(p.out.cview()), 0);
}

// ---- heads and head dims ------------------------------------------------------------------------

TEST(ReferenceForward, GqaQueryHeadReadsKvHeadHDividedByGroup) {
  // Sk = 2, q = 1, scale 1. kv head g has k = (0, ln 3) for even g and (ln 3, 0) for odd g, and
  // v = (10 (g+1), 20 (g+1)): weights (1/4, 3/4) give out = 17.5 (g+1), weights (3/4, 1/4) give
  // 12.5 (g+1). Query head h must read g = h / (Hq / Hkv), not h % Hkv.
  for (const auto& [Hq, Hkv] : {std::pair<index_t, index_t>{4, 2}, {6, 3}, {6, 2}, {3, 1}, {2, 2}}) {
    SCOPED_TRACE(::testing::Message() << "Hq " << Hq << " Hkv " << Hkv);
    dense_problem<double> p({1, 1, 2, Hq, Hkv, 1, 1});
    for (index_t h = 0; h < Hq; ++h) p.q(0, 0, h, 0) = 1.0;
    for (index_t g = 0; g < Hkv; ++g) {
      p.k(0, g % 2 == 0 ? 1 : 0, g, 0) = kLn3;
      p.v(0, 0, g, 0) = 10.0 * (g + 1);
      p.v(0, 1, g, 0) = 20.0 * (g + 1);
    }
    attention_options opt;
    opt.scale = 1.0f;
    p.run(opt);
    for (index_t h = 0; h < Hq; ++h) {
      const index_t g = h / (Hq / Hkv);
      EXPECT_NEAR(p.out(0, 0, h, 0), (g % 2 == 0 ? 17.5 : 12.5) * (g + 1), 1e-12) << "head " << h;
    }
  }
}

TEST(ReferenceForward, ValueHeadDimDiffersFromKeyHeadDim) {
  // D = 3, Dv = 5, q = 0: out = mean of v0 = (1..5) and v1 = (3..7) = (2..6).
  dense_problem<double> p({1, 1, 2, 1, 1, 3, 5});
  p.k(0, 0, 0, 1) = 7.0;  // irrelevant with q = 0
  for (index_t d = 0; d < 5; ++d) {
    p.v(0, 0, 0, d) = 1.0 + d;
    p.v(0, 1, 0, d) = 3.0 + d;
  }
  p.run();
  for (index_t d = 0; d < 5; ++d) EXPECT_DOUBLE_EQ(p.out(0, 0, 0, d), 2.0 + d);
  EXPECT_DOUBLE_EQ(p.lse(0, 0, 0), kLn2);

  // D = 5, Dv = 1, scale 1, q = (1, 1, 0, 0, 0), k1 = (ln3/2, ln3/2, 0, 0, 0): <q, k1> = ln 3,
  // weights (1/4, 3/4); v = (4, 8): out = 7, lse = ln 4.
  dense_problem<double> r({1, 1, 2, 1, 1, 5, 1});
  r.q(0, 0, 0, 0) = r.q(0, 0, 0, 1) = 1.0;
  r.k(0, 1, 0, 0) = r.k(0, 1, 0, 1) = kLn3 / 2;
  r.v(0, 0, 0, 0) = 4.0;
  r.v(0, 1, 0, 0) = 8.0;
  attention_options opt;
  opt.scale = 1.0f;
  r.run(opt);
  EXPECT_NEAR(r.out(0, 0, 0, 0), 7.0, 1e-14);
  EXPECT_NEAR(r.lse(0, 0, 0), std::log(4.0), 1e-15);
}

// ---- extremes -----------------------------------------------------------------------------------

TEST(ReferenceForward, EmptyRowsAreExactZeroWithMinusInfinityLseAndNoNaN) {
  // causal bottom_right, Sq = 5, Sk = 2 (o = -3): rows 0..2 see nothing, 3 sees {0}, 4 sees {0, 1}.
  // top_left window (0, 0) with Sq = 4, Sk = 2: rows 2 and 3 would need keys 2 and 3.
  struct shape {
    index_t Sq, Sk;
    attention_options opt;
    index_t first_visible_row, last_visible_row;
  };
  const shape shapes[] = {{5, 2, with_mask(true, alignment::bottom_right), 3, 4},
                          {4, 2, with_mask(false, alignment::top_left, 0, 0), 0, 1}};
  for (const auto& s : shapes) {
    dense_problem<float> p({2, s.Sq, s.Sk, 2, 1, 3, 4});
    p.randomize(51, -3.0, 3.0);
    p.run(s.opt);
    for (index_t b = 0; b < 2; ++b)
      for (index_t h = 0; h < 2; ++h)
        for (index_t i = 0; i < s.Sq; ++i) {
          const bool visible = i >= s.first_visible_row && i <= s.last_visible_row;
          if (visible) {
            EXPECT_TRUE(std::isfinite(p.lse(b, h, i)));
          } else {
            EXPECT_EQ(p.lse(b, h, i), -std::numeric_limits<float>::infinity());
            for (index_t d = 0; d < 4; ++d) EXPECT_TRUE(test::is_positive_zero(p.out(b, i, h, d)));
          }
        }
    EXPECT_EQ(test::count_non_finite(p.out.cview()), 0);
  }
}

TEST(ReferenceForward, SingleKeyGivesVExactly) {
  // Sk = 1: the one weight is exp(z - z) / 1 = 1 whatever the score modifiers, so out = v bit for
  // bit; lse = z = scale <q, k> without modifiers.
  dense_problem<float> p({2, 3, 1, 4, 2, 5, 3});
  p.randomize(61, -4.0, 4.0);
  p.run();
  for (index_t b = 0; b < 2; ++b)
    for (index_t i = 0; i < 3; ++i)
      for (index_t h = 0; h < 4; ++h) {
        for (index_t d = 0; d < 3; ++d) EXPECT_EQ(p.out(b, i, h, d), p.v(b, 0, h / 2, d));
        double dot = 0;
        for (index_t d = 0; d < 5; ++d) dot += double(p.q(b, i, h, d)) * double(p.k(b, 0, h / 2, d));
        EXPECT_NEAR(p.lse(b, h, i), dot / std::sqrt(5.0), 1e-5);
      }
  const auto plain = p.out.storage();
  test::owned_options o;
  o.softcap = 0.5f;
  o.alibi_slopes = {0.5f, 1.0f, 2.0f, 4.0f};
  o.bias.emplace(std::array<index_t, 4>{2, 4, 3, 1});
  test::fill_uniform(o.bias->view(), 62, -3.0, 3.0);
  p.run(o.options());
  EXPECT_EQ(p.out.storage(), plain);
}

TEST(ReferenceForward, ZeroKeysGiveEmptyRows) {
  // Sk = 0: every row is empty: out = 0, lse = -inf, or lse = sink with sinks.
  dense_problem<float> p({2, 3, 0, 2, 1, 4, 3});
  p.randomize(71);
  p.run();
  for (const float x : p.out.storage()) EXPECT_TRUE(test::is_positive_zero(x));
  for (const float x : p.lse.storage()) EXPECT_EQ(x, -std::numeric_limits<float>::infinity());
  test::owned_options o;
  o.sinks = {1.5f, -0.25f};
  p.run(o.options());
  for (const float x : p.out.storage()) EXPECT_TRUE(test::is_positive_zero(x));
  for (index_t b = 0; b < 2; ++b)
    for (index_t h = 0; h < 2; ++h)
      for (index_t i = 0; i < 3; ++i) EXPECT_EQ(p.lse(b, h, i), o.sinks[h]);
}

TEST(ReferenceForward, ZeroQueriesAreAValidCall) {
  // Sq = 0 with B = 2: the contiguous out [2, 0, 2, 3] and lse [2, 2, 0] have stride(0) = 0
  // because their size is 0; nothing can alias, so the call is valid and writes nothing.
  dense_problem<float> p({2, 0, 3, 2, 1, 4, 3});
  p.randomize(72);
  EXPECT_NO_THROW(p.run());
}

TEST(ReferenceForward, LogitsOfTenThousandDoNotOverflow) {
  // q = 1, scale 1. k = (1e4, 1e4 + ln 3): weights (1/4, 3/4), lse = 1e4 + ln 4.
  // k = (-1e4, -1e4 + ln 3): the same weights, lse = -1e4 + ln 4.
  // k = (1e4, -1e4): weights (1, e^-2e4 = 0): out = v0 exactly, lse = 1e4.
  // v0 = (4, 0), v1 = (0, 8).
  attention_options opt;
  opt.scale = 1.0f;
  auto run = [&](double k0, double k1) {
    dense_problem<double> p({1, 1, 2, 1, 1, 1, 2});
    p.q(0, 0, 0, 0) = 1.0;
    p.k(0, 0, 0, 0) = k0;
    p.k(0, 1, 0, 0) = k1;
    p.v(0, 0, 0, 0) = 4.0;
    p.v(0, 1, 0, 1) = 8.0;
    p.run(opt);
    return p;
  };
  for (const double big : {1e4, -1e4}) {
    const auto p = run(big, big + kLn3);
    EXPECT_NEAR(p.out(0, 0, 0, 0), 1.0, 1e-11);
    EXPECT_NEAR(p.out(0, 0, 0, 1), 6.0, 1e-11);
    EXPECT_NEAR(p.lse(0, 0, 0), big + std::log(4.0), 1e-11);
  }
  const auto p = run(1e4, -1e4);
  EXPECT_EQ(p.out(0, 0, 0, 0), 4.0);
  EXPECT_TRUE(test::is_positive_zero(p.out(0, 0, 0, 1)));
  EXPECT_EQ(p.lse(0, 0, 0), 1e4);

  // float, D = 1, scale 1: q = (100, -100) against k = (100, -100) gives row 0 z = (1e4, -1e4)
  // and row 1 z = (-1e4, 1e4): out = v0 and v1 exactly, lse = 1e4.
  dense_problem<float> f({1, 2, 2, 1, 1, 1, 2});
  f.q(0, 0, 0, 0) = 100.0f;
  f.q(0, 1, 0, 0) = -100.0f;
  f.k(0, 0, 0, 0) = 100.0f;
  f.k(0, 1, 0, 0) = -100.0f;
  f.v(0, 0, 0, 0) = 4.0f;
  f.v(0, 1, 0, 1) = 8.0f;
  f.run(opt);
  EXPECT_EQ(f.out(0, 0, 0, 0), 4.0f);
  EXPECT_EQ(f.out(0, 0, 0, 1), 0.0f);
  EXPECT_EQ(f.lse(0, 0, 0), 1e4f);
  EXPECT_EQ(f.out(0, 1, 0, 0), 0.0f);
  EXPECT_EQ(f.out(0, 1, 0, 1), 8.0f);
  EXPECT_EQ(f.lse(0, 0, 1), 1e4f);
  // k = (-100, -100): row 0 z = (-1e4, -1e4), row 1 z = (1e4, 1e4): weights (1/2, 1/2),
  // out = (2, 4), lse = -+1e4 + ln 2.
  f.k(0, 0, 0, 0) = -100.0f;
  f.run(opt);
  for (index_t i = 0; i < 2; ++i) {
    EXPECT_EQ(f.out(0, i, 0, 0), 2.0f);
    EXPECT_EQ(f.out(0, i, 0, 1), 4.0f);
    EXPECT_NEAR(f.lse(0, 0, i), (i == 0 ? -1e4 : 1e4) + kLn2, 1e-3);
  }

  // float, D = 64, default scale 1/8: q = k = 12.5 gives z = 64 * 156.25 / 8 = 1250 for every key.
  dense_problem<float> g({1, 3, 5, 2, 1, 64, 4});
  g.randomize(73);
  for (float& x : g.q.storage()) x = 12.5f;
  for (float& x : g.k.storage()) x = 12.5f;
  g.run();  // every z = 1250: uniform weights over 5 keys, lse = 1250 + ln 5
  for (index_t h = 0; h < 2; ++h)
    for (index_t i = 0; i < 3; ++i) {
      EXPECT_NEAR(g.lse(0, h, i), 1250.0 + kLn5, 1e-3);
      for (index_t d = 0; d < 4; ++d) {
        double mean = 0;
        for (index_t j = 0; j < 5; ++j) mean += g.v(0, j, 0, d) / 5.0;
        EXPECT_NEAR(g.out(0, i, h, d), mean, 1e-6);
      }
    }
}

// ---- NaN ----------------------------------------------------------------------------------------

// causal top_left, Sq = Sk = 4: row i sees keys 0..i.
dense_problem<float> nan_problem() {
  dense_problem<float> p({1, 4, 4, 1, 1, 2, 2});
  p.randomize(81);
  return p;
}

TEST(ReferenceForward, NaNInAVisibleKeyReachesExactlyTheRowsThatSeeIt) {
  auto p = nan_problem();
  p.k(0, 2, 0, 1) = float(kNaN);  // seen by rows 2, 3
  p.run(with_mask(true, alignment::top_left));
  for (index_t i = 0; i < 4; ++i) {
    const bool sees = i >= 2;
    EXPECT_EQ(std::isnan(p.lse(0, 0, i)), sees) << "row " << i;
    for (index_t d = 0; d < 2; ++d) EXPECT_EQ(std::isnan(p.out(0, i, 0, d)), sees) << "row " << i;
    if (!sees) {
      EXPECT_TRUE(std::isfinite(p.lse(0, 0, i)));
    }
  }
}

TEST(ReferenceForward, NaNInAVisibleValueReachesExactlyTheOutputsThatSumIt) {
  auto p = nan_problem();
  p.v(0, 1, 0, 0) = float(kNaN);  // key 1 is seen by rows 1..3; only column 0 of out sums it
  p.run(with_mask(true, alignment::top_left));
  for (index_t i = 0; i < 4; ++i) {
    EXPECT_EQ(std::isnan(p.out(0, i, 0, 0)), i >= 1) << "row " << i;
    EXPECT_TRUE(std::isfinite(p.out(0, i, 0, 1))) << "row " << i;
    EXPECT_TRUE(std::isfinite(p.lse(0, 0, i))) << "row " << i;
  }
}

TEST(ReferenceForward, NaNInAQueryReachesOnlyItsRow) {
  auto p = nan_problem();
  p.q(0, 1, 0, 0) = float(kNaN);
  p.run(with_mask(true, alignment::top_left));
  for (index_t i = 0; i < 4; ++i) {
    EXPECT_EQ(std::isnan(p.lse(0, 0, i)), i == 1) << "row " << i;
    for (index_t d = 0; d < 2; ++d) EXPECT_EQ(std::isnan(p.out(0, i, 0, d)), i == 1) << "row " << i;
  }
}

TEST(ReferenceForward, NaNInAnInvisibleKeyOrValueDoesNotPropagate) {
  // causal top_left, Sq = 2, Sk = 4: keys 2 and 3 are invisible to every row.
  dense_problem<float> clean({1, 2, 4, 1, 1, 2, 2});
  clean.randomize(82);
  auto dirty = clean;
  dirty.k(0, 3, 0, 0) = float(kNaN);
  dirty.v(0, 2, 0, 1) = float(kNaN);
  clean.run(with_mask(true, alignment::top_left));
  dirty.run(with_mask(true, alignment::top_left));
  EXPECT_EQ(test::count_non_finite(dirty.out.cview()), 0);
  EXPECT_EQ(dirty.out.storage(), clean.out.storage());
  EXPECT_EQ(dirty.lse.storage(), clean.lse.storage());

  // window_left 1 (non-causal), Sq = Sk = 4: key 0 is seen by rows 0 and 1 only.
  auto w = nan_problem();
  w.k(0, 0, 0, 0) = float(kNaN);
  w.run(with_mask(false, alignment::top_left, 1, -1));
  for (index_t i = 0; i < 4; ++i) EXPECT_EQ(std::isnan(w.lse(0, 0, i)), i <= 1) << "row " << i;
}

TEST(ReferenceForward, NaNInTheBiasReachesOnlyItsVisibleRow) {
  // causal top_left, Sq = Sk = 4. NaN at bias (0, 0, 1, 3) is masked (3 > 1): nothing changes.
  // NaN at bias (0, 0, 2, 1) is visible: row 2 only.
  auto p = nan_problem();
  test::owned_options o;
  o.causal = true;
  o.align = alignment::top_left;
  o.bias.emplace(std::array<index_t, 4>{1, 1, 4, 4});
  (*o.bias)(0, 0, 1, 3) = float(kNaN);
  p.run(o.options());
  EXPECT_EQ(test::count_non_finite(p.out.cview()), 0);
  EXPECT_EQ(test::count_non_finite(p.lse.cview()), 0);
  (*o.bias)(0, 0, 2, 1) = float(kNaN);
  p.run(o.options());
  for (index_t i = 0; i < 4; ++i) EXPECT_EQ(std::isnan(p.lse(0, 0, i)), i == 2) << "row " << i;
}

// ---- layouts and types --------------------------------------------------------------------------

TEST(ReferenceForward, BhsdStridedViewsEqualContiguousBshd) {
  // q, k, v, out stored [B, H, S, D] with 3 padding elements per row (NaN in the inputs' padding,
  // a sentinel in the output's); lse stored [B, Sq, Hq]. The result must equal the contiguous
  // call bit for bit, and no padding may be read (NaN would show) or written.
  const dims n{2, 5, 7, 4, 2, 3, 6};
  dense_problem<float> dense(n);
  dense.randomize(91);
  const std::array<std::size_t, 4> bhsd = {0, 2, 1, 3};
  const float nan = float(kNaN), sentinel = 12345.0f;
  test::tensor<float, 4> q({n.B, n.Sq, n.Hq, n.D}, bhsd, 3, nan), k({n.B, n.Sk, n.Hkv, n.D}, bhsd, 3, nan),
      v({n.B, n.Sk, n.Hkv, n.Dv}, bhsd, 3, nan), out({n.B, n.Sq, n.Hq, n.Dv}, bhsd, 3, sentinel);
  test::tensor<float, 3> lse({n.B, n.Hq, n.Sq}, {0, 2, 1}, 0, sentinel);
  test::for_each_index(q.extents(), [&](const auto& x) { test::at(q.view(), x) = test::at(dense.q.view(), x); });
  test::for_each_index(k.extents(), [&](const auto& x) { test::at(k.view(), x) = test::at(dense.k.view(), x); });
  test::for_each_index(v.extents(), [&](const auto& x) { test::at(v.view(), x) = test::at(dense.v.view(), x); });
  test::owned_options o;
  o.causal = true;
  o.window_left = 3;
  o.alibi_slopes = {0.25f, 0.5f, 0.75f, 1.0f};
  o.sinks = {0.1f, 0.2f, 0.3f, 0.4f};
  o.bias.emplace(std::array<index_t, 4>{n.B, n.Hq, n.Sq, n.Sk});
  test::fill_uniform(o.bias->view(), 92);
  dense.run(o.options());
  reference::attention<float>(q.cview(), k.cview(), v.cview(), out.view(), o.options(), lse.view());
  EXPECT_EQ(test::max_abs_error(out.cview(), dense.out.cview()), 0.0);
  EXPECT_EQ(test::max_abs_error(lse.cview(), dense.lse.cview()), 0.0);
  EXPECT_EQ(test::count_non_finite(out.cview()), 0);
  const auto untouched = std::count(out.storage().begin(), out.storage().end(), sentinel);
  EXPECT_EQ(static_cast<index_t>(untouched), static_cast<index_t>(out.storage().size()) - out.view().size());
}

TEST(ReferenceForward, LseIsOptional) {
  dense_problem<float> p({2, 3, 5, 2, 2, 4, 3});
  p.randomize(101);
  p.run();
  const auto with_lse = p.out.storage();
  test::tensor<float, 4> out(p.out.extents());
  reference::attention<float>(p.q.cview(), p.k.cview(), p.v.cview(), out.view());
  EXPECT_EQ(out.storage(), with_lse);
  EXPECT_EQ(test::count_non_finite(out.cview()), 0);
}

TEST(ReferenceForward, DoubleOracleKeepsDoublePrecisionInOutAndLse) {
  // q = 1, k = (0, 1e-12), scale 1, v = (0, 1): out = 1 / (1 + e^-1e-12) = 1/2 + 2.5e-13 and
  // lse = ln(1 + e^1e-12) = ln 2 + 5e-13, both lost in float.
  dense_problem<double> p({1, 1, 2, 1, 1, 1, 1});
  p.q(0, 0, 0, 0) = 1.0;
  p.k(0, 1, 0, 0) = 1e-12;
  p.v(0, 1, 0, 0) = 1.0;
  attention_options opt;
  opt.scale = 1.0f;
  p.run(opt);
  // (one double ulp of 0.5 and of ln 2 is 1.1e-16; one float ulp is 6e-8)
  EXPECT_NEAR(p.out(0, 0, 0, 0) - 0.5, 2.5e-13, 2e-16);
  EXPECT_NEAR(p.lse(0, 0, 0) - kLn2, 5e-13, 3e-16);
  static_assert(std::is_same_v<decltype(p.lse), test::tensor<double, 3>>);
}

template <class T>
class ReferenceForwardHalf : public ::testing::Test {};
using half_types = ::testing::Types<bf16, fp16>;
TYPED_TEST_SUITE(ReferenceForwardHalf, half_types);

TYPED_TEST(ReferenceForwardHalf, RunsAndRoundsTheDoubleResult) {
  // 16-bit inputs, converted exactly to double for the oracle; the 16-bit output must be the
  // double result rounded (half an ulp: at most 2^-8 relative for bf16, 2^-11 for fp16, plus the
  // float step in between and fp16's subnormal step) and the float lse the double lse.
  using T = TypeParam;
  const double half_ulp = std::is_same_v<T, bf16> ? 0x1p-8 : 0x1p-11;
  const dims n{2, 5, 7, 4, 2, 8, 6};
  dense_problem<T, float> p(n);
  p.randomize(111);
  test::owned_options o;
  o.causal = true;
  o.softcap = 3.0f;
  p.run(o.options());
  dense_problem<double> ref(n);
  ref.q = test::convert<double>(p.q.cview());
  ref.k = test::convert<double>(p.k.cview());
  ref.v = test::convert<double>(p.v.cview());
  ref.run(o.options());
  test::for_each_index(p.out.extents(), [&](const auto& x) {
    const double want = test::at(ref.out.view(), x), got = float(test::at(p.out.view(), x));
    EXPECT_LE(std::fabs(got - want), half_ulp * (1 + 1e-6) * std::fabs(want) + 0x1p-25);
  });
  EXPECT_LT(test::max_abs_error(p.lse.cview(), ref.lse.cview()), 1e-6);
  EXPECT_LT(test::rms_relative_error(p.out.cview(), ref.out.cview()), 4 * half_ulp);
}

}  // namespace
}  // namespace attnkit
