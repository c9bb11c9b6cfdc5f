// SPDX-License-Identifier: Apache-2.0
// Tests of performer_attention on every arch: against its own estimator in double (same random
// features) over odd sizes, GQA, strides, causal; large logits stay finite; the error against
// exact attention falls with the feature count; seeds; argument errors.
#include <attnkit/lowrank/performer_attention.hpp>
#include <attnkit/lowrank/reference.hpp>

#include <cmath>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "exact/argument_cases.hpp"
#include "lowrank/lowrank_support.hpp"
#include "support/archs.hpp"

namespace attnkit::test {
namespace {

using namespace lowrank;

template <class Arch>
class Performer : public ::testing::Test {};
TYPED_TEST_SUITE(Performer, compiled_archs, arch_name);

template <class Arch>
void expect_estimator(const problem& p, const performer_options& opt, bool strided) {
  auto out = p.output(strided);
  performer_attention<Arch>(p.q.cview(), p.k.cview(), p.v.cview(), out.view(), opt);
  auto want = p.reference_output();
  reference::performer_attention(p.q.cview(), p.k.cview(), p.v.cview(), want.view(), opt);
  EXPECT_TRUE(matches_estimator(out, want));
  EXPECT_TRUE(wrote_exactly_the_view(out));
}

TYPED_TEST(Performer, MatchesItsEstimator) {
  using Arch = TypeParam;
  ATTNKIT_SKIP_UNLESS_CPU_SUPPORTS(Arch);
  for (const bool strided : {false, true})
    for (const index_t features : {64, 77})
      for (const dims n : {dims{.B = 2, .Sq = 37, .Sk = 53, .Hq = 4, .Hkv = 2, .D = 24, .Dv = 19},
                           dims{.B = 1, .Sq = 53, .Sk = 37, .Hq = 3, .Hkv = 1, .D = 17, .Dv = 24},
                           dims{.B = 1, .Sq = 1, .Sk = 70, .Hq = 2, .Hkv = 2, .D = 8, .Dv = 5}}) {
        SCOPED_TRACE("Sq " + std::to_string(n.Sq) + " features " + std::to_string(features) +
                     (strided ? " strided" : ""));
        const problem p(n, 11 + std::uint64_t(features), -1.0, 1.0, strided);
        expect_estimator<Arch>(p, {.features = features, .seed = 5}, strided);
      }
}

TYPED_TEST(Performer, CausalMatchesItsEstimator) {
  using Arch = TypeParam;
  ATTNKIT_SKIP_UNLESS_CPU_SUPPORTS(Arch);
  for (const bool strided : {false, true}) {
    const problem p({.B = 2, .Sq = 67, .Sk = 67, .Hq = 4, .Hkv = 1, .D = 24, .Dv = 24}, 21, -1.0, 1.0, strided);
    expect_estimator<Arch>(p, {.features = 64, .seed = 9, .causal = true}, strided);
  }
}

// Logits of thousands: the stabilisers keep every feature in (0, 1], so the output is a convex
// combination of the values (positive weights), finite, and still the double estimator's.
TYPED_TEST(Performer, LargeLogitsStayFinite) {
  using Arch = TypeParam;
  ATTNKIT_SKIP_UNLESS_CPU_SUPPORTS(Arch);
  for (const bool causal : {false, true}) {
    const problem p({.B = 1, .Sq = 29, .Sk = 29, .Hq = 2, .Hkv = 2, .D = 16, .Dv = 7}, 31, -20.0, 20.0);
    auto out = p.output();
    performer_attention<Arch>(p.q.cview(), p.k.cview(), p.v.cview(), out.view(),
                              {.features = 64, .seed = 1, .causal = causal});
    for (float x : out.storage()) {
      ASSERT_TRUE(std::isfinite(x));
      EXPECT_LE(std::fabs(x), 1.0f + 1e-5f);  // v in [-1, 1]
    }
  }
}

TEST(Performer, NoKeysGiveZero) {
  const problem p({.B = 1, .Sq = 5, .Sk = 0, .Hq = 2, .Hkv = 1, .D = 8, .Dv = 3}, 3);
  auto out = p.output();
  performer_attention(p.q.cview(), p.k.cview(), p.v.cview(), out.view(), {.features = 16});
  for (float x : out.storage()) EXPECT_EQ(x, 0.0f);
}

// The mean over seeds of ||performer - exact|| / ||exact|| on moderate logits (|s q . k| up to
// about 2) falls at every step from 16 to 1024 features and ends below 0.25.
TEST(Performer, ErrorFallsWithFeatures) {
  const problem p({.B = 1, .Sq = 64, .Sk = 64, .Hq = 2, .Hkv = 2, .D = 32, .Dv = 32}, 41, -0.8, 0.8);
  const auto exact = p.exact();
  double previous = 1e300;
  for (const index_t features : {16, 64, 256, 1024}) {
    double sum = 0;
    const int seeds = 4;
    for (int seed = 0; seed < seeds; ++seed) {
      auto out = p.output();
      performer_attention(p.q.cview(), p.k.cview(), p.v.cview(), out.view(),
                          {.features = features, .seed = std::uint64_t(100 + seed)});
      sum += relative_error(out, exact);
    }
    const double error = sum / seeds;
    SCOPED_TRACE("features " + std::to_string(features) + ": error " + std::to_string(error));
    EXPECT_LT(error, previous);
    previous = error;
  }
  EXPECT_LT(previous, 0.25);
}

TEST(Performer, SeededResultsAreReproducible) {
  const problem p({.B = 1, .Sq = 37, .Sk = 53, .Hq = 2, .Hkv = 1, .D = 24, .Dv = 24}, 51);
  auto a = p.output(), b = p.output(), c = p.output();
  performer_attention(p.q.cview(), p.k.cview(), p.v.cview(), a.view(), {.features = 64, .seed = 7});
  performer_attention(p.q.cview(), p.k.cview(), p.v.cview(), b.view(), {.features = 64, .seed = 7});
  performer_attention(p.q.cview(), p.k.cview(), p.v.cview(), c.view(), {.features = 64, .seed = 8});
  EXPECT_EQ(a.storage(), b.storage());
  EXPECT_GT(max_abs_error(a.cview(), c.cview()), 1e-3);
}

struct performer_args {
  static constexpr const char* kWhere = "performer_attention";
  argument_cases::buffer q{argument_cases::kInput}, k{argument_cases::kInput}, v{argument_cases::kInput},
      out{argument_cases::kSentinel};
  std::array<index_t, 4> qs{1, 6, 4, 8}, ks{1, 9, 2, 8}, vs{1, 9, 2, 5}, os{1, 6, 4, 5};
  std::array<index_t, 4> out_strides{0, 0, 0, 0};
  performer_options opt{.features = 16};
  void call() {
    const bool strided = out_strides != std::array<index_t, 4>{0, 0, 0, 0};
    performer_attention(q.in<4>(qs), k.in<4>(ks), v.in<4>(vs),
                        strided ? out.io<4>(os, out_strides) : out.io<4>(os), opt);
  }
  bool outputs_untouched() const { return out.untouched(); }
};

TEST(Performer, BadArgumentsThrowAndWriteNothing) {
  using args = performer_args;
  argument_cases::run_table<args>({
      {"features 0", "opt.features", [](args& a) { a.opt.features = 0; }},
      {"scale NaN", "opt.scale", [](args& a) { a.opt.scale = argument_cases::kNaN; }},
      {"causal with Sq != Sk", "q", [](args& a) { a.opt.causal = true; }},
      {"Hq not a multiple of Hkv", "q", [](args& a) { a.qs[2] = 3; a.os[2] = 3; }},
      {"k head dim", "k", [](args& a) { a.ks[3] = 7; }},
      {"v length", "v", [](args& a) { a.vs[1] = 8; }},
      {"out head dim", "out", [](args& a) { a.os[3] = 6; }},
      {"out strided innermost", "out", [](args& a) { a.out_strides = {120, 20, 5, 2}; }},
  });
}

}  // namespace
}  // namespace attnkit::test
