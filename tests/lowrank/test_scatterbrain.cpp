// SPDX-License-Identifier: Apache-2.0
// Tests of scatterbrain_attention on every arch: against its own estimator in double (same
// features, same band) over odd sizes, GQA, strides, causal; a band covering every key is exact
// attention; large logits stay finite; on local + global inputs its error is below both
// Performer's and the band's alone at the same budget; local_band_support; argument errors.
#include <attnkit/lowrank/local_band_support.hpp>
#include <attnkit/lowrank/performer_attention.hpp>
#include <attnkit/lowrank/reference.hpp>
#include <attnkit/lowrank/scatterbrain_attention.hpp>

#include <cmath>
#include <random>
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
class Scatterbrain : public ::testing::Test {};
TYPED_TEST_SUITE(Scatterbrain, compiled_archs, arch_name);

TYPED_TEST(Scatterbrain, MatchesItsEstimator) {
  using Arch = TypeParam;
  ATTNKIT_SKIP_UNLESS_CPU_SUPPORTS(Arch);
  struct config {
    dims n;
    scatterbrain_options opt;
  };
  for (const bool strided : {false, true})
    for (const config& c : {config{{.B = 2, .Sq = 37, .Sk = 53, .Hq = 4, .Hkv = 2, .D = 24, .Dv = 19},
                                   {.features = 64, .seed = 3, .window = 4}},
                            config{{.B = 1, .Sq = 53, .Sk = 37, .Hq = 3, .Hkv = 1, .D = 17, .Dv = 24},
                                   {.features = 77, .seed = 4, .window = 0}},
                            config{{.B = 1, .Sq = 45, .Sk = 45, .Hq = 2, .Hkv = 1, .D = 24, .Dv = 24},
                                   {.features = 64, .seed = 5, .window = 6, .causal = true}}}) {
      SCOPED_TRACE("Sq " + std::to_string(c.n.Sq) + (c.opt.causal ? " causal" : "") + (strided ? " strided" : ""));
      const problem p(c.n, 61, -1.0, 1.0, strided);
      auto out = p.output(strided);
      scatterbrain_attention<Arch>(p.q.cview(), p.k.cview(), p.v.cview(), out.view(), c.opt);
      auto want = p.reference_output();
      reference::scatterbrain_attention(p.q.cview(), p.k.cview(), p.v.cview(), want.view(), c.opt);
      EXPECT_TRUE(matches_estimator(out, want));
      EXPECT_TRUE(wrote_exactly_the_view(out));
    }
}

// A band as wide as the keys leaves nothing to the low-rank part: exact attention (causal too).
TYPED_TEST(Scatterbrain, FullBandIsExactAttention) {
  using Arch = TypeParam;
  ATTNKIT_SKIP_UNLESS_CPU_SUPPORTS(Arch);
  for (const bool causal : {false, true}) {
    const index_t S = causal ? 41 : 53;
    const problem p({.B = 1, .Sq = 41, .Sk = S, .Hq = 4, .Hkv = 2, .D = 24, .Dv = 24}, 71);
    auto out = p.output();
    scatterbrain_attention<Arch>(p.q.cview(), p.k.cview(), p.v.cview(), out.view(),
                                 {.features = 16, .window = S, .causal = causal});
    attention_options exact;
    exact.causal = causal;
    EXPECT_TRUE(matches_estimator(out, p.exact(exact)));
  }
}

TYPED_TEST(Scatterbrain, LargeLogitsStayFinite) {
  using Arch = TypeParam;
  ATTNKIT_SKIP_UNLESS_CPU_SUPPORTS(Arch);
  const problem p({.B = 1, .Sq = 29, .Sk = 31, .Hq = 2, .Hkv = 1, .D = 16, .Dv = 7}, 81, -20.0, 20.0);
  auto out = p.output();
  scatterbrain_attention<Arch>(p.q.cview(), p.k.cview(), p.v.cview(), out.view(), {.features = 32, .window = 2});
  for (float x : out.storage()) {
    ASSERT_TRUE(std::isfinite(x));
    EXPECT_LE(std::fabs(x), 1.0f + 1e-5f);
  }
}

// Inputs with local structure (q_i = k_i = a moving average of 4 random vectors: logits of about
// 4 near the diagonal, falling to 0 within 4 positions) over a global part (small uniform noise
// that spreads the rest of the mass over all 256 keys). Budget per query row: m features or 2w+1
// exact keys. Scatterbrain (m = 32, w = 4) against Performer with m + 2w + 1 features and the
// exact band (renormalised) with w + m / 2, errors averaged over 4 feature seeds.
TEST(Scatterbrain, BeatsPerformerAndBandAtTheSameBudget) {
  const index_t S = 256, D = 32, L = 4, Dl = D / 2, m = 32, w = 4;
  problem p({.B = 1, .Sq = S, .Sk = S, .Hq = 2, .Hkv = 2, .D = D, .Dv = 16}, 7, -0.3, 0.3);
  std::mt19937_64 rng(3);
  std::normal_distribution<double> normal;
  for (index_t h = 0; h < 2; ++h) {
    std::vector<double> r(std::size_t((S + L) * Dl));
    for (double& x : r) x = normal(rng) / std::sqrt(double(Dl * L));
    for (index_t i = 0; i < S; ++i)
      for (index_t d = 0; d < Dl; ++d) {
        double u = 0;
        for (index_t t = i; t < i + L; ++t) u += r[std::size_t(t * Dl + d)];
        p.q(0, i, h, d) = p.k(0, i, h, d) = static_cast<float>(2.0 * u);
      }
  }
  const auto exact = p.exact({.scale = 1.0f});
  double scatterbrain = 0, performer = 0;
  const int seeds = 4;
  for (int seed = 0; seed < seeds; ++seed) {
    auto a = p.output(), b = p.output();
    scatterbrain_attention(p.q.cview(), p.k.cview(), p.v.cview(), a.view(),
                           {.features = m, .seed = std::uint64_t(seed), .window = w, .scale = 1.0f});
    performer_attention(p.q.cview(), p.k.cview(), p.v.cview(), b.view(),
                        {.features = m + 2 * w + 1, .seed = std::uint64_t(seed), .scale = 1.0f});
    scatterbrain += relative_error(a, exact) / seeds;
    performer += relative_error(b, exact) / seeds;
  }
  attention_options band;
  band.scale = 1.0f;
  band.window_left = band.window_right = w + m / 2;
  const double band_error = relative_error(p.exact(band), exact);
  SCOPED_TRACE("scatterbrain " + std::to_string(scatterbrain) + ", performer " + std::to_string(performer) +
               ", band " + std::to_string(band_error));
  EXPECT_LT(scatterbrain, performer);
  EXPECT_LT(scatterbrain, band_error);
}

TEST(LocalBandSupport, RowsHoldTheBand) {
  const auto s = local_band_support(5, 8, 1);  // diagonal of row i at i + 3
  ASSERT_EQ(s.rows, 5);
  EXPECT_EQ(std::vector<index_t>(s.row(0).begin(), s.row(0).end()), (std::vector<index_t>{2, 3, 4}));
  EXPECT_EQ(std::vector<index_t>(s.row(4).begin(), s.row(4).end()), (std::vector<index_t>{6, 7}));
  const auto c = local_band_support(4, 4, 2, true);
  EXPECT_EQ(std::vector<index_t>(c.row(0).begin(), c.row(0).end()), (std::vector<index_t>{0}));
  EXPECT_EQ(std::vector<index_t>(c.row(3).begin(), c.row(3).end()), (std::vector<index_t>{1, 2, 3}));
  EXPECT_EQ(c.size(), 1 + 2 + 3 + 3);
}

struct scatterbrain_args {
  static constexpr const char* kWhere = "scatterbrain_attention";
  argument_cases::buffer q{argument_cases::kInput}, k{argument_cases::kInput}, v{argument_cases::kInput},
      out{argument_cases::kSentinel};
  std::array<index_t, 4> qs{1, 6, 4, 8}, ks{1, 9, 2, 8}, vs{1, 9, 2, 5}, os{1, 6, 4, 5};
  scatterbrain_options opt{.features = 16, .window = 2};
  void call() { scatterbrain_attention(q.in<4>(qs), k.in<4>(ks), v.in<4>(vs), out.io<4>(os), opt); }
  bool outputs_untouched() const { return out.untouched(); }
};

TEST(Scatterbrain, BadArgumentsThrowAndWriteNothing) {
  using args = scatterbrain_args;
  argument_cases::run_table<args>({
      {"features 0", "opt.features", [](args& a) { a.opt.features = 0; }},
      {"window -1", "opt.window", [](args& a) { a.opt.window = -1; }},
      {"scale inf", "opt.scale", [](args& a) { a.opt.scale = argument_cases::kInf; }},
      {"causal with Sq != Sk", "q", [](args& a) { a.opt.causal = true; }},
      {"Hq not a multiple of Hkv", "q", [](args& a) { a.qs[2] = 3; a.os[2] = 3; }},
      {"v heads", "v", [](args& a) { a.vs[2] = 1; }},
  });
}

}  // namespace
}  // namespace attnkit::test
