// SPDX-License-Identifier: Apache-2.0
// Tests of gated_delta_rule on every compiled arch: chunked and recurrent against the double
// reference, extreme gates (-30 every step, zero, -inf) over 2000 tokens, varlen, the step API
// and argument errors.
#include <attnkit/linear/gated_delta_rule.hpp>

#include <cstdint>
#include <limits>
#include <vector>

#include <gtest/gtest.h>

#include "linear/delta_support.hpp"

namespace attnkit::test {
namespace {

constexpr delta_inputs_spec kGated{.gated = true};

class GatedDeltaRuleLengths : public ::testing::TestWithParam<index_t> {};

TEST_P(GatedDeltaRuleLengths, MatchesReference) {
  check_delta_every_arch(make_delta_problem({.T = GetParam()}, kGated, 20 + std::uint64_t(GetParam())),
                         delta_modes());
}

INSTANTIATE_TEST_SUITE_P(OddLengths, GatedDeltaRuleLengths, ::testing::Values(1, 2, 63, 64, 65, 200));

TEST(GatedDeltaRule, WideHeadsMatchReference) {
  check_delta_every_arch(make_delta_problem({.B = 1, .T = 131, .H = 1, .K = 72, .V = 40}, kGated, 21),
                         delta_modes());
}

TEST(GatedDeltaRule, UnnormalisedKeysMatchReference) {
  check_delta_every_arch(
      make_delta_problem({.T = 100}, {.gated = true, .normalize_keys = false, .g_lo = -0.2}, 22),
      delta_modes());
}

// T = 2000: the chunked form must never take e^{+cumulative gate}: with -30 per step the
// cumulative gate reaches -60000, whose negation overflows float after 3 tokens.
TEST(GatedDeltaRule, LogGateMinus30EveryStep) {
  check_delta_every_arch(
      make_delta_problem({.B = 1, .T = 2000, .H = 2, .K = 16, .V = 16}, {.gated = true, .g_lo = -30, .g_hi = -30}, 23),
      delta_modes());
}

TEST(GatedDeltaRule, ZeroGatesEqualDeltaRule) {
  auto p = make_delta_problem({.B = 1, .T = 2000, .H = 2, .K = 16, .V = 16}, {.gated = true, .g_lo = 0, .g_hi = 0}, 24);
  check_delta_every_arch(p, delta_modes());
  // e^0 = 1 exactly: the gated kernel is the delta rule, up to the order of rounding.
  for (const auto& opt : delta_modes()) {
    const auto gated = delta_kernel<default_arch>(p, opt, true);
    p.gated = false;
    const auto plain = delta_kernel<default_arch>(p, opt, true);
    p.gated = true;
    EXPECT_TRUE(within_rms_tolerance(gated.out.cview(), plain.out.cview(), kDeltaRms)) << mode_name(opt);
  }
}

TEST(GatedDeltaRule, MixedExtremeGates) {
  // Runs of -30, 0, mild gates and -inf (the state is emptied) over 2000 tokens.
  auto p = make_delta_problem({.B = 1, .T = 2000, .H = 2, .K = 16, .V = 16}, kGated, 25);
  for (index_t t = 0; t < p.n.T; ++t)
    for (index_t h = 0; h < p.n.H; ++h) {
      const index_t phase = (t / 37 + h) % 4;
      if (phase == 0) p.g(0, t, h) = -30.0f;
      if (phase == 1) p.g(0, t, h) = 0.0f;
      if (phase == 3 && t % 101 == 0) p.g(0, t, h) = -std::numeric_limits<float>::infinity();
    }
  check_delta_every_arch(p, delta_modes());
}

TEST(GatedDeltaRule, VarlenEqualsPerSequenceCalls) {
  const auto p = make_delta_problem({.B = 1, .T = 150, .H = 2, .K = 16, .V = 24}, kGated, 26);
  const std::vector<std::int32_t> cu{0, 0, 37, 38, 103, 150};
  for (const auto& opt : delta_modes()) check_delta_varlen(p, cu, opt);
}

TEST(GatedDeltaRule, StepsEqualRecurrence) {
  check_delta_steps(make_delta_problem({.B = 2, .T = 40, .H = 2, .K = 16, .V = 24}, kGated, 27));
}

TEST(GatedDeltaRule, BadArgumentsThrowAndWriteNothing) {
  const delta_dims n{.B = 2, .T = 5, .H = 2, .K = 8, .V = 6};
  const auto p = make_delta_problem(n, kGated, 28);
  tensor<float, 4> out({n.B, n.T, n.H, n.V}, 7.0f), fin({n.B, n.H, n.K, n.V}, 7.0f);
  const tensor<float, 3> g_bad({n.B, n.T + 1, n.H}), beta_bad({n.B, n.T, n.H + 1});
  const auto Q = p.q.cview(), K = p.k.cview(), V = p.v.cview();
  expect_rejected([&] { gated_delta_rule(Q, K, V, g_bad.cview(), p.beta.cview(), out.view(), {}, {}, fin.view()); }, "g");
  expect_rejected([&] { gated_delta_rule(Q, K, V, p.g.cview(), beta_bad.cview(), out.view(), {}, {}, fin.view()); }, "beta");
  linear_options chunk0;
  chunk0.chunk_size = 0;
  expect_rejected([&] { gated_delta_rule(Q, K, V, p.g.cview(), p.beta.cview(), out.view(), chunk0); }, "opt.chunk_size");
  const tensor_view<const float, 3> q3(Q.data(), {n.B * n.T, n.H, n.K}), k3(K.data(), {n.B * n.T, n.H, n.K}),
      v3(V.data(), {n.B * n.T, n.H, n.V});
  const tensor_view<const float, 2> g2(p.g.cview().data(), {n.B * n.T - 1, n.H}),
      b2(p.beta.cview().data(), {n.B * n.T, n.H});
  const tensor_view<float, 3> o3(out.view().data(), {n.B * n.T, n.H, n.V});
  const std::vector<std::int32_t> cu{0, 4, 10};
  expect_rejected([&] { gated_delta_rule(q3, k3, v3, g2, b2, o3, cu); }, "g");
  const tensor_view<const float, 3> qs(Q.data(), {n.B, n.H, n.K}), ks(K.data(), {n.B, n.H, n.K}),
      vs(V.data(), {n.B, n.H, n.V});
  const tensor_view<const float, 2> gs(p.g.cview().data(), {n.B, n.H + 1}), bs(b2.data(), {n.B, n.H});
  const tensor_view<float, 3> os(out.view().data(), {n.B, n.H, n.V});
  expect_rejected([&] { gated_delta_rule_step(qs, ks, vs, gs, bs, os, fin.view()); }, "g");
  for (float x : out.storage()) ASSERT_EQ(x, 7.0f);
  for (float x : fin.storage()) ASSERT_EQ(x, 7.0f);
}

}  // namespace
}  // namespace attnkit::test
