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
  const auto p = make_varlen_problem(kind::linear, {0, 33, 33, 100}, 2, 7, 16);
  for (bool causal : {true, false}) {
    SCOPED_TRACE(causal ? "causal" : "not causal");
    linear_options opt;
    opt.causal = causal;
    expect_varlen_equals_dense(p, opt);
  }
}

TEST(LinearAttention, StepsEqualTheRecurrence) {
  const dims n{.B = 2, .T = 30, .H = 2, .K = 12, .V = 9};
  expect_steps_equal_recurrence(make_problem(kind::linear, n, 53));
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
  expect_unwritten(-7.0f, out, bad_out, s1, out3, out2, state, bad_state);
}

}  // namespace
}  // namespace attnkit::test
