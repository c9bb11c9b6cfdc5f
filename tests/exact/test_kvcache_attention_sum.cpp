// SPDX-License-Identifier: Apache-2.0
// Tests of the attention statistics of flash_attention_with_kvcache (attention_sum, what the
// eviction policies read): against the reference's on every compiled arch, for every option,
// GQA, speculative queries, per-head lengths, paged and int8 caches and the split path; the sums
// of probabilities; added to, never past a length; checked like every other argument.
#include <attnkit/exact/kvcache.hpp>
#include <attnkit/exact/reference_kvcache.hpp>

#include <cmath>
#include <array>
#include <limits>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "exact/kvcache_support.hpp"

namespace attnkit::test {
namespace {

constexpr float kStart = 0.25f;  // what attention_sum holds before a call (the call adds)

/// attention_sum [B, Hkv, S_cache + 2]: kStart below each length, NaN canaries from it on.
tensor<float, 3> fresh_sums(const cache_problem& p) {
  const auto e = p.k.extents();
  tensor<float, 3> sums({e[0], e[2], e[1] + 2}, kGarbage);
  for (index_t b = 0; b < e[0]; ++b)
    for (index_t hk = 0; hk < e[2]; ++hk)
      for (index_t s = 0; s < p.len(b, hk); ++s) sums(b, hk, s) = kStart;
  return sums;
}

/// The reference's sums over the values the cache stands for (contiguous, in double).
tensor<double, 3> reference_sums(const cache_problem& p, const tensor<float, 4>& k,
                                 const tensor<float, 4>& v, const attention_options& opt) {
  const auto e = p.k.extents();
  tensor<float, 4> out({e[0], p.q.extents()[1], p.q.extents()[2], v.extents()[3]});
  tensor<double, 3> sums({e[0], e[2], e[1] + 2}, 0.0);
  reference::attention_with_kvcache<float, float, double>(p.q.cview(), k.cview(), v.cview(),
                                                          out.view(), p.lens, opt, {}, {},
                                                          sums.view());
  return sums;
}

/// Every position below a length within tolerance of kStart + the reference (each probability
/// carries the float logit's rounding: a relative 1e-5 of the group's total, G x Sq), and every
/// canary past it still NaN.
void expect_sums(const tensor<float, 3>& got, const tensor<double, 3>& want, const cache_problem& p) {
  const auto e = p.k.extents();
  const index_t per_call = p.q.extents()[1] * (p.q.extents()[2] / e[2]);
  for (index_t b = 0; b < e[0]; ++b)
    for (index_t hk = 0; hk < e[2]; ++hk) {
      for (index_t s = 0; s < p.len(b, hk); ++s) {
        const double expected = kStart + want(b, hk, s);
        ASSERT_NEAR(got(b, hk, s), expected, 1e-5 * double(per_call) + 1e-6)
            << "b " << b << " hk " << hk << " s " << s;
      }
      for (index_t s = p.len(b, hk); s < e[1] + 2; ++s)
        ASSERT_TRUE(std::isnan(got(b, hk, s))) << "written past the length: b " << b << " hk " << hk << " s " << s;
    }
}

struct stats_case {
  const char* name;
  dims n;
  index_t S_cache;
  std::vector<std::int32_t> lens;
};

std::vector<stats_case> stats_cases() {
  return {
      {"gqa_4", {.B = 1, .Sq = 1, .Hq = 8, .Hkv = 2, .D = 64, .Dv = 64}, 203, {203}},
      {"speculative_3", {.B = 2, .Sq = 3, .Hq = 6, .Hkv = 2, .D = 3, .Dv = 5}, 70, {1, 69}},
      {"per_head_lengths", {.B = 2, .Sq = 2, .Hq = 6, .Hkv = 3, .D = 59, .Dv = 33}, 90, {90, 0, 13, 64, 65, 1}},
      {"mqa_16_queries", {.B = 1, .Sq = 16, .Hq = 3, .Hkv = 1, .D = 65, .Dv = 65}, 129, {129}},
  };
}

std::vector<std::pair<const char*, owned_options>> stats_options(index_t B, index_t Hq, index_t Sq,
                                                                 index_t S) {
  std::vector<std::pair<const char*, owned_options>> cases(6);
  cases[0].first = "plain";
  cases[1].first = "causal";
  cases[1].second.causal = true;
  cases[2].first = "window_top_left";
  cases[2].second.window_left = 20, cases[2].second.window_right = 0;
  cases[2].second.align = alignment::top_left;
  cases[3].first = "softcap_scale";
  cases[3].second.softcap = 2.0f, cases[3].second.scale = 0.9f;
  cases[4].first = "alibi_sinks";
  for (index_t h = 0; h < Hq; ++h) {
    cases[4].second.alibi_slopes.push_back(0.1f / float(h + 1));
    cases[4].second.sinks.push_back(0.5f * float(h) - 1.0f);
  }
  cases[4].second.causal = true;
  cases[5].first = "bias";
  cases[5].second.bias = random_tensor<float, 4>({B, Hq, Sq, S}, 99, -2.0, 2.0);
  return cases;
}

TEST(KvcacheAttentionSum, MatchesReferenceForEveryOptionOnEveryArch) {
  for (const auto& c : stats_cases()) {
    const auto p = random_cache(c.n, c.S_cache, c.lens, 11);
    for (const auto& [name, o] : stats_options(c.n.B, c.n.Hq, c.n.Sq, c.S_cache)) {
      SCOPED_TRACE(std::string(c.name) + " / " + name);
      const auto opt = o.options();
      const auto want = reference_sums(p, p.k, p.v, opt);
      simd::compiled_archs::for_each([&](auto arch) {
        using Arch = decltype(arch);
        if (!simd::cpu_supports<Arch>()) return;
        SCOPED_TRACE(std::string("arch ") + Arch::name());
        auto sums = fresh_sums(p);
        tensor<float, 4> out({c.n.B, c.n.Sq, c.n.Hq, c.n.Dv});
        flash_attention_with_kvcache<Arch, float, float>(p.q.cview(), p.k.cview(), p.v.cview(),
                                                         out.view(), p.lens, opt, {}, {}, sums.view());
        expect_sums(sums, want, p);
      });
    }
  }
}

TEST(KvcacheAttentionSum, PagedAndInt8CachesMatchTheReference) {
  const dims n{.B = 2, .Sq = 2, .Hq = 4, .Hkv = 2, .D = 33, .Dv = 31};
  const auto p = random_cache(n, 77, {77, 40, 5, 61}, 5);
  attention_options opt;
  opt.causal = true;
  const auto want = reference_sums(p, p.k, p.v, opt);
  for (index_t block : {1, 3, 16}) {
    SCOPED_TRACE("paged, block " + std::to_string(block));
    const auto paged = make_paged(p.k, p.v, block, 3);
    auto sums = fresh_sums(p);
    tensor<float, 4> out({n.B, n.Sq, n.Hq, n.Dv});
    flash_attention_with_kvcache<default_arch, float, float>(p.q.cview(), paged.k.cview(),
                                                             paged.v.cview(), out.view(), p.lens, opt,
                                                             paged.table.cview(), {}, sums.view());
    expect_sums(sums, want, p);
  }
  const auto k8 = quantize(p.k), v8 = quantize(p.v);
  const auto want8 = reference_sums(p, k8.dequantized(), v8.dequantized(), opt);
  auto sums = fresh_sums(p);
  tensor<float, 4> out({n.B, n.Sq, n.Hq, n.Dv});
  flash_attention_with_kvcache<default_arch, float>(p.q.cview(), k8.view(), v8.view(), out.view(),
                                                    p.lens, opt, {}, {}, sums.view());
  expect_sums(sums, want8, p);
}

TEST(KvcacheAttentionSum, SplitAcrossThreadsMatchesTheReference) {
  const int saved = get_num_threads();
  const dims n{.B = 1, .Sq = 2, .Hq = 4, .Hkv = 1, .D = 16, .Dv = 16};
  const auto p = random_cache(n, 3001, {3001}, 9);
  owned_options o;
  o.sinks = {0.5f, -1.0f, 2.0f, 0.0f};
  const auto opt = o.options();
  const auto want = reference_sums(p, p.k, p.v, opt);
  for (int threads : {1, 2}) {
    SCOPED_TRACE("threads " + std::to_string(threads));
    set_num_threads(threads);
    auto sums = fresh_sums(p);
    tensor<float, 4> out({n.B, n.Sq, n.Hq, n.Dv});
    tensor<float, 3> lse({n.B, n.Hq, n.Sq});
    flash_attention_with_kvcache<default_arch, float, float>(p.q.cview(), p.k.cview(), p.v.cview(),
                                                             out.view(), p.lens, opt, {}, lse.view(),
                                                             sums.view());
    expect_sums(sums, want, p);
  }
  set_num_threads(saved);
}

// Without sinks every query row's probabilities sum to 1, so a head's sums grow by G x Sq per
// call; with a sink the row gives exp(sink - lse) of its mass to the sink instead.
TEST(KvcacheAttentionSum, EachRowAddsItsProbabilityMass) {
  const dims n{.B = 2, .Sq = 3, .Hq = 6, .Hkv = 2, .D = 21, .Dv = 21};
  const auto p = random_cache(n, 50, {50, 9}, 21);
  owned_options o;
  o.causal = true;
  for (bool sinks : {false, true}) {
    SCOPED_TRACE(sinks ? "sinks" : "no sinks");
    o.sinks.clear();
    if (sinks) o.sinks = {1.0f, -0.5f, 0.0f, 2.0f, -3.0f, 0.25f};
    const auto opt = o.options();
    tensor<float, 3> sums({n.B, n.Hkv, 50}, 0.0f), lse({n.B, n.Hq, n.Sq});
    tensor<float, 4> out({n.B, n.Sq, n.Hq, n.Dv});
    flash_attention_with_kvcache<default_arch, float, float>(p.q.cview(), p.k.cview(), p.v.cview(),
                                                             out.view(), p.lens, opt, {}, lse.view(),
                                                             sums.view());
    for (index_t b = 0; b < n.B; ++b)
      for (index_t hk = 0; hk < n.Hkv; ++hk) {
        double total = 0, mass = 0;
        for (index_t s = 0; s < 50; ++s) total += sums(b, hk, s);
        for (index_t g = 0; g < 3; ++g)
          for (index_t i = 0; i < n.Sq; ++i) {
            const index_t h = hk * 3 + g;
            mass += sinks ? 1.0 - std::exp(double(o.sinks[std::size_t(h)]) - double(lse(b, h, i))) : 1.0;
          }
        EXPECT_NEAR(total, mass, 1e-4) << "b " << b << " hk " << hk;
      }
  }
}

TEST(KvcacheAttentionSum, NanInAVisibleKeyReachesTheSumsOfItsHeadOnly) {
  const dims n{.B = 1, .Sq = 1, .Hq = 4, .Hkv = 2, .D = 8, .Dv = 8};
  auto p = random_cache(n, 20, {20}, 4);
  p.k(0, 7, 1, 3) = std::numeric_limits<float>::quiet_NaN();
  auto sums = fresh_sums(p);
  tensor<float, 4> out({n.B, n.Sq, n.Hq, n.Dv});
  flash_attention_with_kvcache<default_arch, float, float>(p.q.cview(), p.k.cview(), p.v.cview(),
                                                           out.view(), p.lens, {}, {}, {}, sums.view());
  for (index_t s = 0; s < 20; ++s) {
    EXPECT_TRUE(std::isfinite(sums(0, 0, s))) << s;
    EXPECT_TRUE(std::isnan(sums(0, 1, s))) << s;
  }
}

TEST(KvcacheAttentionSum, BadViewIsRejectedBeforeAnythingIsWritten) {
  const dims n{.B = 2, .Sq = 1, .Hq = 4, .Hkv = 2, .D = 8, .Dv = 8};
  const auto p = random_cache(n, 30, {30, 12}, 8);
  struct bad {
    const char* name;
    std::array<index_t, 3> extents;
  };
  for (const bad& x : {bad{"batch", {1, 2, 30}}, bad{"heads", {2, 1, 30}}, bad{"short", {2, 2, 29}}}) {
    SCOPED_TRACE(x.name);
    tensor<float, 3> sums(x.extents, 1.0f);
    tensor<float, 4> out({n.B, n.Sq, n.Hq, n.Dv}, -5.0f);
    auto call = [&](auto run) {
      try {
        run();
        ADD_FAILURE() << "no error";
      } catch (const error& e) {
        EXPECT_NE(std::string(e.what()).find("attention_sum"), std::string::npos) << e.what();
      }
    };
    call([&] {
      flash_attention_with_kvcache<default_arch, float, float>(p.q.cview(), p.k.cview(), p.v.cview(),
                                                               out.view(), p.lens, {}, {}, {}, sums.view());
    });
    call([&] {
      reference::attention_with_kvcache<float, float>(p.q.cview(), p.k.cview(), p.v.cview(), out.view(),
                                                      p.lens, {}, {}, {}, sums.view());
    });
    for (float x_out : out.storage()) ASSERT_EQ(x_out, -5.0f);
    for (float x_sum : sums.storage()) ASSERT_EQ(x_sum, 1.0f);
  }
  // A broadcast (stride 0) output is rejected too.
  std::vector<float> one(30, 1.0f);
  const tensor_view<float, 3> broadcast(one.data(), {2, 2, 30}, {0, 0, 1});
  tensor<float, 4> out({n.B, n.Sq, n.Hq, n.Dv});
  EXPECT_THROW((flash_attention_with_kvcache<default_arch, float, float>(
                   p.q.cview(), p.k.cview(), p.v.cview(), out.view(), p.lens, {}, {}, {}, broadcast)),
               error);
}

}  // namespace
}  // namespace attnkit::test
