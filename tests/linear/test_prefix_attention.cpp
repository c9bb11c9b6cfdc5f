// SPDX-License-Identifier: Apache-2.0
// Tests of prefix_attention against the O(T^2) double reference: odd lengths, one and two
// threads (the chunked scan), large logits, -inf and NaN keys, bad shapes.
#include <attnkit/linear/prefix_attention.hpp>
#include <attnkit/linear/reference_prefix_attention.hpp>

#include <cmath>
#include <limits>
#include <string>

#include <gtest/gtest.h>

#include "exact/argument_cases.hpp"
#include "support/random.hpp"
#include "support/tensor.hpp"
#include "support/tolerance.hpp"

namespace attnkit::test {
namespace {

void expect_matches_reference(const tensor<float, 2>& q, const tensor<float, 4>& k,
                              const tensor<float, 4>& v, float scale = 0.0f) {
  const auto e = v.extents();
  tensor<float, 4> out(e, -5.0f);
  prefix_attention(q.cview(), k.cview(), v.cview(), out.view(), scale);
  tensor<double, 4> want(e);
  const auto qd = convert<double>(q.cview());
  const auto kd = convert<double>(k.cview()), vd = convert<double>(v.cview());
  reference::prefix_attention<double>(qd.cview(), kd.cview(), vd.cview(), want.view(), scale);
  EXPECT_LT(max_abs_error(out.cview(), want.cview()), 2e-5);
}

TEST(PrefixAttention, MatchesReferenceOnOddSizesAndThreadCounts) {
  const int saved = get_num_threads();
  struct size {
    index_t B, T, H, K, V;
  };
  for (const size n : {size{1, 1, 1, 1, 1}, size{2, 63, 3, 5, 7}, size{1, 200, 1, 16, 9}, size{1, 65, 2, 8, 8}}) {
    for (int threads : {1, 2}) {
      SCOPED_TRACE("T " + std::to_string(n.T) + " threads " + std::to_string(threads));
      set_num_threads(threads);
      const auto q = random_tensor<float, 2>({n.H, n.K}, 1);
      const auto k = random_tensor<float, 4>({n.B, n.T, n.H, n.K}, 2);
      const auto v = random_tensor<float, 4>({n.B, n.T, n.H, n.V}, 3);
      expect_matches_reference(q, k, v);
      expect_matches_reference(q, k, v, 3.0f);  // sharper: the running max moves
    }
  }
  set_num_threads(saved);
}

TEST(PrefixAttention, LargeLogitsDoNotOverflow) {
  const auto q = random_tensor<float, 2>({1, 4}, 7);
  auto k = random_tensor<float, 4>({1, 50, 1, 4}, 8);
  const auto v = random_tensor<float, 4>({1, 50, 1, 3}, 9);
  for (index_t t = 0; t < 50; ++t)
    for (index_t d = 0; d < 4; ++d) k(0, t, 0, d) *= float(10 + 20 * (t % 7));
  expect_matches_reference(q, k, v, 10.0f);
}

TEST(PrefixAttention, MaskedAndNonFiniteKeys) {
  const int saved = get_num_threads();
  for (int threads : {1, 2}) {
    set_num_threads(threads);
    tensor<float, 2> q({1, 2}, 1.0f);
    auto k = random_tensor<float, 4>({1, 9, 1, 2}, 4);
    const auto v = random_tensor<float, 4>({1, 9, 1, 3}, 5);
    // Keys 0 and 1 give -inf logits: their prefixes are empty (0); key 5 is NaN: from it on, NaN.
    k(0, 0, 0, 0) = k(0, 1, 0, 0) = -std::numeric_limits<float>::infinity();
    k(0, 5, 0, 1) = std::numeric_limits<float>::quiet_NaN();
    tensor<float, 4> out({1, 9, 1, 3}, -5.0f);
    prefix_attention(q.cview(), k.cview(), v.cview(), out.view());
    for (index_t j = 0; j < 3; ++j) {
      EXPECT_EQ(out(0, 0, 0, j), 0.0f);
      EXPECT_EQ(out(0, 1, 0, j), 0.0f);
      EXPECT_FLOAT_EQ(out(0, 2, 0, j), v(0, 2, 0, j));  // the first visible key alone
      for (index_t t = 5; t < 9; ++t) EXPECT_TRUE(std::isnan(out(0, t, 0, j))) << t;
      for (index_t t = 2; t < 5; ++t) EXPECT_TRUE(std::isfinite(out(0, t, 0, j))) << t;
    }
  }
  set_num_threads(saved);
}

TEST(PrefixAttention, RejectsBadShapesBeforeWriting) {
  using argument_cases::expect_rejected;
  const auto q = random_tensor<float, 2>({2, 4}, 1);
  const auto k = random_tensor<float, 4>({1, 5, 2, 4}, 2), v = random_tensor<float, 4>({1, 5, 2, 3}, 3);
  const auto q_heads = random_tensor<float, 2>({3, 4}, 1);
  const auto v_short = random_tensor<float, 4>({1, 4, 2, 3}, 3);
  tensor<float, 4> out({1, 5, 2, 3}, 5.0f), out_wide({1, 5, 2, 4}, 5.0f);
  expect_rejected([&] { prefix_attention(q_heads.cview(), k.cview(), v.cview(), out.view()); }, "prefix_attention", "q");
  expect_rejected([&] { prefix_attention(q.cview(), k.cview(), v_short.cview(), out.view()); }, "prefix_attention", "v");
  expect_rejected([&] { prefix_attention(q.cview(), k.cview(), v.cview(), out_wide.view()); }, "prefix_attention", "out");
  for (float e : out.storage()) ASSERT_EQ(e, 5.0f);
}

}  // namespace
}  // namespace attnkit::test
