// SPDX-License-Identifier: Apache-2.0
// Tests of simple_gla on every arch: chunked and recurrent against the double reference on odd
// lengths and chunk sizes, with and without states; extreme decays; varlen against dense calls;
// steps against the recurrence; bad arguments.
#include <attnkit/linear/simple_gla.hpp>

#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

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
  const std::vector<std::int32_t> cu{0, 0, 17, 81, 90};
  const index_t N = 4, total = 90, H = 3, K = 8, V = 11;
  const auto q = random_tensor<float, 3>({total, H, K}, 1), k = random_tensor<float, 3>({total, H, K}, 2);
  const auto v = random_tensor<float, 3>({total, H, V}, 3);
  const auto g = random_tensor<float, 2>({total, H}, 4, -1.0, 0.0);
  const auto s0 = random_tensor<float, 4>({N, H, K, V}, 5);
  for_each_arch([&]<class Arch>() {
    for (auto mode : {linear_mode::chunked, linear_mode::recurrent}) {
      linear_options opt;
      opt.mode = mode;
      opt.chunk_size = 16;
      tensor<float, 3> out({total, H, V}, -1.0f);
      tensor<float, 4> s1({N, H, K, V}, -1.0f);
      simple_gla<Arch>(q.cview(), k.cview(), v.cview(), g.cview(), out.view(), cu, opt, s0.cview(), s1.view());
      for (index_t s = 0; s < N; ++s) {
        const index_t t0 = cu[std::size_t(s)], T = cu[std::size_t(s) + 1] - t0;
        auto rows = [&](const tensor<float, 3>& x) {
          return tensor_view<const float, 4>(x.storage().data() + t0 * H * x.extents()[2],
                                             {1, T, H, x.extents()[2]});
        };
        const tensor_view<const float, 3> g_seq(g.storage().data() + t0 * H, {1, T, H});
        tensor<float, 4> want_out({1, T, H, V}), want_s1({1, H, K, V});
        const tensor_view<const float, 4> s0_seq(s0.storage().data() + s * H * K * V, {1, H, K, V});
        simple_gla<Arch>(rows(q), rows(k), rows(v), g_seq, want_out.view(), opt, s0_seq, want_s1.view());
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

TEST(SimpleGla, StepsEqualTheRecurrence) {
  const dims n{.B = 2, .T = 40, .H = 3, .K = 10, .V = 14};
  const auto p = make_problem(kind::simple, n, 52, -0.7, 0.0);
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
      const tensor_view<const float, 2> g(p.g.storage().data() + t * H, {n.B, H}, {n.T * H, 1});
      const tensor_view<float, 3> o(out.storage().data() + t * H * n.V, {n.B, H, n.V},
                                    {n.T * H * n.V, n.V, 1});
      simple_gla_step<Arch>(token(p.q), token(p.k), token(p.v), g, o, state.view());
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
  for (float x : out.storage()) EXPECT_EQ(x, -7.0f);
  for (float x : s1.storage()) EXPECT_EQ(x, -7.0f);
  for (float x : out2.storage()) EXPECT_EQ(x, -7.0f);
  for (float x : state.storage()) EXPECT_EQ(x, -7.0f);
}

}  // namespace
}  // namespace attnkit::test
