// SPDX-License-Identifier: Apache-2.0
// Tests of probsparse_attention: the kernel against its double reference on every arch, u >= Sq
// is exact attention, the active queries are the top u by the exact measure, lazy rows are the
// (prefix) means, seeds, threads, arguments.
#include <attnkit/sparse/probsparse_attention.hpp>

#include <algorithm>
#include <cmath>
#include <vector>

#include <gtest/gtest.h>

#include <attnkit/exact/reference.hpp>
#include <attnkit/sparse/reference_probsparse.hpp>

#include "sparse/topk_support.hpp"

namespace attnkit::test {
namespace {

void check_probsparse(const sparse_problem& p, const probsparse_options& opt, bool out_bhsd = false) {
  const dims& n = p.n;
  tensor<double, 4> want({n.B, n.Sq, n.Hq, n.Dv});
  const auto qd = convert<double>(p.q.cview()), kd = convert<double>(p.k.cview()),
             vd = convert<double>(p.v.cview());
  reference::probsparse_attention<double>(qd.cview(), kd.cview(), vd.cview(), want.view(), opt);
  auto naive = p.make_out();
  const auto pr = attnkit::detail::check_probsparse("test", p.q.cview(), p.k.cview(), p.v.cview(),
                                                    naive.view(), opt);
  reference::detail::probsparse_forward<float>(pr, attnkit::detail::probsparse_plan(opt, n.Sq, n.Sk),
                                               p.q.cview(), p.k.cview(), p.v.cview(), naive.view());
  for_every_arch([&](auto arch) {
    using Arch = decltype(arch);
    auto out = p.make_out(out_bhsd);
    probsparse_attention<Arch>(p.q.cview(), p.k.cview(), p.v.cview(), out.view(), opt);
    EXPECT_TRUE(within_fp32_tolerance(out.cview(), naive.cview(), want.cview()));
  });
}

TEST(ProbsparseAttention, MatchesReferenceOnOddShapes) {
  for (const auto& [Sq, Sk] : {std::pair<index_t, index_t>{37, 53}, {53, 37}, {1, 1}, {60, 1}}) {
    const dims n{.B = 2, .Sq = Sq, .Sk = Sk, .Hq = 4, .Hkv = 2, .D = 24, .Dv = 19};
    const sparse_problem p(n, 201 + Sq);
    for (bool causal : {false, true})
      for (alignment align : {alignment::bottom_right, alignment::top_left}) {
        SCOPED_TRACE(::testing::Message() << "Sq " << Sq << " Sk " << Sk << " causal " << causal
                                          << " top_left " << (align == alignment::top_left));
        check_probsparse(p, {.factor = 2, .causal = causal, .align = align, .seed = 4});
        check_probsparse(p, {.factor = 1, .causal = causal, .align = align, .scale = 0.7f,
                             .sample_keys = 9, .active_queries = 11, .seed = 5});
      }
  }
}

TEST(ProbsparseAttention, BhsdStridesAndAFastPathHeadDim) {
  const dims n{.B = 1, .Sq = 90, .Sk = 130, .Hq = 2, .Hkv = 1, .D = 64, .Dv = 64};
  const sparse_problem p(n, 211, 1.0, true);
  check_probsparse(p, {}, true);
  check_probsparse(p, {.causal = true}, false);
}

// u >= Sq: every query is active, which is exact attention (causal: with the same alignment).
TEST(ProbsparseAttention, AllQueriesActiveIsExactAttention) {
  const dims n{.B = 2, .Sq = 37, .Sk = 53, .Hq = 2, .Hkv = 1, .D = 24, .Dv = 24};
  const sparse_problem p(n, 221);
  for (bool causal : {false, true})
    for (alignment align : {alignment::bottom_right, alignment::top_left}) {
      attention_options opt;
      opt.causal = causal, opt.align = align;
      tensor<double, 4> want({n.B, n.Sq, n.Hq, n.Dv});
      const auto qd = convert<double>(p.q.cview()), kd = convert<double>(p.k.cview()),
                 vd = convert<double>(p.v.cview());
      reference::attention<double>(qd.cview(), kd.cview(), vd.cview(), want.view(), opt);
      auto naive = p.make_out();
      const auto pr = attnkit::detail::check_attention("test", p.q.cview(), p.k.cview(), p.v.cview(),
                                                       naive.view(), opt, tensor_view<float, 3>{});
      reference::detail::forward<float>(pr, opt, p.q.cview(), p.k.cview(), p.v.cview(), naive.view(),
                                        tensor_view<float, 3>{});
      for_every_arch([&](auto arch) {
        using Arch = decltype(arch);
        // factor 10: u = 10 ceil(ln 37) = 40 >= Sq; and the override.
        for (const probsparse_options& o :
             {probsparse_options{.factor = 10, .causal = causal, .align = align},
              probsparse_options{.causal = causal, .align = align, .active_queries = 1000}}) {
          auto out = p.make_out();
          probsparse_attention<Arch>(p.q.cview(), p.k.cview(), p.v.cview(), out.view(), o);
          EXPECT_TRUE(within_fp32_tolerance(out.cview(), naive.cview(), want.cview()));
        }
      });
    }
}

// With U >= Sk the measure is exact: the active rows are the u of largest max - mean (computed
// here in double from q and k), they equal exact attention, and every other row equals the mean
// of v (non-causal) or of v_0 .. v_(i+o) (causal).
TEST(ProbsparseAttention, ActiveRowsAreTheTopUByTheExactMeasureAndLazyRowsAreMeans) {
  const dims n{.B = 1, .Sq = 41, .Sk = 47, .Hq = 2, .Hkv = 1, .D = 16, .Dv = 16};
  const sparse_problem p(n, 231, 1.5);
  const double scale = 1.0 / std::sqrt(double(n.D));
  for (bool causal : {false, true})
    for (alignment align : {alignment::bottom_right, alignment::top_left}) {
      SCOPED_TRACE(::testing::Message() << "causal " << causal << " top_left " << (align == alignment::top_left));
      const probsparse_options o{.factor = 2, .causal = causal, .align = align, .sample_keys = 1000};
      const index_t u = 2 * index_t(std::ceil(std::log(double(n.Sq))));  // 8
      const index_t off = align == alignment::bottom_right ? n.Sk - n.Sq : 0;
      attention_options exact_opt;
      exact_opt.causal = causal, exact_opt.align = align;
      tensor<double, 4> exact({n.B, n.Sq, n.Hq, n.Dv});
      const auto qd = convert<double>(p.q.cview()), kd = convert<double>(p.k.cview()),
                 vd = convert<double>(p.v.cview());
      reference::attention<double>(qd.cview(), kd.cview(), vd.cview(), exact.view(), exact_opt);
      auto out = p.make_out();
      probsparse_attention(p.q.cview(), p.k.cview(), p.v.cview(), out.view(), o);
      for (index_t h = 0; h < n.Hq; ++h) {
        std::vector<std::pair<double, index_t>> measure;
        for (index_t i = 0; i < n.Sq; ++i) {
          const index_t visible = causal ? std::min(n.Sk, i + off + 1) : n.Sk;
          double m = -1e300, sum = 0;
          for (index_t j = 0; j < visible; ++j) {
            double s = 0;
            for (index_t d = 0; d < n.D; ++d) s += double(p.q(0, i, h, d)) * double(p.k(0, j, 0, d));
            m = std::max(m, scale * s), sum += scale * s;
          }
          measure.emplace_back(m - sum / double(visible), i);
        }
        std::sort(measure.rbegin(), measure.rend());
        std::vector<char> active(std::size_t(n.Sq), 0);
        for (index_t t = 0; t < u; ++t) active[std::size_t(measure[std::size_t(t)].second)] = 1;
        for (index_t i = 0; i < n.Sq; ++i) {
          const index_t visible = causal ? std::min(n.Sk, i + off + 1) : n.Sk;
          for (index_t d = 0; d < n.Dv; ++d) {
            double mean = 0;
            for (index_t j = 0; j < visible; ++j) mean += double(p.v(0, j, 0, d));
            mean /= double(visible);
            const double want = active[std::size_t(i)] ? exact(0, i, h, d) : mean;
            ASSERT_NEAR(out(0, i, h, d), want, 2e-6) << "h " << h << " i " << i << " d " << d
                                                     << (active[std::size_t(i)] ? " active" : " lazy");
          }
        }
      }
    }
}

TEST(ProbsparseAttention, QueriesWithoutKeysGiveZero) {
  const dims n{.B = 1, .Sq = 30, .Sk = 10, .Hq = 1, .Hkv = 1, .D = 8, .Dv = 8};
  const sparse_problem p(n, 241);
  for_every_arch([&](auto arch) {
    using Arch = decltype(arch);
    for (index_t u : {1, 30}) {
      auto out = p.make_out();
      probsparse_attention<Arch>(p.q.cview(), p.k.cview(), p.v.cview(), out.view(),
                                 {.causal = true, .active_queries = u});  // queries 0 .. 19 see nothing
      for (index_t i = 0; i < n.Sq; ++i)
        for (index_t d = 0; d < n.Dv; ++d)
          if (i < 20) EXPECT_TRUE(is_positive_zero(out(0, i, 0, d))) << i;
          else EXPECT_TRUE(std::isfinite(out(0, i, 0, d)));
    }
  });
}

TEST(ProbsparseAttention, ReproducibleForASeedAndDifferentAcrossSeeds) {
  const dims n{.B = 1, .Sq = 80, .Sk = 90, .Hq = 2, .Hkv = 2, .D = 16, .Dv = 16};
  const sparse_problem p(n, 251);
  auto a = p.make_out(), b = p.make_out(), c = p.make_out();
  const probsparse_options o{.factor = 2, .sample_keys = 3, .seed = 8};
  probsparse_attention(p.q.cview(), p.k.cview(), p.v.cview(), a.view(), o);
  probsparse_attention(p.q.cview(), p.k.cview(), p.v.cview(), b.view(), o);
  probsparse_options other = o;
  other.seed = 9;
  probsparse_attention(p.q.cview(), p.k.cview(), p.v.cview(), c.view(), other);
  EXPECT_TRUE(identical(a.cview(), b.cview()));
  EXPECT_FALSE(identical(a.cview(), c.cview()));
}

TEST(ProbsparseAttention, OneAndTwoThreadsGiveIdenticalResults) {
  const dims n{.B = 2, .Sq = 150, .Sk = 170, .Hq = 2, .Hkv = 1, .D = 32, .Dv = 32};
  const sparse_problem p(n, 261);
  thread_count_guard guard;
  auto one = p.make_out(), two = p.make_out();
  const probsparse_options o{.causal = true, .seed = 2};
  set_num_threads(1);
  probsparse_attention(p.q.cview(), p.k.cview(), p.v.cview(), one.view(), o);
  set_num_threads(2);
  probsparse_attention(p.q.cview(), p.k.cview(), p.v.cview(), two.view(), o);
  EXPECT_TRUE(identical(one.cview(), two.cview()));
}

TEST(ProbsparseAttention, BadArgumentsThrowAndLeaveOutputsUntouched) {
  const dims n{.B = 1, .Sq = 9, .Sk = 11, .Hq = 2, .Hkv = 1, .D = 8, .Dv = 8};
  const sparse_problem p(n, 271);
  auto out = p.make_out();
  const auto before = out.storage();
  auto q = p.q.cview(), k = p.k.cview(), v = p.v.cview();
  EXPECT_THROW(probsparse_attention(q, k, v, out.view(), {.factor = 0}), error);
  EXPECT_THROW(probsparse_attention(q, k, v, out.view(), {.sample_keys = -1}), error);
  EXPECT_THROW(probsparse_attention(q, k, v, out.view(), {.active_queries = -2}), error);
  EXPECT_THROW(probsparse_attention(q, k, v, out.view(), {.scale = std::nanf("")}), error);
  tensor<float, 4> k2({1, 11, 1, 7});
  EXPECT_THROW(probsparse_attention(q, k2.cview(), v, out.view()), error);
  const tensor_view<float, 4> bad_out(out.view().data(), {1, 9, 2, 8}, {144, 16, 0, 1});  // heads alias
  EXPECT_THROW(probsparse_attention(q, k, v, bad_out), error);
  EXPECT_THROW(reference::probsparse_attention<float>(q, k, v, out.view(), {.factor = 0}), error);
  EXPECT_EQ(out.storage(), before);
  try {
    probsparse_attention(q, k, v, out.view(), {.factor = 0});
  } catch (const error& e) {
    EXPECT_NE(std::string(e.what()).find("opt.factor"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace attnkit::test
