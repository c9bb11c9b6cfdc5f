// SPDX-License-Identifier: Apache-2.0
// Tests of nystrom_attention on every arch: against its own estimator in double (same landmarks,
// same pseudo-inverse iteration) over odd sizes, GQA, strides; as many landmarks as rows is exact
// attention within the pseudo-inverse's residual; the error falls with the landmarks; the
// iteration inverts; argument errors.
#include <attnkit/lowrank/nystrom_attention.hpp>
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
class Nystrom : public ::testing::Test {};
TYPED_TEST_SUITE(Nystrom, compiled_archs, arch_name);

TYPED_TEST(Nystrom, MatchesItsEstimator) {
  using Arch = TypeParam;
  ATTNKIT_SKIP_UNLESS_CPU_SUPPORTS(Arch);
  struct config {
    dims n;
    nystrom_options opt;
  };
  for (const bool strided : {false, true})
    for (const config& c : {config{{.B = 2, .Sq = 37, .Sk = 53, .Hq = 4, .Hkv = 2, .D = 24, .Dv = 19}, {.landmarks = 8}},
                            config{{.B = 1, .Sq = 53, .Sk = 37, .Hq = 3, .Hkv = 1, .D = 17, .Dv = 24},
                                   {.landmarks = 5, .iterations = 3}},
                            config{{.B = 1, .Sq = 1, .Sk = 40, .Hq = 2, .Hkv = 2, .D = 8, .Dv = 5}, {.landmarks = 1}}}) {
      SCOPED_TRACE("Sq " + std::to_string(c.n.Sq) + (strided ? " strided" : ""));
      const problem p(c.n, 91, -1.0, 1.0, strided);
      auto out = p.output(strided);
      nystrom_attention<Arch>(p.q.cview(), p.k.cview(), p.v.cview(), out.view(), c.opt);
      auto want = p.reference_output();
      reference::nystrom_attention(p.q.cview(), p.k.cview(), p.v.cview(), want.view(), c.opt);
      EXPECT_TRUE(matches_estimator(out, want));
      EXPECT_TRUE(wrote_exactly_the_view(out));
    }
}

// m = Sq = Sk: the landmarks are the rows, out = A pinv(A) A V = A V once the iteration has
// converged. The estimator's distance to exact attention is the pseudo-inverse's residual:
// about 2e-2 after the default 6 steps here, below 1e-7 after 20.
TYPED_TEST(Nystrom, AsManyLandmarksAsRowsIsExact) {
  using Arch = TypeParam;
  ATTNKIT_SKIP_UNLESS_CPU_SUPPORTS(Arch);
  const problem p({.B = 1, .Sq = 37, .Sk = 37, .Hq = 2, .Hkv = 1, .D = 24, .Dv = 24}, 11, -2.0, 2.0);
  const auto exact = p.exact();
  auto six = p.output(), twenty = p.output();
  nystrom_attention<Arch>(p.q.cview(), p.k.cview(), p.v.cview(), six.view(), {.landmarks = 37});
  nystrom_attention<Arch>(p.q.cview(), p.k.cview(), p.v.cview(), twenty.view(), {.landmarks = 37, .iterations = 20});
  EXPECT_LT(max_abs_error(six.cview(), exact.cview()), 0.05);
  EXPECT_TRUE(matches_estimator(twenty, exact));
}

// With the default 6 steps (more steps invert A's tiny singular values too and amplify them:
// 20 steps at m = 8 gave an error of 4.7); measured 0.62, 0.59, 0.36, 0.044.
TEST(Nystrom, ErrorFallsWithLandmarks) {
  const problem p({.B = 1, .Sq = 64, .Sk = 64, .Hq = 2, .Hkv = 2, .D = 32, .Dv = 32}, 41, -1.5, 1.5);
  const auto exact = p.exact();
  double previous = 1e300;
  for (const index_t m : {2, 8, 32, 64}) {
    auto out = p.output();
    nystrom_attention(p.q.cview(), p.k.cview(), p.v.cview(), out.view(), {.landmarks = m});
    const double error = relative_error(out, exact);
    SCOPED_TRACE("landmarks " + std::to_string(m) + ": error " + std::to_string(error));
    EXPECT_LT(error, previous);
    previous = error;
  }
  EXPECT_LT(previous, 0.1);
}

// The iteration reaches the inverse of a well-conditioned matrix (a diagonally dominant one).
TEST(Nystrom, PseudoInverseIterationInverts) {
  const index_t n = 9;
  std::vector<double> a(std::size_t(n * n)), z(a.size()), scratch;
  for (index_t i = 0; i < n; ++i)
    for (index_t j = 0; j < n; ++j) a[std::size_t(i * n + j)] = i == j ? 3.0 + 0.1 * double(i) : 0.1 * double((i + 2 * j) % 5) - 0.2;
  detail::nystrom_pinv(n, a.data(), 12, z.data(), scratch);
  for (index_t i = 0; i < n; ++i)
    for (index_t j = 0; j < n; ++j) {
      double az = 0;
      for (index_t l = 0; l < n; ++l) az += a[std::size_t(i * n + l)] * z[std::size_t(l * n + j)];
      EXPECT_NEAR(az, i == j ? 1.0 : 0.0, 1e-12) << i << " " << j;
    }
}

TEST(Nystrom, NoKeysGiveZero) {
  const problem p({.B = 1, .Sq = 5, .Sk = 0, .Hq = 2, .Hkv = 1, .D = 8, .Dv = 3}, 3);
  auto out = p.output();
  nystrom_attention(p.q.cview(), p.k.cview(), p.v.cview(), out.view(), {.landmarks = 4});
  for (float x : out.storage()) EXPECT_EQ(x, 0.0f);
}

struct nystrom_args {
  static constexpr const char* kWhere = "nystrom_attention";
  argument_cases::buffer q{argument_cases::kInput}, k{argument_cases::kInput}, v{argument_cases::kInput},
      out{argument_cases::kSentinel};
  std::array<index_t, 4> qs{1, 6, 4, 8}, ks{1, 9, 2, 8}, vs{1, 9, 2, 5}, os{1, 6, 4, 5};
  nystrom_options opt{.landmarks = 3};
  void call() { nystrom_attention(q.in<4>(qs), k.in<4>(ks), v.in<4>(vs), out.io<4>(os), opt); }
  bool outputs_untouched() const { return out.untouched(); }
};

TEST(Nystrom, BadArgumentsThrowAndWriteNothing) {
  using args = nystrom_args;
  argument_cases::run_table<args>({
      {"causal", "opt.causal", [](args& a) { a.opt.causal = true; }},
      {"landmarks 0", "opt.landmarks", [](args& a) { a.opt.landmarks = 0; }},
      {"landmarks > Sq", "opt.landmarks", [](args& a) { a.opt.landmarks = 7; }},
      {"iterations -1", "opt.iterations", [](args& a) { a.opt.iterations = -1; }},
      {"scale NaN", "opt.scale", [](args& a) { a.opt.scale = argument_cases::kNaN; }},
      {"k batch", "k", [](args& a) { a.ks[0] = 2; }},
  });
}

}  // namespace
}  // namespace attnkit::test
