// SPDX-License-Identifier: Apache-2.0
// Tests of flash_attention_with_kvcache on every compiled arch: contiguous and paged caches
// (shuffled tables, block sizes 1, 3, 16) of float, bf16, fp16 and int8 against the reference on
// the valid prefix (NaN past every length and in unused pages), every option, GQA, per-head
// lengths, key splits across threads, and prefill + token-by-token decode against one causal pass.
#include <attnkit/exact/kvcache.hpp>

#include <cmath>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "exact/kvcache_support.hpp"

namespace attnkit::test {
namespace {

// Runs the decode kernel of every arch on a cache given as views and checks it against the
// oracle: DESIGN 4's float rule for float caches, the RMS rule for the others.
template <class Run>
void check_decode(const dense_oracle& oracle, const dims& n, bool exact_rule, Run&& run) {
  simd::compiled_archs::for_each([&](auto arch) {
    using Arch = decltype(arch);
    if (!simd::cpu_supports<Arch>()) return;
    SCOPED_TRACE(std::string("arch ") + Arch::name());
    tensor<float, 4> out({n.B, n.Sq, n.Hq, n.Dv}, -777.0f);
    tensor<float, 3> lse({n.B, n.Hq, n.Sq}, -777.0f);
    run(Arch{}, out.view(), lse.view());
    if (exact_rule) {
      EXPECT_TRUE(within_fp32_tolerance(out.cview(), oracle.naive_out.cview(), oracle.out.cview())) << "out";
      EXPECT_TRUE(within_fp32_tolerance(lse.cview(), oracle.naive_lse.cview(), oracle.lse.cview())) << "lse";
    } else {
      EXPECT_TRUE(within_rms_tolerance(out.cview(), oracle.out.cview())) << "out";
      EXPECT_TRUE(within_rms_tolerance(lse.cview(), oracle.lse.cview())) << "lse";
    }
  });
}

struct decode_case {
  const char* name;
  dims n;
  index_t S_cache;
  std::vector<std::int32_t> lens;
};

std::vector<decode_case> decode_cases() {
  return {
      {"mha_one_query", {.B = 2, .Sq = 1, .Hq = 2, .Hkv = 2, .D = 17, .Dv = 17}, 150, {150, 77}},
      {"gqa_4", {.B = 1, .Sq = 1, .Hq = 8, .Hkv = 2, .D = 64, .Dv = 64}, 203, {203}},
      {"speculative_3", {.B = 2, .Sq = 3, .Hq = 6, .Hkv = 2, .D = 3, .Dv = 5}, 70, {1, 69}},
      {"empty_and_one", {.B = 3, .Sq = 2, .Hq = 2, .Hkv = 1, .D = 128, .Dv = 128}, 40, {0, 1, 40}},
      {"per_head_lengths", {.B = 2, .Sq = 2, .Hq = 6, .Hkv = 3, .D = 59, .Dv = 33}, 90, {90, 0, 13, 64, 65, 1}},
      {"mqa_16_queries", {.B = 1, .Sq = 16, .Hq = 3, .Hkv = 1, .D = 65, .Dv = 65}, 129, {129}},
  };
}

std::vector<std::pair<const char*, owned_options>> option_cases(index_t B, index_t Hq, index_t Sq,
                                                                index_t S) {
  std::vector<std::pair<const char*, owned_options>> cases;
  auto add = [&](const char* name, auto edit) {
    owned_options o;
    edit(o);
    cases.emplace_back(name, std::move(o));
  };
  add("plain", [](owned_options&) {});
  add("causal", [](owned_options& o) { o.causal = true; });
  add("causal_top_left", [](owned_options& o) { o.causal = true, o.align = alignment::top_left; });
  add("window", [](owned_options& o) { o.window_left = 20, o.window_right = 0; });
  add("softcap_scale", [](owned_options& o) { o.softcap = 2.0f, o.scale = 0.9f; });
  add("alibi_sinks", [&](owned_options& o) {
    for (index_t h = 0; h < Hq; ++h) {
      o.alibi_slopes.push_back(0.1f / float(h + 1));
      o.sinks.push_back(0.5f * float(h) - 1.0f);
    }
    o.causal = true;
  });
  add("bias", [&](owned_options& o) {
    o.bias = random_tensor<float, 4>({B, Hq, Sq, S}, 99, -2.0, 2.0);  // j: the cache position
  });
  return cases;
}

TEST(FlashKvcache, ContiguousFloatMatchesReferenceForEveryOption) {
  for (const auto& c : decode_cases()) {
    const auto p = random_cache(c.n, c.S_cache, c.lens, 7);
    for (const auto& [name, o] : option_cases(c.n.B, c.n.Hq, c.n.Sq, c.S_cache)) {
      SCOPED_TRACE(std::string(c.name) + " / " + name);
      const auto opt = o.options();
      const auto oracle = kvcache_oracle(p.q, p.k, p.v, p, o);
      check_decode(oracle, c.n, true, [&](auto arch, auto out, auto lse) {
        flash_attention_with_kvcache<decltype(arch), float, float>(
            p.q.cview(), p.k.cview(), p.v.cview(), out, p.lens, opt, {}, lse);
      });
    }
  }
}

TEST(FlashKvcache, PagedWithShuffledTableEqualsContiguousBitForBit) {
  for (const auto& c : decode_cases()) {
    const auto p = random_cache(c.n, c.S_cache, c.lens, 8);
    owned_options o;
    o.causal = true;
    const auto opt = o.options();
    for (index_t block : {1, 3, 16}) {
      SCOPED_TRACE(std::string(c.name) + " block " + std::to_string(block));
      const auto paged = make_paged(p.k, p.v, block, 5);
      tensor<float, 4> want({c.n.B, c.n.Sq, c.n.Hq, c.n.Dv}), got({c.n.B, c.n.Sq, c.n.Hq, c.n.Dv});
      flash_attention_with_kvcache<default_arch, float, float>(p.q.cview(), p.k.cview(), p.v.cview(),
                                                               want.view(), p.lens, opt);
      flash_attention_with_kvcache<default_arch, float, float>(
          p.q.cview(), paged.k.cview(), paged.v.cview(), got.view(), p.lens, opt, paged.table.cview());
      for_each_index(want.extents(), [&](const auto& i) {
        ASSERT_EQ(got(i[0], i[1], i[2], i[3]), want(i[0], i[1], i[2], i[3]));
      });
    }
  }
}

template <class C>
void check_half_cache() {
  for (const auto& c : decode_cases()) {
    SCOPED_TRACE(c.name);
    const auto p = random_cache(c.n, c.S_cache, c.lens, 9);
    const auto k = convert<C>(p.k.cview()), v = convert<C>(p.v.cview());
    owned_options o;
    o.causal = true;
    const auto opt = o.options();
    const auto oracle = kvcache_oracle(p.q, convert<float>(k.cview()), convert<float>(v.cview()), p, o);
    check_decode(oracle, c.n, false, [&](auto arch, auto out, auto lse) {
      flash_attention_with_kvcache<decltype(arch), float, C>(p.q.cview(), k.cview(), v.cview(), out,
                                                             p.lens, opt, {}, lse);
    });
    const auto paged = make_paged(k, v, 3, 4);
    check_decode(oracle, c.n, false, [&](auto arch, auto out, auto lse) {
      flash_attention_with_kvcache<decltype(arch), float, C>(
          p.q.cview(), paged.k.cview(), paged.v.cview(), out, p.lens, opt, paged.table.cview(), lse);
    });
  }
}

TEST(FlashKvcache, Bf16CacheWithinTolerance) { check_half_cache<bf16>(); }
TEST(FlashKvcache, Fp16CacheWithinTolerance) { check_half_cache<fp16>(); }

TEST(FlashKvcache, Int8CacheMatchesItsDequantisedValues) {
  for (const auto& c : decode_cases()) {
    SCOPED_TRACE(c.name);
    const auto p = random_cache(c.n, c.S_cache, c.lens, 10);
    const auto k = quantize(p.k), v = quantize(p.v);
    owned_options o;
    o.causal = true;
    const auto opt = o.options();
    // Against the values the cache stands for: only the kernel's fp32 rounding differs.
    const auto oracle = kvcache_oracle(p.q, k.dequantized(), v.dequantized(), p, o);
    check_decode(oracle, c.n, true, [&](auto arch, auto out, auto lse) {
      flash_attention_with_kvcache<decltype(arch), float>(p.q.cview(), k.view(), v.view(), out,
                                                          p.lens, opt, {}, lse);
    });
  }
}

TEST(FlashKvcache, LongCacheSplitAcrossThreadsMatchesReference) {
  // One pair with thousands of keys: with 2 threads the keys are split and merged (the sink
  // joins the merge once).
  const dims n{.B = 1, .Sq = 2, .Hq = 2, .Hkv = 1, .D = 32, .Dv = 24};
  const auto p = random_cache(n, 5003, {5001}, 11);
  const int saved = get_num_threads();
  for (int threads : {1, 2}) {
    set_num_threads(threads);
    for (bool sinks : {false, true}) {
      SCOPED_TRACE("threads " + std::to_string(threads) + " sinks " + std::to_string(sinks));
      owned_options o;
      o.causal = true;
      if (sinks) o.sinks = {1.5f, -0.5f};
      const auto opt = o.options();
      const auto oracle = kvcache_oracle(p.q, p.k, p.v, p, o);
      check_decode(oracle, n, true, [&](auto arch, auto out, auto lse) {
        flash_attention_with_kvcache<decltype(arch), float, float>(p.q.cview(), p.k.cview(),
                                                                   p.v.cview(), out, p.lens, opt, {}, lse);
      });
    }
  }
  set_num_threads(saved);
}

TEST(FlashKvcache, PrefillThenTokenByTokenEqualsOneCausalPass) {
  const dims n{.B = 1, .Sq = 37, .Sk = 37, .Hq = 4, .Hkv = 2, .D = 16, .Dv = 16};
  const auto p = random_problem(n, 12);
  attention_options opt;
  opt.causal = true;
  tensor<float, 4> full({1, n.Sq, n.Hq, n.Dv});
  flash_attention(p.q.cview(), p.k.cview(), p.v.cview(), full.view(), opt);
  // The cache holds all 37 tokens; position t decodes over the first t + 1 of them, the first
  // 20 in one call of 20 queries (prefill), then one query at a time.
  auto query_rows = [&](index_t t0, index_t t1) {
    return tensor_view<const float, 4>(&p.q(0, t0, 0, 0), {1, t1 - t0, n.Hq, n.D}, p.q.cview().strides());
  };
  tensor<float, 4> step({1, n.Sq, n.Hq, n.Dv});
  auto decode = [&](index_t t0, index_t t1) {
    const std::vector<std::int32_t> lens = {static_cast<std::int32_t>(t1)};
    tensor_view<float, 4> out(&step(0, t0, 0, 0), {1, t1 - t0, n.Hq, n.Dv}, step.view().strides());
    flash_attention_with_kvcache<default_arch, float, float>(query_rows(t0, t1), p.k.cview(),
                                                             p.v.cview(), out, lens, opt);
  };
  decode(0, 20);
  for (index_t t = 20; t < n.Sq; ++t) decode(t, t + 1);
  for_each_index(full.extents(), [&](const auto& i) {
    ASSERT_NEAR(step(i[0], i[1], i[2], i[3]), full(i[0], i[1], i[2], i[3]), 2e-6f) << "token " << i[1];
  });
}

TEST(FlashKvcache, NonFiniteValueReachesOnlyTheQueriesThatSeeIt) {
  // Four new queries, causal: the key at position len - 2 is seen by the last two only.
  const dims n{.B = 1, .Sq = 4, .Hq = 2, .Hkv = 1, .D = 8, .Dv = 8};
  auto p = random_cache(n, 50, {50}, 13);
  p.v(0, 48, 0, 2) = std::numeric_limits<float>::quiet_NaN();
  attention_options opt;
  opt.causal = true;
  simd::compiled_archs::for_each([&](auto arch) {
    using Arch = decltype(arch);
    if (!simd::cpu_supports<Arch>()) return;
    tensor<float, 4> out({1, n.Sq, n.Hq, n.Dv});
    flash_attention_with_kvcache<Arch, float, float>(p.q.cview(), p.k.cview(), p.v.cview(),
                                                     out.view(), p.lens, opt);
    for (index_t i = 0; i < n.Sq; ++i)
      for (index_t h = 0; h < n.Hq; ++h)
        for (index_t d = 0; d < n.Dv; ++d)
          ASSERT_EQ(std::isnan(out(0, i, h, d)), d == 2 && i >= 2) << Arch::name() << " " << i << " " << d;
  });
}

TEST(FlashKvcache, WritesEveryOutputAndNothingElse) {
  // out with 3 NaN canaries after every row (BHSD order), lse pre-filled with NaN: every valid
  // element is written (finite), no canary changes.
  const dims n{.B = 2, .Sq = 3, .Hq = 4, .Hkv = 2, .D = 17, .Dv = 9};
  const auto p = random_cache(n, 60, {60, 0, 31, 7}, 14);
  attention_options opt;
  opt.causal = true;
  simd::compiled_archs::for_each([&](auto arch) {
    using Arch = decltype(arch);
    if (!simd::cpu_supports<Arch>()) return;
    tensor<float, 4> out({n.B, n.Sq, n.Hq, n.Dv}, storage_order(layout::bhsd), 3, kGarbage);
    tensor<float, 3> lse({n.B, n.Hq, n.Sq}, kGarbage);
    flash_attention_with_kvcache<Arch, float, float>(p.q.cview(), p.k.cview(), p.v.cview(),
                                                     out.view(), p.lens, opt, {}, lse.view());
    for_each_index(out.extents(), [&](const auto& i) {
      ASSERT_TRUE(std::isfinite(out(i[0], i[1], i[2], i[3]))) << Arch::name();
    });
    for_each_index(lse.extents(), [&](const auto& i) {
      // Length 0 (sequence 0, kv head 1: query heads 2 and 3) gives -inf, the rest is finite.
      if (i[0] == 0 && i[1] >= 2) {
        ASSERT_EQ(lse(i[0], i[1], i[2]), -INFINITY) << Arch::name();
      } else {
        ASSERT_TRUE(std::isfinite(lse(i[0], i[1], i[2]))) << Arch::name();
      }
    });
    std::size_t canaries = 0;
    for (float x : out.storage()) canaries += std::isnan(x);
    EXPECT_EQ(canaries, out.storage().size() - std::size_t(n.B * n.Sq * n.Hq * n.Dv)) << Arch::name();
  });
}

TEST(FlashKvcache, SameThreadCountGivesTheSameBits) {
  const dims n{.B = 1, .Sq = 2, .Hq = 4, .Hkv = 2, .D = 32, .Dv = 32};
  const auto p = random_cache(n, 4000, {3999}, 15);
  const int saved = get_num_threads();
  set_num_threads(2);
  tensor<float, 4> first({n.B, n.Sq, n.Hq, n.Dv}), second({n.B, n.Sq, n.Hq, n.Dv});
  flash_attention_with_kvcache<default_arch, float, float>(p.q.cview(), p.k.cview(), p.v.cview(),
                                                           first.view(), p.lens);
  flash_attention_with_kvcache<default_arch, float, float>(p.q.cview(), p.k.cview(), p.v.cview(),
                                                           second.view(), p.lens);
  set_num_threads(saved);
  for_each_index(first.extents(), [&](const auto& i) {
    ASSERT_EQ(first(i[0], i[1], i[2], i[3]), second(i[0], i[1], i[2], i[3]));
  });
}

}  // namespace
}  // namespace attnkit::test
