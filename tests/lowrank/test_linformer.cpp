// SPDX-License-Identifier: Apache-2.0
// Tests of linformer_attention on every arch: against its double reference with random
// projections over odd sizes, GQA and strides; identity projections give exact attention;
// argument errors (causal included).
#include <attnkit/lowrank/linformer_attention.hpp>
#include <attnkit/lowrank/reference.hpp>

#include <string>

#include <gtest/gtest.h>

#include "exact/argument_cases.hpp"
#include "lowrank/lowrank_support.hpp"
#include "support/archs.hpp"

namespace attnkit::test {
namespace {

using namespace lowrank;

template <class Arch>
class Linformer : public ::testing::Test {};
TYPED_TEST_SUITE(Linformer, compiled_archs, arch_name);

TYPED_TEST(Linformer, MatchesReference) {
  using Arch = TypeParam;
  ATTNKIT_SKIP_UNLESS_CPU_SUPPORTS(Arch);
  for (const bool strided : {false, true})
    for (const index_t k_proj : {1, 13})
      for (const dims n : {dims{.B = 2, .Sq = 37, .Sk = 53, .Hq = 4, .Hkv = 2, .D = 24, .Dv = 19},
                           dims{.B = 1, .Sq = 53, .Sk = 37, .Hq = 3, .Hkv = 1, .D = 17, .Dv = 24}}) {
        SCOPED_TRACE("Sq " + std::to_string(n.Sq) + " k_proj " + std::to_string(k_proj) + (strided ? " strided" : ""));
        const problem p(n, 101, -1.0, 1.0, strided);
        // Rows of E, F with entries in [0, 2 / Sk): projected rows of the inputs' size.
        const auto e = random_tensor<float, 2>({k_proj, n.Sk}, 5, 0.0, 2.0 / double(n.Sk));
        // F strided: every other column of a wider matrix would break the unit stride, so pad rows.
        tensor<float, 2> f({k_proj, n.Sk}, {0, 1}, 4, kSentinel);
        fill_uniform(f.view(), 6, -2.0 / double(n.Sk), 2.0 / double(n.Sk));
        auto out = p.output(strided);
        linformer_attention<Arch>(p.q.cview(), p.k.cview(), p.v.cview(), e.cview(), f.cview(), out.view());
        auto want = p.reference_output();
        reference::linformer_attention(p.q.cview(), p.k.cview(), p.v.cview(), e.cview(), f.cview(), want.view());
        EXPECT_TRUE(matches_estimator(out, want));
        EXPECT_TRUE(wrote_exactly_the_view(out));
      }
}

TYPED_TEST(Linformer, IdentityProjectionsAreExact) {
  using Arch = TypeParam;
  ATTNKIT_SKIP_UNLESS_CPU_SUPPORTS(Arch);
  const problem p({.B = 2, .Sq = 37, .Sk = 53, .Hq = 4, .Hkv = 2, .D = 24, .Dv = 24}, 111, -2.0, 2.0);
  tensor<float, 2> eye({53, 53});
  for (index_t j = 0; j < 53; ++j) eye(j, j) = 1.0f;
  auto out = p.output();
  linformer_attention<Arch>(p.q.cview(), p.k.cview(), p.v.cview(), eye.cview(), eye.cview(), out.view());
  EXPECT_TRUE(matches_estimator(out, p.exact()));
}

struct linformer_args {
  static constexpr const char* kWhere = "linformer_attention";
  argument_cases::buffer q{argument_cases::kInput}, k{argument_cases::kInput}, v{argument_cases::kInput},
      e{argument_cases::kInput}, f{argument_cases::kInput}, out{argument_cases::kSentinel};
  std::array<index_t, 4> qs{1, 6, 4, 8}, ks{1, 9, 2, 8}, vs{1, 9, 2, 5}, os{1, 6, 4, 5};
  std::array<index_t, 2> es{3, 9}, fs{3, 9};
  linformer_options opt{};
  void call() {
    linformer_attention(q.in<4>(qs), k.in<4>(ks), v.in<4>(vs), e.in<2>(es), f.in<2>(fs), out.io<4>(os), opt);
  }
  bool outputs_untouched() const { return out.untouched(); }
};

TEST(Linformer, BadArgumentsThrowAndWriteNothing) {
  using args = linformer_args;
  argument_cases::run_table<args>({
      {"causal", "opt.causal", [](args& a) { a.opt.causal = true; }},
      {"k_proj 0", "e", [](args& a) { a.es[0] = 0; a.fs[0] = 0; }},
      {"e length", "e", [](args& a) { a.es[1] = 8; }},
      {"f rows", "f", [](args& a) { a.fs[0] = 2; }},
      {"f length", "f", [](args& a) { a.fs[1] = 10; }},
      {"scale inf", "opt.scale", [](args& a) { a.opt.scale = argument_cases::kInf; }},
      {"out length", "out", [](args& a) { a.os[1] = 5; }},
  });
}

}  // namespace
}  // namespace attnkit::test
