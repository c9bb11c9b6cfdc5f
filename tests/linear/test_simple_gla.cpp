// SPDX-License-Identifier: Apache-2.0
// Tests of simple_gla on every arch: chunked and recurrent against the double reference on odd
// lengths and chunk sizes, with and without states; extreme decays; varlen against dense calls;
// steps against the recurrence; bad arguments.
#include <attnkit/linear/simple_gla.hpp>

#include <cmath>
#include <string>

#include <gtest/gtest.h>

#include "linear/gla_support.hpp"

namespace attnkit::test {
namespace {

using namespace gla_support;

class SimpleGlaLengths : public ::testing::TestWithParam<index_t> {};

TEST_P(SimpleGlaLengths, MatchesReference) {
  const dims n{.B = 2, .T = GetParam(), .H = 2, .K = 20, .V = 12};
  expect_matches_reference(make_problem(kind::simple, n, 12, -0.5, 0.0), {}, {1, 7, 16, 64});
}

INSTANTIATE_TEST_SUITE_P(OddLengths, SimpleGlaLengths, ::testing::Values(1, 63, 65, 200));

TEST(SimpleGla, HeadDimsOfEveryTail) {
  for (const dims n : {dims{.B = 1, .T = 37, .H = 1, .K = 1, .V = 1}, dims{.B = 1, .T = 70, .H = 3, .K = 33, .V = 17}}) {
    SCOPED_TRACE("K " + std::to_string(n.K) + " V " + std::to_string(n.V));
    expect_matches_reference(make_problem(kind::simple, n, 3, -0.3, 0.0), {}, {16, 64});
  }
}

TEST(SimpleGla, ExtremeGatesStayFinite) {
  const dims n{.B = 1, .T = 2000, .H = 2, .K = 32, .V = 32};
  for (float g : {-30.0f, 0.0f}) {
    SCOPED_TRACE("gate " + std::to_string(g));
    auto p = make_problem(kind::simple, n, 9);
    for (float& x : p.g.storage()) x = g;
    expect_matches_reference(p, {}, {16, 64});
  }
  auto p = make_problem(kind::simple, n, 10, -3.0, 0.0);  // strong but varied, and one reset
  p.g(0, 500, 1) = -INFINITY;
  expect_matches_reference(p, {}, {64});
}

TEST(SimpleGla, VarlenEqualsPerSequenceCalls) {
  expect_varlen_equals_dense(make_varlen_problem(kind::simple, {0, 0, 17, 81, 90}, 3, 8, 11), {});
}

TEST(SimpleGla, StepsEqualTheRecurrence) {
  const dims n{.B = 2, .T = 40, .H = 3, .K = 10, .V = 14};
  expect_steps_equal_recurrence(make_problem(kind::simple, n, 52, -0.7, 0.0));
}

TEST(SimpleGla, BadArgumentsThrowAndWriteNothing) {
  const dims n{.B = 1, .T = 5, .H = 2, .K = 4, .V = 3};
  const auto p = make_problem(kind::simple, n, 61);
  tensor<float, 4> out({1, 5, 2, 3}, -7.0f), s1({1, 2, 4, 3}, -7.0f);
  const auto bad_g = random_tensor<float, 3>({1, 5, 3}, 1);
  const auto bad_v = random_tensor<float, 4>({1, 5, 1, 3}, 1);
  const auto bad_state = random_tensor<float, 4>({2, 2, 4, 3}, 1);
  linear_options opt;
  expect_rejected("g", [&] { simple_gla(p.q.cview(), p.k.cview(), p.v.cview(), bad_g.cview(), out.view()); });
  expect_rejected("v", [&] { simple_gla(p.q.cview(), p.k.cview(), bad_v.cview(), p.g.cview(), out.view()); });
  expect_rejected("final_state", [&] {
    tensor<float, 4> bad_s1({2, 2, 4, 3}, -7.0f);
    simple_gla(p.q.cview(), p.k.cview(), p.v.cview(), p.g.cview(), out.view(), opt, {}, bad_s1.view());
  });
  expect_rejected("initial_state", [&] {
    simple_gla(p.q.cview(), p.k.cview(), p.v.cview(), p.g.cview(), out.view(), opt, bad_state.cview(), s1.view());
  });
  opt.causal = false;
  expect_rejected("opt.causal", [&] { simple_gla(p.q.cview(), p.k.cview(), p.v.cview(), p.g.cview(), out.view(), opt); });
  opt = {};
  opt.chunk_size = 1025;
  expect_rejected("opt.chunk_size", [&] { simple_gla(p.q.cview(), p.k.cview(), p.v.cview(), p.g.cview(), out.view(), opt); });
  const auto q2 = random_tensor<float, 3>({1, 2, 4}, 1), v2 = random_tensor<float, 3>({1, 2, 3}, 2);
  const auto g2 = random_tensor<float, 2>({1, 3}, 3);
  tensor<float, 3> out2({1, 2, 3}, -7.0f);
  tensor<float, 4> state({1, 2, 4, 3}, -7.0f);
  expect_rejected("g", [&] { simple_gla_step(q2.cview(), q2.cview(), v2.cview(), g2.cview(), out2.view(), state.view()); });
  expect_unwritten(-7.0f, out, s1, out2, state);
}

}  // namespace
}  // namespace attnkit::test
