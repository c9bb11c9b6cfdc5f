// SPDX-License-Identifier: Apache-2.0
// Tests of gla on every arch: chunked (one-GEMM and sub-chunk scores) and recurrent against the
// double reference on odd lengths and chunk sizes, with and without states; extreme decays;
// strided layouts; varlen against dense calls; steps against the recurrence; bad arguments.
#include <attnkit/linear/gla.hpp>

#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "linear/gla_support.hpp"

namespace attnkit::test {
namespace {

using namespace gla_support;

class GlaLengths : public ::testing::TestWithParam<index_t> {};

TEST_P(GlaLengths, MatchesReference) {
  const dims n{.B = 2, .T = GetParam(), .H = 2, .K = 20, .V = 12};
  expect_matches_reference(make_problem(kind::gla, n, 11, -0.5, 0.0), {}, {1, 7, 16, 64});
}

INSTANTIATE_TEST_SUITE_P(OddLengths, GlaLengths, ::testing::Values(1, 63, 65, 200));

TEST(Gla, HeadDimsOfEveryTail) {
  for (const dims n : {dims{.B = 1, .T = 37, .H = 1, .K = 1, .V = 1}, dims{.B = 1, .T = 70, .H = 3, .K = 33, .V = 17},
                       dims{.B = 1, .T = 80, .H = 1, .K = 64, .V = 48}}) {
    SCOPED_TRACE("K " + std::to_string(n.K) + " V " + std::to_string(n.V));
    expect_matches_reference(make_problem(kind::gla, n, 3, -0.3, 0.0), {}, {16, 64});
  }
}

// Gates of a few nats per token: chunks of 64 span more than 60 nats, so the scores take the
// sub-chunk path with values that still matter far below the diagonal.
TEST(Gla, SubChunkScoresUnderStrongDecay) {
  const dims n{.B = 1, .T = 200, .H = 2, .K = 24, .V = 16};
  expect_matches_reference(make_problem(kind::gla, n, 5, -3.0, 0.0), {}, {16, 64, 100});
  // Some key dims decay fast, others slowly: mixed spans within one chunk.
  auto p = make_problem(kind::gla, n, 6, -0.05, 0.0);
  for_each_index(p.gk.extents(), [&](const auto& idx) {
    if (idx[3] % 3 == 0) at(p.gk.view(), idx) = -4.0f;
  });
  expect_matches_reference(p, {}, {16, 64});
}

TEST(Gla, ExtremeGatesStayFinite) {
  const dims n{.B = 1, .T = 2000, .H = 1, .K = 32, .V = 32};
  for (float g : {-30.0f, 0.0f}) {
    SCOPED_TRACE("gate " + std::to_string(g));
    auto p = make_problem(kind::gla, n, 9);
    for (float& x : p.gk.storage()) x = g;
    expect_matches_reference(p, {}, {16, 64});
  }
  // -30 and 0 in alternating runs, and a few -inf (a full reset).
  auto p = make_problem(kind::gla, n, 10);
  for_each_index(p.gk.extents(), [&](const auto& idx) {
    at(p.gk.view(), idx) = (idx[1] / 50 + idx[3]) % 2 == 0 ? -30.0f : 0.0f;
  });
  p.gk(0, 777, 0, 3) = -INFINITY;
  expect_matches_reference(p, {}, {64});
}

TEST(Gla, StridedLayouts) {
  const dims n{.B = 2, .T = 70, .H = 3, .K = 16, .V = 8};
  const auto dense = make_problem(kind::gla, n, 21, -0.4, 0.0);
  problem p = dense;
  // q, k, v, out in BHSD order with padded rows; gk in [B, H, K, T] order (no unit stride).
  auto permuted = [](const tensor<float, 4>& x, std::array<std::size_t, 4> order, index_t pad) {
    tensor<float, 4> y(x.extents(), order, pad, -9.0f);
    for_each_index(x.extents(), [&](const auto& idx) { at(y.view(), idx) = at(x.cview(), idx); });
    return y;
  };
  p.q = permuted(dense.q, {0, 2, 1, 3}, 3);
  p.k = permuted(dense.k, {0, 2, 1, 3}, 0);
  p.v = permuted(dense.v, {2, 0, 1, 3}, 5);
  p.gk = permuted(dense.gk, {0, 2, 3, 1}, 0);
  p.s0 = permuted(dense.s0, {0, 1, 3, 2}, 0);
  const linear_options opt;
  for (bool with_state : {false, true}) {
    const auto want = run_reference(dense, opt, with_state);
    for_each_arch([&]<class Arch>() {
      for (auto mode : {linear_mode::chunked, linear_mode::recurrent}) {
        linear_options o = opt;
        o.mode = mode;
        o.chunk_size = 16;
        expect_close(run_kernel<Arch>(p, o, with_state), want, with_state);
      }
    });
  }
}

TEST(Gla, FinalStateMayBeTheInitialState) {
  const dims n{.B = 2, .T = 50, .H = 2, .K = 12, .V = 20};
  const auto p = make_problem(kind::gla, n, 31, -0.5, 0.0);
  const auto want = run_reference(p, {}, true);
  for (auto mode : {linear_mode::chunked, linear_mode::recurrent}) {
    linear_options opt;
    opt.mode = mode;
    opt.chunk_size = 16;
    auto state = p.s0;
    tensor<float, 4> out({n.B, n.T, n.H, n.V});
    gla(p.q.cview(), p.k.cview(), p.v.cview(), p.gk.cview(), out.view(), opt, state.cview(), state.view());
    EXPECT_TRUE(within_rms_tolerance(out.cview(), want.out.cview(), kRmsLimit));
    EXPECT_TRUE(within_rms_tolerance(state.cview(), want.state.cview(), kRmsLimit));
  }
}

TEST(Gla, ThreadCountsGiveTheSameBits) {
  const int saved = get_num_threads();
  const auto p = make_problem(kind::gla, {.B = 3, .T = 90, .H = 3, .K = 16, .V = 16}, 41);
  set_num_threads(1);
  const auto one = run_kernel<default_arch>(p, {}, true);
  set_num_threads(2);
  const auto two = run_kernel<default_arch>(p, {}, true);
  set_num_threads(saved);
  EXPECT_EQ(one.out.storage(), two.out.storage());
  EXPECT_EQ(one.state.storage(), two.state.storage());
}

// Packed sequences (one empty) equal dense calls on each sequence, with a state per sequence.
TEST(Gla, VarlenEqualsPerSequenceCalls) {
  expect_varlen_equals_dense(make_varlen_problem(kind::gla, {0, 5, 5, 70, 133}, 2, 12, 9), {});
}

// T steps on a state equal one recurrent call (bit for bit) and the reference.
TEST(Gla, StepsEqualTheRecurrence) {
  const dims n{.B = 2, .T = 40, .H = 3, .K = 10, .V = 14};
  expect_steps_equal_recurrence(make_problem(kind::gla, n, 51, -0.7, 0.0));
}

TEST(Gla, BadArgumentsThrowAndWriteNothing) {
  const dims n{.B = 1, .T = 5, .H = 2, .K = 4, .V = 3};
  const auto p = make_problem(kind::gla, n, 61);
  tensor<float, 4> out({1, 5, 2, 3}, -7.0f), s1({1, 2, 4, 3}, -7.0f);
  const auto bad_gk = random_tensor<float, 4>({1, 5, 2, 3}, 1);
  const auto bad_state = random_tensor<float, 4>({1, 2, 3, 3}, 1);
  const auto bad_k = random_tensor<float, 4>({1, 6, 2, 4}, 1);
  linear_options opt;
  expect_rejected("gk", [&] { gla(p.q.cview(), p.k.cview(), p.v.cview(), bad_gk.cview(), out.view()); });
  expect_rejected("k", [&] { gla(p.q.cview(), bad_k.cview(), p.v.cview(), p.gk.cview(), out.view()); });
  expect_rejected("initial_state", [&] {
    gla(p.q.cview(), p.k.cview(), p.v.cview(), p.gk.cview(), out.view(), opt, bad_state.cview(), s1.view());
  });
  opt.causal = false;
  expect_rejected("opt.causal", [&] { gla(p.q.cview(), p.k.cview(), p.v.cview(), p.gk.cview(), out.view(), opt); });
  opt = {};
  opt.normalize = true;
  expect_rejected("opt.normalize", [&] { gla(p.q.cview(), p.k.cview(), p.v.cview(), p.gk.cview(), out.view(), opt); });
  opt = {};
  opt.chunk_size = 0;
  expect_rejected("opt.chunk_size", [&] { gla(p.q.cview(), p.k.cview(), p.v.cview(), p.gk.cview(), out.view(), opt); });
  // varlen: cu_seqlens not ending at the tokens.
  const auto q3 = random_tensor<float, 3>({5, 2, 4}, 1), v3 = random_tensor<float, 3>({5, 2, 3}, 2);
  tensor<float, 3> out3({5, 2, 3}, -7.0f);
  const std::vector<std::int32_t> cu{0, 2, 4};
  expect_rejected("cu_seqlens", [&] { gla(q3.cview(), q3.cview(), v3.cview(), q3.cview(), out3.view(), cu); });
  // step: normalize, missing state.
  const auto q2 = random_tensor<float, 3>({1, 2, 4}, 1), v2 = random_tensor<float, 3>({1, 2, 3}, 2);
  tensor<float, 3> out2({1, 2, 3}, -7.0f);
  tensor<float, 4> state({1, 2, 4, 3}, -7.0f);
  opt = {};
  opt.normalize = true;
  expect_rejected("opt.normalize", [&] { gla_step(q2.cview(), q2.cview(), v2.cview(), q2.cview(), out2.view(), state.view(), opt); });
  expect_rejected("state", [&] { gla_step(q2.cview(), q2.cview(), v2.cview(), q2.cview(), out2.view(), {}); });
  expect_rejected("gk", [&] { gla_step(q2.cview(), q2.cview(), v2.cview(), v2.cview(), out2.view(), state.view()); });
  expect_unwritten(-7.0f, out, s1, out3, out2, state);
}

}  // namespace
}  // namespace attnkit::test
