// SPDX-License-Identifier: Apache-2.0
// Tests of linear_attention on every arch: chunked and recurrent against the double reference on
// odd lengths and chunk sizes, with and without states, normalised and not causal; varlen
// against dense calls; steps against the recurrence; bad arguments.
#include <attnkit/linear/linear_attention.hpp>

#include <cstdint>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "linear/gla_support.hpp"

namespace attnkit::test {
namespace {

using namespace gla_support;

class LinearAttentionLengths : public ::testing::TestWithParam<index_t> {};

TEST_P(LinearAttentionLengths, MatchesReference) {
  const dims n{.B = 2, .T = GetParam(), .H = 2, .K = 20, .V = 12};
  expect_matches_reference(make_problem(kind::linear, n, 13), {}, {1, 7, 16, 64});
}

INSTANTIATE_TEST_SUITE_P(OddLengths, LinearAttentionLengths, ::testing::Values(1, 63, 65, 200));

// Positive queries and keys (a feature map's), so the normaliser stays away from 0.
TEST(LinearAttention, NormalizedAndNotCausal) {
  const dims n{.B = 1, .T = 131, .H = 2, .K = 16, .V = 16};
  const auto positive = make_problem(kind::linear, n, 14, 0.0, 0.0, 0.0, 1.0);
  for (bool causal : {true, false})
    for (bool normalize : {false, true}) {
      SCOPED_TRACE(std::string(causal ? "causal" : "not causal") + (normalize ? ", normalised" : ""));
      linear_options opt;
      opt.causal = causal;
      opt.normalize = normalize;
      expect_matches_reference(positive, opt, {1, 16, 64});
    }
  linear_options opt;  // not causal on signed inputs, with states
  opt.causal = false;
  expect_matches_reference(make_problem(kind::linear, {.B = 2, .T = 65, .H = 1, .K = 9, .V = 20}, 15), opt, {16});
}

TEST(LinearAttention, LongSequence) {
  const dims n{.B = 1, .T = 2000, .H = 1, .K = 32, .V = 32};
  expect_matches_reference(make_problem(kind::linear, n, 16), {}, {64});
}

TEST(LinearAttention, VarlenEqualsPerSequenceCalls) {
  const std::vector<std::int32_t> cu{0, 33, 33, 100};
  const index_t N = 3, total = 100, H = 2, K = 7, V = 16;
  const auto q = random_tensor<float, 3>({total, H, K}, 1), k = random_tensor<float, 3>({total, H, K}, 2);
  const auto v = random_tensor<float, 3>({total, H, V}, 3);
  const auto s0 = random_tensor<float, 4>({N, H, K, V}, 5);
  for_each_arch([&]<class Arch>() {
    for (auto mode : {linear_mode::chunked, linear_mode::recurrent})
      for (bool causal : {true, false}) {
        linear_options opt;
        opt.mode = mode;
        opt.causal = causal;
        opt.chunk_size = 16;
        tensor<float, 3> out({total, H, V}, -1.0f);
        tensor<float, 4> s1({N, H, K, V}, -1.0f);
        linear_attention<Arch>(q.cview(), k.cview(), v.cview(), out.view(), cu, opt, s0.cview(), s1.view());
        for (index_t s = 0; s < N; ++s) {
          const index_t t0 = cu[std::size_t(s)], T = cu[std::size_t(s) + 1] - t0;
          auto rows = [&](const tensor<float, 3>& x) {
            return tensor_view<const float, 4>(x.storage().data() + t0 * H * x.extents()[2],
                                               {1, T, H, x.extents()[2]});
          };
          tensor<float, 4> want_out({1, T, H, V}), want_s1({1, H, K, V});
          const tensor_view<const float, 4> s0_seq(s0.storage().data() + s * H * K * V, {1, H, K, V});
          linear_attention<Arch>(rows(q), rows(k), rows(v), want_out.view(), opt, s0_seq, want_s1.view());
          for (index_t t = 0; t < T; ++t)
            for (index_t h = 0; h < H; ++h)
              for (index_t j = 0; j < V; ++j) ASSERT_EQ(out(t0 + t, h, j), want_out(0, t, h, j));
          for (index_t h = 0; h < H; ++h)
            for (index_t i = 0; i < K; ++i)
              for (index_t j = 0; j < V; ++j) ASSERT_EQ(s1(s, h, i, j), want_s1(0, h, i, j));
        }
      }
  });
}

TEST(LinearAttention, StepsEqualTheRecurrence) {
  const dims n{.B = 2, .T = 30, .H = 2, .K = 12, .V = 9};
  const auto p = make_problem(kind::linear, n, 53);
  const auto want = run_reference(p, {}, true);
  for_each_arch([&]<class Arch>() {
    linear_options opt;
    opt.mode = linear_mode::recurrent;
    const auto recurrent = run_kernel<Arch>(p, opt, true);
    auto state = p.s0;
    tensor<float, 4> out({n.B, n.T, n.H, n.V});
    const index_t H = n.H;
    for (index_t t = 0; t < n.T; ++t) {
      auto token = [&](const tensor<float, 4>& x) {
        const auto& e = x.extents();
        return tensor_view<const float, 3>(x.storage().data() + t * H * e[3], {e[0], H, e[3]},
                                           {e[1] * H * e[3], e[3], 1});
      };
      const tensor_view<float, 3> o(out.storage().data() + t * H * n.V, {n.B, H, n.V},
                                    {n.T * H * n.V, n.V, 1});
      linear_attention_step<Arch>(token(p.q), token(p.k), token(p.v), o, state.view());
    }
    EXPECT_EQ(out.storage(), recurrent.out.storage());
    EXPECT_EQ(state.storage(), recurrent.state.storage());
    EXPECT_TRUE(within_rms_tolerance(out.cview(), want.out.cview(), kRmsLimit));
  });
}

template <class F>
void expect_rejected(const char* argument, F&& call) {
  try {
    call();
    ADD_FAILURE() << "no attnkit::error for " << argument;
  } catch (const attnkit::error& e) {
    EXPECT_NE(std::string(e.what()).find(std::string("'") + argument + "'"), std::string::npos)
        << e.what();
  }
}

TEST(LinearAttention, BadArgumentsThrowAndWriteNothing) {
  const dims n{.B = 1, .T = 5, .H = 2, .K = 4, .V = 3};
  const auto p = make_problem(kind::linear, n, 61);
  tensor<float, 4> out({1, 5, 2, 3}, -7.0f), s1({1, 2, 4, 3}, -7.0f);
  const auto bad_q = random_tensor<float, 4>({1, 5, 2, 4}, 1);
  const tensor_view<const float, 4> strided_q(bad_q.storage().data(), {1, 5, 2, 2}, {40, 8, 4, 2});
  tensor<float, 4> bad_out({1, 5, 2, 4}, -7.0f);
  linear_options opt;
  expect_rejected("q", [&] { linear_attention(strided_q, strided_q, p.v.cview(), out.view()); });
  expect_rejected("out", [&] { linear_attention(p.q.cview(), p.k.cview(), p.v.cview(), bad_out.view()); });
  opt.normalize = true;
  expect_rejected("opt.normalize", [&] {
    linear_attention(p.q.cview(), p.k.cview(), p.v.cview(), out.view(), opt, p.s0.cview(), s1.view());
  });
  const auto q3 = random_tensor<float, 3>({5, 2, 4}, 1), v3 = random_tensor<float, 3>({5, 2, 3}, 2);
  tensor<float, 3> out3({5, 2, 3}, -7.0f);
  const std::vector<std::int32_t> cu{0, 4, 2, 5};
  expect_rejected("cu_seqlens", [&] { linear_attention(q3.cview(), q3.cview(), v3.cview(), out3.view(), cu); });
  const auto q2 = random_tensor<float, 3>({1, 2, 4}, 1), v2 = random_tensor<float, 3>({1, 2, 3}, 2);
  tensor<float, 3> out2({1, 2, 3}, -7.0f);
  tensor<float, 4> state({1, 2, 4, 3}, -7.0f), bad_state({1, 2, 3, 4}, -7.0f);
  opt = {};
  opt.causal = false;
  expect_rejected("opt.causal", [&] { linear_attention_step(q2.cview(), q2.cview(), v2.cview(), out2.view(), state.view(), opt); });
  expect_rejected("state", [&] { linear_attention_step(q2.cview(), q2.cview(), v2.cview(), out2.view(), bad_state.view()); });
  for (float x : out.storage()) EXPECT_EQ(x, -7.0f);
  for (float x : bad_out.storage()) EXPECT_EQ(x, -7.0f);
  for (float x : s1.storage()) EXPECT_EQ(x, -7.0f);
  for (float x : out3.storage()) EXPECT_EQ(x, -7.0f);
  for (float x : out2.storage()) EXPECT_EQ(x, -7.0f);
  for (float x : state.storage()) EXPECT_EQ(x, -7.0f);
  for (float x : bad_state.storage()) EXPECT_EQ(x, -7.0f);
}

}  // namespace
}  // namespace attnkit::test
