// SPDX-License-Identifier: Apache-2.0
// Tests of sea_attention: the kernel against its double reference (same projection, selection on
// the double estimate) on every arch, rank = D equals top-k attention, recall of the true top
// keys rising with the rank, seeds, threads, arguments.
#include <attnkit/sparse/sea_attention.hpp>

#include <algorithm>
#include <cmath>
#include <vector>

#include <gtest/gtest.h>

#include <attnkit/sparse/reference_topk.hpp>
#include <attnkit/sparse/sea_projection.hpp>
#include <attnkit/sparse/topk_attention.hpp>

#include "sparse/topk_support.hpp"

namespace attnkit::test {
namespace {

struct sea_oracle {
  tensor<double, 4> out;
  tensor<double, 3> lse;
  tensor<float, 4> naive_out;
  tensor<float, 3> naive_lse;
};

sea_oracle make_sea_oracle(const sparse_problem& p, const sea_options& sea,
                           const attention_options& opt) {
  const dims& n = p.n;
  sea_oracle o{tensor<double, 4>({n.B, n.Sq, n.Hq, n.Dv}), tensor<double, 3>({n.B, n.Hq, n.Sq}),
               tensor<float, 4>({n.B, n.Sq, n.Hq, n.Dv}), tensor<float, 3>({n.B, n.Hq, n.Sq})};
  const auto qd = convert<double>(p.q.cview()), kd = convert<double>(p.k.cview()),
             vd = convert<double>(p.v.cview());
  reference::sea_attention<double>(qd.cview(), kd.cview(), vd.cview(), o.out.view(), sea, opt,
                                   o.lse.view());
  const auto pr = attnkit::detail::check_attention("test", p.q.cview(), p.k.cview(), p.v.cview(),
                                                   o.naive_out.view(), opt, o.naive_lse.view());
  reference::detail::topk_forward<float>(pr, opt, sea.top_k,
                                         attnkit::detail::sea_projection(n.D, sea.rank, sea.seed),
                                         sea.rank, p.q.cview(), p.k.cview(), p.v.cview(),
                                         o.naive_out.view(), o.naive_lse.view());
  return o;
}

void check_sea(const sparse_problem& p, const sea_options& sea, const attention_options& opt,
               bool out_bhsd = false) {
  const auto oracle = make_sea_oracle(p, sea, opt);
  for_every_arch([&](auto arch) {
    using Arch = decltype(arch);
    auto out = p.make_out(out_bhsd);
    auto lse = p.make_lse();
    sea_attention<Arch>(p.q.cview(), p.k.cview(), p.v.cview(), out.view(), sea, opt, lse.view());
    EXPECT_TRUE(within_fp32_tolerance(out.cview(), oracle.naive_out.cview(), oracle.out.cview()))
        << "out, top_k " << sea.top_k << ", rank " << sea.rank;
    EXPECT_TRUE(within_fp32_tolerance(lse.cview(), oracle.naive_lse.cview(), oracle.lse.cview()))
        << "lse, top_k " << sea.top_k << ", rank " << sea.rank;
  });
}

TEST(SeaAttention, MatchesReferenceOnOddShapesWithEveryOption) {
  const dims n{.B = 2, .Sq = 37, .Sk = 53, .Hq = 4, .Hkv = 2, .D = 24, .Dv = 19};
  const sparse_problem p(n, 101);
  std::vector<std::pair<const char*, owned_options>> cases(6);
  cases[0].first = "plain";
  cases[1].first = "causal_bottom_right", cases[1].second.causal = true;
  cases[2].first = "causal_top_left", cases[2].second.causal = true;
  cases[2].second.align = alignment::top_left;
  cases[3].first = "window_softcap", cases[3].second.window_left = 11;
  cases[3].second.softcap = 1.5f;
  cases[4].first = "bias_alibi";
  cases[4].second.bias = random_tensor<float, 4>({1, 1, n.Sq, n.Sk}, 7, -1.0, 1.0);
  cases[4].second.alibi_slopes = {0.1f, 0.2f, 0.3f, 0.4f};
  cases[5].first = "sinks", cases[5].second.sinks = {0.5f, -1.0f, 0.0f, 2.0f};
  for (const auto& [name, o] : cases) {
    SCOPED_TRACE(name);
    for (index_t rank : {3, 8, 24}) check_sea(p, {.top_k = 7, .rank = rank, .seed = 5}, o.options());
  }
}

TEST(SeaAttention, GroupedHeadsStridesAndAFastPathHeadDim) {
  const dims n{.B = 1, .Sq = 77, .Sk = 140, .Hq = 4, .Hkv = 1, .D = 64, .Dv = 48};
  const sparse_problem p(n, 111, 1.0, true);
  owned_options o;
  o.causal = true;
  check_sea(p, {.top_k = 16, .rank = 16, .seed = 1}, o.options(), true);
  check_sea(p, {.top_k = 200, .rank = 4, .seed = 2}, {});  // top_k >= Sk: exact attention
}

// rank = D: P is orthogonal, so the estimate is the logit and the result is top-k attention.
TEST(SeaAttention, FullRankEqualsTopkAttention) {
  const dims n{.B = 1, .Sq = 41, .Sk = 67, .Hq = 2, .Hkv = 1, .D = 20, .Dv = 20};
  const sparse_problem p(n, 121);
  owned_options o;
  o.causal = true, o.softcap = 3.0f;
  const attention_options opt = o.options();
  tensor<double, 4> want({n.B, n.Sq, n.Hq, n.Dv});
  const auto qd = convert<double>(p.q.cview()), kd = convert<double>(p.k.cview()),
             vd = convert<double>(p.v.cview());
  reference::topk_attention<double>(qd.cview(), kd.cview(), vd.cview(), want.view(), 5, opt);
  auto naive = p.make_out();
  const auto pr = attnkit::detail::check_attention("test", p.q.cview(), p.k.cview(), p.v.cview(),
                                                   naive.view(), opt, tensor_view<float, 3>{});
  reference::detail::topk_forward<float>(pr, opt, 5, {}, 0, p.q.cview(), p.k.cview(), p.v.cview(),
                                         naive.view(), tensor_view<float, 3>{});
  for_every_arch([&](auto arch) {
    using Arch = decltype(arch);
    for (std::uint64_t seed : {0u, 9u}) {
      auto out = p.make_out();
      sea_attention<Arch>(p.q.cview(), p.k.cview(), p.v.cview(), out.view(),
                          {.top_k = 5, .rank = n.D, .seed = seed}, opt);
      EXPECT_TRUE(within_fp32_tolerance(out.cview(), naive.cview(), want.cview())) << seed;
    }
  });
}

// The estimator: the mean share of each query's true top-k keys that the estimate also ranks in
// its top k, over a few seeds. It rises with the rank and reaches 1 at rank = D.
double mean_recall(const sparse_problem& p, index_t top_k, index_t rank, std::uint64_t seed) {
  const dims& n = p.n;
  const auto P = attnkit::detail::sea_projection(n.D, rank, seed);
  auto top = [&](const std::vector<double>& s) {
    std::vector<index_t> idx(s.size());
    for (std::size_t j = 0; j < idx.size(); ++j) idx[j] = index_t(j);
    std::partial_sort(idx.begin(), idx.begin() + top_k, idx.end(),
                      [&](index_t a, index_t b) { return s[std::size_t(a)] > s[std::size_t(b)]; });
    idx.resize(std::size_t(top_k));
    std::sort(idx.begin(), idx.end());
    return idx;
  };
  auto project = [&](auto x) {  // P x in double
    std::vector<double> y(std::size_t(rank), 0.0);
    for (index_t c = 0; c < rank; ++c)
      for (index_t d = 0; d < n.D; ++d) y[std::size_t(c)] += double(P[std::size_t(c * n.D + d)]) * x(d);
    return y;
  };
  std::vector<std::vector<double>> kp;
  for (index_t j = 0; j < n.Sk; ++j) kp.push_back(project([&](index_t d) { return double(p.k(0, j, 0, d)); }));
  double hits = 0;
  std::vector<double> exact(std::size_t(n.Sk)), est(std::size_t(n.Sk));
  for (index_t i = 0; i < n.Sq; ++i) {
    const auto qp = project([&](index_t d) { return double(p.q(0, i, 0, d)); });
    for (index_t j = 0; j < n.Sk; ++j) {
      double z = 0, e = 0;
      for (index_t d = 0; d < n.D; ++d) z += double(p.q(0, i, 0, d)) * double(p.k(0, j, 0, d));
      for (index_t c = 0; c < rank; ++c) e += qp[std::size_t(c)] * kp[std::size_t(j)][std::size_t(c)];
      exact[std::size_t(j)] = z, est[std::size_t(j)] = e;
    }
    const auto want = top(exact), got = top(est);
    std::vector<index_t> common;
    std::set_intersection(want.begin(), want.end(), got.begin(), got.end(), std::back_inserter(common));
    hits += double(common.size()) / double(top_k);
  }
  return hits / double(n.Sq);
}

TEST(SeaAttention, RecallOfTheTrueTopKeysRisesWithTheRank) {
  const dims n{.B = 1, .Sq = 40, .Sk = 120, .Hq = 1, .Hkv = 1, .D = 32, .Dv = 8};
  const sparse_problem p(n, 131);
  std::vector<double> recall;
  for (index_t rank : {2, 8, 24, 32}) {
    double sum = 0;
    for (std::uint64_t seed = 0; seed < 3; ++seed) sum += mean_recall(p, 12, rank, seed);
    recall.push_back(sum / 3);
  }
  EXPECT_LT(recall[0], recall[1]);
  EXPECT_LT(recall[1], recall[2]);
  EXPECT_LT(recall[2], recall[3]);
  EXPECT_EQ(recall[3], 1.0);
  EXPECT_LT(recall[0], 0.6);
}

// The output approaches top-k attention's as the rank grows (relative L2 error, seed-averaged).
TEST(SeaAttention, ErrorAgainstTopkFallsWithTheRank) {
  const dims n{.B = 1, .Sq = 64, .Sk = 128, .Hq = 2, .Hkv = 1, .D = 32, .Dv = 32};
  const sparse_problem p(n, 141, 1.5);
  auto exact = p.make_out();
  topk_attention(p.q.cview(), p.k.cview(), p.v.cview(), exact.view(), 16);
  std::vector<double> err;
  for (index_t rank : {2, 8, 32}) {
    double e = 0;
    for (std::uint64_t seed = 0; seed < 3; ++seed) {
      auto out = p.make_out();
      sea_attention(p.q.cview(), p.k.cview(), p.v.cview(), out.view(), {.top_k = 16, .rank = rank, .seed = seed});
      e += rms_relative_error(out.cview(), exact.cview());
    }
    err.push_back(e / 3);
  }
  EXPECT_GT(err[0], err[1]);
  EXPECT_GT(err[1], err[2]);
  EXPECT_LT(err[2], 1e-5);
}

TEST(SeaAttention, ReproducibleForASeedAndDifferentAcrossSeeds) {
  const dims n{.B = 1, .Sq = 50, .Sk = 90, .Hq = 2, .Hkv = 2, .D = 16, .Dv = 16};
  const sparse_problem p(n, 151);
  auto a = p.make_out(), b = p.make_out(), c = p.make_out();
  sea_attention(p.q.cview(), p.k.cview(), p.v.cview(), a.view(), {.top_k = 6, .rank = 3, .seed = 77});
  sea_attention(p.q.cview(), p.k.cview(), p.v.cview(), b.view(), {.top_k = 6, .rank = 3, .seed = 77});
  sea_attention(p.q.cview(), p.k.cview(), p.v.cview(), c.view(), {.top_k = 6, .rank = 3, .seed = 78});
  EXPECT_TRUE(identical(a.cview(), b.cview()));
  EXPECT_FALSE(identical(a.cview(), c.cview()));
}

TEST(SeaAttention, OneAndTwoThreadsGiveIdenticalResults) {
  const dims n{.B = 2, .Sq = 150, .Sk = 170, .Hq = 2, .Hkv = 1, .D = 32, .Dv = 32};
  const sparse_problem p(n, 161);
  thread_count_guard guard;
  attention_options opt;
  opt.causal = true, opt.align = alignment::top_left;
  auto one = p.make_out(), two = p.make_out();
  auto lse_one = p.make_lse(), lse_two = p.make_lse();
  const sea_options sea{.top_k = 10, .rank = 8, .seed = 3};
  set_num_threads(1);
  sea_attention(p.q.cview(), p.k.cview(), p.v.cview(), one.view(), sea, opt, lse_one.view());
  set_num_threads(2);
  sea_attention(p.q.cview(), p.k.cview(), p.v.cview(), two.view(), sea, opt, lse_two.view());
  EXPECT_TRUE(identical(one.cview(), two.cview()));
  EXPECT_TRUE(identical(lse_one.cview(), lse_two.cview()));
}

TEST(SeaAttention, BadArgumentsThrowAndLeaveOutputsUntouched) {
  const dims n{.B = 1, .Sq = 9, .Sk = 11, .Hq = 2, .Hkv = 1, .D = 8, .Dv = 8};
  const sparse_problem p(n, 171);
  auto out = p.make_out();
  const auto before = out.storage();
  auto q = p.q.cview(), k = p.k.cview(), v = p.v.cview();
  EXPECT_THROW(sea_attention(q, k, v, out.view(), {.top_k = 0, .rank = 4}), error);
  EXPECT_THROW(sea_attention(q, k, v, out.view(), {.top_k = 3, .rank = 0}), error);
  EXPECT_THROW(sea_attention(q, k, v, out.view(), {.top_k = 3, .rank = 9}), error);
  tensor<float, 4> v2({1, 10, 1, 8});
  EXPECT_THROW(sea_attention(q, k, v2.cview(), out.view(), {.top_k = 3, .rank = 4}), error);
  attention_options opt;
  opt.window_left = -2;
  EXPECT_THROW(sea_attention(q, k, v, out.view(), {.top_k = 3, .rank = 4}, opt), error);
  EXPECT_THROW(reference::sea_attention<float>(q, k, v, out.view(), {.top_k = 3, .rank = 9}), error);
  EXPECT_EQ(out.storage(), before);
  try {
    sea_attention(q, k, v, out.view(), {.top_k = 3, .rank = 9});
  } catch (const error& e) {
    EXPECT_NE(std::string(e.what()).find("sea.rank"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace attnkit::test
