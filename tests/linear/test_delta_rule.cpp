// SPDX-License-Identifier: Apache-2.0
// Tests of delta_rule on every compiled arch: chunked (chunks of 1, 7, 16, 64) and recurrent
// against the double reference, layouts, varlen, the step API and argument errors.
#include <attnkit/linear/delta_rule.hpp>

#include <cstdint>
#include <string>
#include <tuple>
#include <vector>

#include <gtest/gtest.h>

#include <attnkit/core/threads.hpp>

#include "linear/delta_support.hpp"

namespace attnkit::test {
namespace {

class DeltaRuleLengths : public ::testing::TestWithParam<index_t> {};

TEST_P(DeltaRuleLengths, MatchesReference) {
  check_delta_every_arch(make_delta_problem({.T = GetParam()}, {}, 10 + std::uint64_t(GetParam())),
                         delta_modes());
}

INSTANTIATE_TEST_SUITE_P(OddLengths, DeltaRuleLengths, ::testing::Values(1, 2, 63, 64, 65, 200));

TEST(DeltaRule, WideHeadsMatchReference) {
  // K and V past one 16-column panel and not multiples of it; chunks of 64 with a 3-token tail.
  check_delta_every_arch(make_delta_problem({.B = 1, .T = 131, .H = 1, .K = 72, .V = 40}, {}, 3),
                         delta_modes());
}

TEST(DeltaRule, OddHeadDimsAndHeadGroupsMatchReference) {
  // K = 13, V = 11: no dimension a multiple of the batch width or of the 8 x 8 key transpose;
  // 5 heads run as interleaved groups of the chunked driver.
  check_delta_every_arch(make_delta_problem({.B = 2, .T = 45, .H = 5, .K = 13, .V = 11}, {}, 11),
                         delta_modes());
}

TEST(DeltaRule, UnnormalisedKeysMatchReference) {
  // Keys uniform in [-0.5, 0.5)^16 (norms about 1.15, ||k||² beta up to 2.3 at most): chunked must
  // still be the recurrence.
  check_delta_every_arch(make_delta_problem({.T = 100}, {.normalize_keys = false}, 4), delta_modes());
}

TEST(DeltaRule, StridedLayoutsMatchContiguous) {
  // q, k, v, out stored [B, H, T, D] with padding, states [B, H, V, K] (transposed).
  const delta_dims n{.B = 2, .T = 37, .H = 3, .K = 16, .V = 20};
  const auto p = make_delta_problem(n, {}, 5);
  auto strided = [](const tensor<float, 4>& x) {
    tensor<float, 4> y(x.extents(), {0, 2, 1, 3}, 3, -1.0f);
    for_each_index(x.extents(), [&](auto i) { at(y.view(), i) = at(x.cview(), i); });
    return y;
  };
  const auto q = strided(p.q), k = strided(p.k), v = strided(p.v);
  tensor<float, 4> s0({n.B, n.H, n.K, n.V}, {0, 1, 3, 2});
  for_each_index(s0.extents(), [&](auto i) { at(s0.view(), i) = at(p.s0.cview(), i); });
  for (const auto& opt : delta_modes()) {
    const auto want = delta_kernel<default_arch>(p, opt, true);
    tensor<float, 4> out({n.B, n.T, n.H, n.V}, {0, 2, 1, 3}, 2, 9.0f);
    tensor<float, 4> fin({n.B, n.H, n.K, n.V}, {0, 1, 3, 2});
    delta_rule(q.cview(), k.cview(), v.cview(), p.beta.cview(), out.view(), opt, s0.cview(), fin.view());
    for_each_index(out.extents(), [&](auto i) { ASSERT_EQ(at(out.cview(), i), at(want.out.cview(), i)) << mode_name(opt); });
    for_each_index(fin.extents(), [&](auto i) { ASSERT_EQ(at(fin.cview(), i), at(want.final_state.cview(), i)); });
    for (std::size_t e = 0; e < out.storage().size(); ++e) {  // padding untouched: 2 per row of V
      if (e % std::size_t(n.V + 2) >= std::size_t(n.V)) {
        ASSERT_EQ(out.storage()[e], 9.0f);
      }
    }
  }
}

TEST(DeltaRule, VarlenEqualsPerSequenceCalls) {
  const auto p = make_delta_problem({.B = 1, .T = 150, .H = 2, .K = 16, .V = 24}, {}, 6);
  const std::vector<std::int32_t> cu{0, 0, 37, 38, 103, 150};  // an empty sequence, one token, 65
  for (const auto& opt : delta_modes()) check_delta_varlen(p, cu, opt);
}

TEST(DeltaRule, StepsEqualRecurrence) {
  check_delta_steps(make_delta_problem({.B = 2, .T = 40, .H = 2, .K = 16, .V = 24}, {}, 7));
}

TEST(DeltaRule, EmptySequenceKeepsState) {
  const auto p = make_delta_problem({.B = 2, .T = 0, .H = 2, .K = 8, .V = 8}, {}, 8);
  for (const auto& opt : delta_modes()) {
    const auto got = delta_kernel<default_arch>(p, opt, true);
    EXPECT_EQ(got.final_state.storage(), p.s0.storage());
    const auto zero = delta_kernel<default_arch>(p, opt, false);
    for (float x : zero.final_state.storage()) ASSERT_EQ(x, 0.0f);
  }
}

TEST(DeltaRule, ThreadCountDoesNotChangeResults) {
  const auto p = make_delta_problem({.B = 3, .T = 70, .H = 3, .K = 16, .V = 16}, {}, 9);
  for (const auto& opt : delta_modes()) {
    set_num_threads(1);
    const auto one = delta_kernel<default_arch>(p, opt, true);
    set_num_threads(2);
    const auto two = delta_kernel<default_arch>(p, opt, true);
    EXPECT_EQ(one.out.storage(), two.out.storage()) << mode_name(opt);
    EXPECT_EQ(one.final_state.storage(), two.final_state.storage()) << mode_name(opt);
  }
  set_num_threads(detail::default_num_threads());
}

TEST(DeltaRule, BadArgumentsThrowAndWriteNothing) {
  const delta_dims n{.B = 2, .T = 5, .H = 2, .K = 8, .V = 6};
  const auto p = make_delta_problem(n, {}, 11);
  tensor<float, 4> out({n.B, n.T, n.H, n.V}, 7.0f), fin({n.B, n.H, n.K, n.V}, 7.0f);
  const tensor<float, 4> k_short({n.B, n.T, n.H, n.K - 1}), v_long({n.B, n.T + 1, n.H, n.V}),
      s_bad({n.B, n.H, n.K, n.V + 1});
  const tensor<float, 3> beta_bad({n.B, n.T, n.H + 1});
  tensor<float, 4> out_bad({n.B, n.T, n.H, n.V + 1});
  auto call = [&](auto q, auto k, auto v, auto beta, auto o, linear_options opt, auto s0, auto s1) {
    return [=] { delta_rule(q, k, v, beta, o, opt, s0, s1); };
  };
  const tensor_view<const float, 4> none;
  linear_options ok, chunk0, chunk_big, acausal, normalized;
  chunk0.chunk_size = 0;
  chunk_big.chunk_size = 1025;
  acausal.causal = false;
  normalized.normalize = true;
  const tensor_view<const float, 4> q_strided(p.q.cview().data(), {n.B, n.T, n.H, n.K / 2}, {n.T * n.H * n.K, n.H * n.K, n.K, 2});
  const auto Q = p.q.cview(), K = p.k.cview(), V = p.v.cview();
  const auto B = p.beta.cview();
  const auto O = out.view(), F = fin.view();
  expect_rejected(call(Q, k_short.cview(), V, B, O, ok, none, F), "k");
  expect_rejected(call(Q, K, v_long.cview(), B, O, ok, none, F), "v");
  expect_rejected(call(Q, K, V, beta_bad.cview(), O, ok, none, F), "beta");
  expect_rejected(call(Q, K, V, B, out_bad.view(), ok, none, F), "out");
  expect_rejected(call(q_strided, K, V, B, O, ok, none, F), "q");
  expect_rejected(call(Q, K, V, B, O, ok, s_bad.cview(), F), "initial_state");
  expect_rejected(call(Q, K, V, B, O, ok, none, tensor<float, 4>(s_bad).view()), "final_state");
  expect_rejected(call(Q, K, V, B, O, chunk0, none, F), "opt.chunk_size");
  expect_rejected(call(Q, K, V, B, O, chunk_big, none, F), "opt.chunk_size");
  expect_rejected(call(Q, K, V, B, O, acausal, none, F), "opt.causal");
  expect_rejected(call(Q, K, V, B, O, normalized, none, F), "opt.normalize");
  // Varlen: cu_seqlens that do not end at the total, or go down.
  const tensor_view<const float, 3> q3(Q.data(), {n.B * n.T, n.H, n.K}), k3(K.data(), {n.B * n.T, n.H, n.K}),
      v3(V.data(), {n.B * n.T, n.H, n.V});
  const tensor_view<const float, 2> b2(B.data(), {n.B * n.T, n.H});
  const tensor_view<float, 3> o3(O.data(), {n.B * n.T, n.H, n.V});
  const std::vector<std::int32_t> short_cu{0, 4}, down{0, 6, 5, 10};
  expect_rejected([&] { delta_rule(q3, k3, v3, b2, o3, short_cu); }, "cu_seqlens");
  expect_rejected([&] { delta_rule(q3, k3, v3, b2, o3, down); }, "cu_seqlens");
  const std::vector<std::int32_t> cu{0, 10};  // one sequence, a state of two
  expect_rejected([&] { delta_rule(q3, k3, v3, b2, o3, cu, ok, p.s0.cview()); }, "initial_state");
  // Step: the state must be given and match.
  const tensor_view<const float, 3> qs(Q.data(), {n.B, n.H, n.K}), ks(K.data(), {n.B, n.H, n.K}),
      vs(V.data(), {n.B, n.H, n.V});
  const tensor_view<const float, 2> bs(B.data(), {n.B, n.H});
  const tensor_view<float, 3> os(O.data(), {n.B, n.H, n.V});
  expect_rejected([&] { delta_rule_step(qs, ks, vs, bs, os, {}); }, "state");
  tensor<float, 4> s_step_bad({n.B, n.H + 1, n.K, n.V});
  expect_rejected([&] { delta_rule_step(qs, ks, vs, bs, os, s_step_bad.view()); }, "state");
  for (float x : out.storage()) ASSERT_EQ(x, 7.0f);
  for (float x : fin.storage()) ASSERT_EQ(x, 7.0f);
}

}  // namespace
}  // namespace attnkit::test
