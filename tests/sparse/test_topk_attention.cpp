// SPDX-License-Identifier: Apache-2.0
// Tests of topk_attention on every compiled arch against its double reference (selection in
// double): masks and modifiers, GQA, strides, the exact limits, ties, NaN, threads, arguments.
#include <attnkit/sparse/topk_attention.hpp>

#include <algorithm>
#include <cmath>
#include <initializer_list>
#include <limits>
#include <random>
#include <vector>

#include <gtest/gtest.h>

#include <attnkit/exact/reference.hpp>
#include <attnkit/sparse/reference_topk.hpp>

#include "sparse/topk_support.hpp"

namespace attnkit::test {
namespace {

/// The double reference and the naive float implementation of the same formula (the tolerance).
struct topk_oracle {
  tensor<double, 4> out;
  tensor<double, 3> lse;
  tensor<float, 4> naive_out;
  tensor<float, 3> naive_lse;
};

topk_oracle make_topk_oracle(const sparse_problem& p, index_t top_k, const attention_options& opt) {
  const dims& n = p.n;
  topk_oracle o{tensor<double, 4>({n.B, n.Sq, n.Hq, n.Dv}), tensor<double, 3>({n.B, n.Hq, n.Sq}),
                tensor<float, 4>({n.B, n.Sq, n.Hq, n.Dv}), tensor<float, 3>({n.B, n.Hq, n.Sq})};
  const auto qd = convert<double>(p.q.cview()), kd = convert<double>(p.k.cview()),
             vd = convert<double>(p.v.cview());
  reference::topk_attention<double>(qd.cview(), kd.cview(), vd.cview(), o.out.view(), top_k, opt,
                                    o.lse.view());
  const auto pr = attnkit::detail::check_attention("test", p.q.cview(), p.k.cview(), p.v.cview(),
                                                   o.naive_out.view(), opt, o.naive_lse.view());
  reference::detail::topk_forward<float>(pr, opt, top_k, {}, 0, p.q.cview(), p.k.cview(),
                                         p.v.cview(), o.naive_out.view(), o.naive_lse.view());
  return o;
}

void check_topk(const sparse_problem& p, index_t top_k, const attention_options& opt,
                bool out_bhsd = false) {
  const auto oracle = make_topk_oracle(p, top_k, opt);
  for_every_arch([&](auto arch) {
    using Arch = decltype(arch);
    auto out = p.make_out(out_bhsd);
    auto lse = p.make_lse();
    topk_attention<Arch>(p.q.cview(), p.k.cview(), p.v.cview(), out.view(), top_k, opt, lse.view());
    EXPECT_TRUE(within_fp32_tolerance(out.cview(), oracle.naive_out.cview(), oracle.out.cview()))
        << "out, top_k " << top_k;
    EXPECT_TRUE(within_fp32_tolerance(lse.cview(), oracle.naive_lse.cview(), oracle.lse.cview()))
        << "lse, top_k " << top_k;
  });
}

std::vector<std::pair<const char*, owned_options>> option_cases(index_t Hq, index_t Sq, index_t Sk) {
  std::vector<std::pair<const char*, owned_options>> cases;
  auto add = [&](const char* name, auto edit) {
    owned_options o;
    edit(o);
    cases.emplace_back(name, std::move(o));
  };
  add("plain", [](owned_options&) {});
  add("causal_bottom_right", [](owned_options& o) { o.causal = true; });
  add("causal_top_left", [](owned_options& o) { o.causal = true, o.align = alignment::top_left; });
  add("window_9_4", [](owned_options& o) { o.window_left = 9, o.window_right = 4; });
  add("softcap_scale", [](owned_options& o) { o.softcap = 2.0f, o.scale = 1.5f; });
  add("alibi_causal", [&](owned_options& o) {
    o.causal = true;
    for (index_t h = 0; h < Hq; ++h) o.alibi_slopes.push_back(0.05f * float(h + 1));
  });
  add("bias", [&](owned_options& o) { o.bias = random_tensor<float, 4>({1, Hq, Sq, Sk}, 71, -2.0, 2.0); });
  add("sinks_causal_top_left", [&](owned_options& o) {
    o.causal = true, o.align = alignment::top_left;
    for (index_t h = 0; h < Hq; ++h) o.sinks.push_back(0.3f * float(h) - 0.2f);
  });
  return cases;
}

/// Every option on both odd shapes (Sq < Sk and Sq > Sk) with each of the top_k values.
void check_odd_shapes_with_every_option(std::initializer_list<index_t> top_ks) {
  for (const auto& [Sq, Sk] : {std::pair<index_t, index_t>{37, 53}, {53, 37}}) {
    const dims n{.B = 2, .Sq = Sq, .Sk = Sk, .Hq = 4, .Hkv = 2, .D = 24, .Dv = 19};
    const sparse_problem p(n, 11 + Sq);
    for (const auto& [name, o] : option_cases(n.Hq, n.Sq, n.Sk)) {
      SCOPED_TRACE(name);
      for (index_t top_k : top_ks) check_topk(p, top_k, o.options());
    }
  }
}

// The default run: one top_k between a SIMD width and the row length (top_k 1 has its own test,
// TopOneReturnsTheBestKeysValueExactly, and more keys than a row its own, below).
TEST(TopkAttention, MatchesReferenceOnOddShapesWithEveryOption) { check_odd_shapes_with_every_option({6}); }

// The grid's other top_k values (label sweep: `ctest --preset sweep`).
TEST(TopkAttentionSweep, MatchesReferenceOnOddShapesWithEveryOptionAndTopK) {
  check_odd_shapes_with_every_option({1, 17});
}

TEST(TopkAttention, FastPathHeadDimAndMultiQuery) {
  const dims n{.B = 1, .Sq = 130, .Sk = 201, .Hq = 3, .Hkv = 1, .D = 64, .Dv = 64};
  const sparse_problem p(n, 5);
  check_topk(p, 32, {});
  owned_options o;
  o.causal = true;
  check_topk(p, 9, o.options());
}

TEST(TopkAttention, BhsdInputsAndOutputs) {
  const dims n{.B = 2, .Sq = 45, .Sk = 61, .Hq = 2, .Hkv = 2, .D = 17, .Dv = 23};
  const sparse_problem p(n, 21, 1.0, true);
  owned_options o;
  o.causal = true;
  check_topk(p, 7, o.options(), true);
  check_topk(p, 7, {}, false);
}

// top_k at least the visible count is exact attention: the exact module's reference is the oracle.
TEST(TopkAttention, TopKAtLeastTheVisibleKeysIsExactAttention) {
  const dims n{.B = 1, .Sq = 37, .Sk = 53, .Hq = 2, .Hkv = 1, .D = 24, .Dv = 24};
  const sparse_problem p(n, 31);
  for (const auto& [name, o] : option_cases(n.Hq, n.Sq, n.Sk)) {
    SCOPED_TRACE(name);
    const attention_options opt = o.options();
    tensor<double, 4> want({n.B, n.Sq, n.Hq, n.Dv});
    tensor<double, 3> want_lse({n.B, n.Hq, n.Sq});
    const auto qd = convert<double>(p.q.cview()), kd = convert<double>(p.k.cview()),
               vd = convert<double>(p.v.cview());
    reference::attention<double>(qd.cview(), kd.cview(), vd.cview(), want.view(), opt, want_lse.view());
    auto naive = p.make_out();
    auto naive_lse = p.make_lse();
    const auto pr = attnkit::detail::check_attention("test", p.q.cview(), p.k.cview(), p.v.cview(),
                                                     naive.view(), opt, naive_lse.view());
    reference::detail::forward<float>(pr, opt, p.q.cview(), p.k.cview(), p.v.cview(), naive.view(),
                                      naive_lse.view());
    for_every_arch([&](auto arch) {
      using Arch = decltype(arch);
      for (index_t top_k : {n.Sk, n.Sk + 100}) {
        auto out = p.make_out();
        auto lse = p.make_lse();
        topk_attention<Arch>(p.q.cview(), p.k.cview(), p.v.cview(), out.view(), top_k, opt, lse.view());
        EXPECT_TRUE(within_fp32_tolerance(out.cview(), naive.cview(), want.cview()));
        EXPECT_TRUE(within_fp32_tolerance(lse.cview(), naive_lse.cview(), want_lse.cview()));
      }
    });
  }
}

// The error against exact attention falls as top_k grows: each row's dropped softmax mass
// shrinks with k, and so (averaged over 74 rows of 2 heads) does the output's error.
TEST(TopkAttention, ErrorFallsAsTopKGrows) {
  const dims n{.B = 1, .Sq = 37, .Sk = 97, .Hq = 2, .Hkv = 1, .D = 16, .Dv = 16};
  const sparse_problem p(n, 61, 2.0);
  tensor<double, 4> want({n.B, n.Sq, n.Hq, n.Dv});
  const auto qd = convert<double>(p.q.cview()), kd = convert<double>(p.k.cview()),
             vd = convert<double>(p.v.cview());
  reference::attention<double>(qd.cview(), kd.cview(), vd.cview(), want.view(), {});
  double previous = 1e300;
  for (const index_t top_k : {1, 4, 16, 48, 97}) {
    auto out = p.make_out();
    topk_attention(p.q.cview(), p.k.cview(), p.v.cview(), out.view(), top_k);
    double error = 0.0;
    for (index_t i = 0; i < n.Sq; ++i)
      for (index_t h = 0; h < n.Hq; ++h) {
        double diff2 = 0.0, norm2 = 0.0;
        for (index_t d = 0; d < n.Dv; ++d) {
          const double w = want(0, i, h, d), e = double(out(0, i, h, d)) - w;
          diff2 += e * e;
          norm2 += w * w;
        }
        error += std::sqrt(diff2 / norm2);
      }
    error /= double(n.Sq * n.Hq);
    SCOPED_TRACE("top_k " + std::to_string(top_k) + ": mean relative error " + std::to_string(error));
    EXPECT_LT(error, previous);
    previous = error;
  }
  EXPECT_LT(previous, 1e-5);  // top_k = Sk: exact attention
}

// top_k = 1: the value row of the key with the largest logit (argmax found in double), bit for bit.
TEST(TopkAttention, TopOneReturnsTheBestKeysValueExactly) {
  const dims n{.B = 2, .Sq = 37, .Sk = 53, .Hq = 4, .Hkv = 2, .D = 24, .Dv = 24};
  const sparse_problem p(n, 41);
  owned_options o;
  o.causal = true, o.align = alignment::top_left;
  const attention_options opt = o.options();
  tensor<index_t, 3> best({n.B, n.Hq, n.Sq});  // the argmax over keys 0 .. i, in double
  for (index_t b = 0; b < n.B; ++b)
    for (index_t h = 0; h < n.Hq; ++h)
      for (index_t i = 0; i < n.Sq; ++i) {
        double best_z = -1e300;
        for (index_t j = 0; j <= i; ++j) {
          double z = 0;
          for (index_t d = 0; d < n.D; ++d) z += double(p.q(b, i, h, d)) * double(p.k(b, j, h / 2, d));
          if (z >= best_z) best_z = z, best(b, h, i) = j;
        }
      }
  for_every_arch([&](auto arch) {
    using Arch = decltype(arch);
    auto out = p.make_out();
    topk_attention<Arch>(p.q.cview(), p.k.cview(), p.v.cview(), out.view(), 1, opt);
    for_each_index(out.extents(), [&](const auto& x) {
      ASSERT_EQ(out(x[0], x[1], x[2], x[3]), p.v(x[0], best(x[0], x[2], x[1]), x[2] / 2, x[3])) << x[1];
    });
  });
}

// Equal logits: the later key wins. Keys 3, 9 and 20 are copies of one key that every query
// prefers strongly; top_k = 1 keeps key 20, top_k = 2 keeps keys 9 and 20 (equal weights).
TEST(TopkAttention, TiesKeepTheLaterKey) {
  const dims n{.B = 1, .Sq = 5, .Sk = 29, .Hq = 1, .Hkv = 1, .D = 8, .Dv = 8};
  sparse_problem p(n, 51, 0.1);
  for (index_t d = 0; d < n.D; ++d) p.k(0, 3, 0, d) = p.k(0, 9, 0, d) = p.k(0, 20, 0, d) = 1.0f;
  for (index_t i = 0; i < n.Sq; ++i)
    for (index_t d = 0; d < n.D; ++d) p.q(0, i, 0, d) = 1.0f;
  for_every_arch([&](auto arch) {
    using Arch = decltype(arch);
    auto one = p.make_out(), two = p.make_out();
    topk_attention<Arch>(p.q.cview(), p.k.cview(), p.v.cview(), one.view(), 1);
    topk_attention<Arch>(p.q.cview(), p.k.cview(), p.v.cview(), two.view(), 2);
    for (index_t i = 0; i < n.Sq; ++i)
      for (index_t d = 0; d < n.Dv; ++d) {
        EXPECT_EQ(one(0, i, 0, d), p.v(0, 20, 0, d));
        EXPECT_NEAR(two(0, i, 0, d), 0.5 * (double(p.v(0, 9, 0, d)) + double(p.v(0, 20, 0, d))), 1e-6);
      }
  });
  // The reference follows the same rule.
  tensor<double, 4> ref({1, n.Sq, 1, n.Dv});
  const auto qd = convert<double>(p.q.cview()), kd = convert<double>(p.k.cview()),
             vd = convert<double>(p.v.cview());
  reference::topk_attention<double>(qd.cview(), kd.cview(), vd.cview(), ref.view(), 1);
  for (index_t d = 0; d < n.Dv; ++d) EXPECT_EQ(ref(0, 2, 0, d), double(p.v(0, 20, 0, d)));
}

TEST(TopkAttention, RowsWithoutKeysGiveZeroAndMinusInfinity) {
  const dims n{.B = 1, .Sq = 70, .Sk = 30, .Hq = 1, .Hkv = 1, .D = 16, .Dv = 16};
  const sparse_problem p(n, 61);
  attention_options opt;
  opt.causal = true;  // bottom-right with Sq > Sk: queries 0 .. 39 see no key
  for_every_arch([&](auto arch) {
    using Arch = decltype(arch);
    auto out = p.make_out();
    auto lse = p.make_lse();
    topk_attention<Arch>(p.q.cview(), p.k.cview(), p.v.cview(), out.view(), 4, opt, lse.view());
    for (index_t i = 0; i < n.Sq; ++i) {
      EXPECT_EQ(lse(0, 0, i) == -std::numeric_limits<float>::infinity(), i < 40) << i;
      for (index_t d = 0; d < n.Dv; ++d)
        if (i < 40) EXPECT_TRUE(is_positive_zero(out(0, i, 0, d)));
        else EXPECT_TRUE(std::isfinite(out(0, i, 0, d)));
    }
  });
}

TEST(TopkAttention, NanReachesOnlyTheRowsThatSeeIt) {
  const dims n{.B = 1, .Sq = 20, .Sk = 25, .Hq = 1, .Hkv = 1, .D = 8, .Dv = 8};
  sparse_problem p(n, 71);
  p.k(0, 12, 0, 3) = std::numeric_limits<float>::quiet_NaN();
  attention_options opt;
  opt.causal = true;  // o = 5: query i sees keys 0 .. i + 5, key 12 from query 7 on
  const auto oracle = make_topk_oracle(p, 3, opt);
  for_every_arch([&](auto arch) {
    using Arch = decltype(arch);
    auto out = p.make_out();
    topk_attention<Arch>(p.q.cview(), p.k.cview(), p.v.cview(), out.view(), 3, opt);
    for (index_t i = 0; i < n.Sq; ++i)
      EXPECT_EQ(std::isnan(out(0, i, 0, 0)), i >= 7) << i;
    EXPECT_TRUE(within_fp32_tolerance(out.cview(), oracle.naive_out.cview(), oracle.out.cview()));
  });
}

// Rows of 1024 keys and more take the sampled-threshold path of the selection.
TEST(TopkAttention, LongRowsMatchReference) {
  const dims n{.B = 1, .Sq = 9, .Sk = 1500, .Hq = 2, .Hkv = 1, .D = 16, .Dv = 16};
  sparse_problem p(n, 95, 2.0);
  for (index_t top_k : {1, 8, 100, 125}) check_topk(p, top_k, {});
  // 1470 copies of one key, 30 distinct ones: a row of massive ties at the threshold.
  for (index_t j = 0; j < n.Sk; ++j)
    if (j % 50 != 7)
      for (index_t d = 0; d < n.D; ++d) p.k(0, j, 0, d) = p.k(0, 0, 0, d);
  for (index_t top_k : {5, 40, 100}) check_topk(p, top_k, {});
}

// The selection alone against a sort by (score desc, position desc), on long rows with and
// without duplicates, both paths of kth_largest.
TEST(TopkAttention, SelectionEqualsASortWithTheTieRule) {
  std::mt19937_64 rng(7);
  for_every_arch([&](auto arch) {
    using Arch = decltype(arch);
    for (index_t n : {1, 37, 1000, 1500, 4096})
      for (int distinct : {0, 3, 40})
        for (index_t k : {1, 5, 64, 300, 5000}) {
          std::vector<float> z(static_cast<std::size_t>(n)), work(static_cast<std::size_t>(n));
          std::vector<index_t> picked(static_cast<std::size_t>(n)), ties(static_cast<std::size_t>(n));
          for (auto& x : z) x = distinct == 0 ? float(std::uniform_real_distribution<double>(-3, 3)(rng))
                                              : float(rng() % std::uint64_t(distinct));
          std::vector<float> value(static_cast<std::size_t>(n));
          const index_t got = attnkit::detail::select_top_keys<Arch>(z.data(), n, k, picked.data(),
                                                                     ties.data(), value.data(), work.data());
          std::vector<index_t> order(static_cast<std::size_t>(n));
          for (index_t t = 0; t < n; ++t) order[std::size_t(t)] = t;
          std::sort(order.begin(), order.end(), [&](index_t a, index_t b) {
            return z[std::size_t(a)] != z[std::size_t(b)] ? z[std::size_t(a)] > z[std::size_t(b)] : a > b;
          });
          order.resize(std::size_t(std::min(k, n)));
          std::sort(order.begin(), order.end());
          ASSERT_EQ(got, index_t(order.size())) << n << " " << k << " " << distinct;
          ASSERT_TRUE(std::equal(order.begin(), order.end(), picked.begin())) << n << " " << k << " " << distinct;
        }
  });
}

TEST(TopkAttention, OneAndTwoThreadsGiveIdenticalResults) {
  const dims n{.B = 2, .Sq = 150, .Sk = 170, .Hq = 2, .Hkv = 1, .D = 32, .Dv = 32};
  const sparse_problem p(n, 81);
  thread_count_guard guard;
  attention_options opt;
  opt.causal = true;
  auto one = p.make_out(), two = p.make_out();
  auto lse_one = p.make_lse(), lse_two = p.make_lse();
  set_num_threads(1);
  topk_attention(p.q.cview(), p.k.cview(), p.v.cview(), one.view(), 20, opt, lse_one.view());
  set_num_threads(2);
  topk_attention(p.q.cview(), p.k.cview(), p.v.cview(), two.view(), 20, opt, lse_two.view());
  EXPECT_TRUE(identical(one.cview(), two.cview()));
  EXPECT_TRUE(identical(lse_one.cview(), lse_two.cview()));
}

TEST(TopkAttention, BadArgumentsThrowAndLeaveOutputsUntouched) {
  const dims n{.B = 1, .Sq = 9, .Sk = 11, .Hq = 2, .Hkv = 1, .D = 8, .Dv = 8};
  const sparse_problem p(n, 91);
  auto out = p.make_out();
  auto lse = p.make_lse();
  const auto before = out.storage();
  const auto lse_before = lse.storage();
  auto q = p.q.cview(), k = p.k.cview(), v = p.v.cview();
  EXPECT_THROW(topk_attention(q, k, v, out.view(), 0, {}, lse.view()), error);
  EXPECT_THROW(topk_attention(q, k, v, out.view(), -3, {}, lse.view()), error);
  const tensor_view<const float, 4> strided(q.data(), q.extents(), {q.stride(0), q.stride(1), q.stride(2), 2});
  EXPECT_THROW(topk_attention(strided, k, v, out.view(), 3, {}, lse.view()), error);
  tensor<float, 4> k3({1, 11, 3, 8});
  EXPECT_THROW(topk_attention(q, k3.cview(), v, out.view(), 3, {}, lse.view()), error);
  tensor<float, 3> bad_lse({1, 2, 8});
  EXPECT_THROW(topk_attention(q, k, v, out.view(), 3, {}, bad_lse.view()), error);
  attention_options opt;
  const std::vector<float> slopes(3, 0.1f);
  opt.alibi_slopes = slopes;
  EXPECT_THROW(topk_attention(q, k, v, out.view(), 3, opt, lse.view()), error);
  EXPECT_THROW(reference::topk_attention<float>(q, k, v, out.view(), 0, {}, lse.view()), error);
  EXPECT_EQ(out.storage(), before);
  EXPECT_EQ(lse.storage(), lse_before);
  try {
    topk_attention(q, k, v, out.view(), 0);
  } catch (const error& e) {
    EXPECT_NE(std::string(e.what()).find("top_k"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace attnkit::test
