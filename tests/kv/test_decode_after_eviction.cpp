// SPDX-License-Identifier: Apache-2.0
// The eviction loop end to end: statistics from the decode kernel (attention_sum), a different
// policy and budget per (sequence, kv head) applied in place by kv::evict, then decoding over the
// compacted cache, before and after more tokens arrive, against the double reference over the
// original rows of the kept tokens (contiguous and paged caches).
#include <attnkit/exact/kvcache.hpp>
#include <attnkit/exact/reference_kvcache.hpp>
#include <attnkit/kv.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "support/random.hpp"
#include "support/tensor.hpp"

namespace attnkit::test {
namespace {

constexpr index_t kB = 2, kHkv = 2, kHq = 6, kD = 24, kDv = 20, kCapacity = 120;

/// Every token a sequence received, by arrival, and which of them each head still holds.
struct history {
  std::vector<tensor<float, 3>> k, v;  // per sequence: [arrivals, Hkv, D or Dv]
  std::vector<std::vector<index_t>> held;  // per (b, hk): arrival indices, in cache order
};

template <class C>
void append(kv_cache<C>& cache, history& h, index_t b, index_t n, std::uint64_t seed) {
  const auto k = random_tensor<float, 3>({n, kHkv, kD}, seed);
  const auto v = random_tensor<float, 3>({n, kHkv, kDv}, seed + 1);
  cache.append(b, k.cview(), v.cview());
  auto& hk_rows = h.k[std::size_t(b)];
  auto& hv_rows = h.v[std::size_t(b)];
  const index_t old = hk_rows.extents()[0];
  tensor<float, 3> nk({old + n, kHkv, kD}), nv({old + n, kHkv, kDv});
  for_each_index(nk.extents(), [&](const auto& i) {
    nk(i[0], i[1], i[2]) = i[0] < old ? hk_rows(i[0], i[1], i[2]) : k(i[0] - old, i[1], i[2]);
  });
  for_each_index(nv.extents(), [&](const auto& i) {
    nv(i[0], i[1], i[2]) = i[0] < old ? hv_rows(i[0], i[1], i[2]) : v(i[0] - old, i[1], i[2]);
  });
  hk_rows = std::move(nk);
  hv_rows = std::move(nv);
  for (index_t hk = 0; hk < kHkv; ++hk)
    for (index_t t = 0; t < n; ++t) h.held[std::size_t(b * kHkv + hk)].push_back(old + t);
}

/// Decodes Sq new queries over the cache and compares with the reference over a dense double
/// cache rebuilt from the original rows of the tokens each head holds.
template <class C>
void expect_decode_matches_kept(const kv_cache<C>& cache, const history& h, index_t Sq,
                                std::uint64_t seed) {
  const auto q = random_tensor<float, 4>({kB, Sq, kHq, kD}, seed);
  attention_options opt;
  opt.causal = true;
  tensor<float, 4> out({kB, Sq, kHq, kDv});
  flash_attention_with_kvcache(q.cview(), cache.keys(), cache.values(), out.view(), cache.seqlens(),
                               opt, cache.block_table());

  tensor<double, 4> k({kB, kCapacity, kHkv, kD}), v({kB, kCapacity, kHkv, kDv});
  std::vector<std::int32_t> lens;
  for (index_t b = 0; b < kB; ++b)
    for (index_t hk = 0; hk < kHkv; ++hk) {
      const auto& held = h.held[std::size_t(b * kHkv + hk)];
      ASSERT_EQ(cache.length(b, hk), index_t(held.size()));
      lens.push_back(std::int32_t(held.size()));
      for (std::size_t s = 0; s < held.size(); ++s) {
        for (index_t d = 0; d < kD; ++d) k(b, index_t(s), hk, d) = h.k[std::size_t(b)](held[s], hk, d);
        for (index_t d = 0; d < kDv; ++d) v(b, index_t(s), hk, d) = h.v[std::size_t(b)](held[s], hk, d);
      }
    }
  const auto qd = convert<double>(q.cview());
  tensor<double, 4> want({kB, Sq, kHq, kDv});
  reference::attention_with_kvcache<double, double>(qd.cview(), k.cview(), v.cview(), want.view(),
                                                    lens, opt);
  for_each_index(want.extents(), [&](const auto& i) {
    ASSERT_NEAR(out(i[0], i[1], i[2], i[3]), want(i[0], i[1], i[2], i[3]), 2e-6)
        << "b " << i[0] << " query " << i[1] << " head " << i[2];
  });
}

template <class C>
void run(kv_layout layout) {
  SCOPED_TRACE(layout == kv_layout::paged ? "paged" : "contiguous");
  kv_cache<C> cache({.batch = kB, .kv_heads = kHkv, .head_dim = kD, .value_dim = kDv,
                     .capacity = kCapacity, .layout = layout, .block_size = 7});
  history h{{tensor<float, 3>({0, kHkv, kD}), tensor<float, 3>({0, kHkv, kD})},
            {tensor<float, 3>({0, kHkv, kDv}), tensor<float, 3>({0, kHkv, kDv})},
            std::vector<std::vector<index_t>>(kB * kHkv)};
  append(cache, h, 0, 57, 1);  // prefill
  append(cache, h, 1, 33, 3);

  // Statistics from the kernel: 8 queries accumulated (H2O, SnapKV's window), the last alone (TOVA).
  tensor<float, 3> accumulated({kB, kHkv, kCapacity}, 0.0f), last({kB, kHkv, kCapacity}, 0.0f);
  attention_options opt;
  opt.causal = true;
  const auto q8 = random_tensor<float, 4>({kB, 8, kHq, kD}, 20);
  tensor<float, 4> out8({kB, 8, kHq, kDv});
  flash_attention_with_kvcache(q8.cview(), cache.keys(), cache.values(), out8.view(), cache.seqlens(),
                               opt, cache.block_table(), {}, accumulated.view());
  const auto q1 = random_tensor<float, 4>({kB, 1, kHq, kD}, 21);
  tensor<float, 4> out1({kB, 1, kHq, kDv});
  flash_attention_with_kvcache(q1.cview(), cache.keys(), cache.values(), out1.view(), cache.seqlens(),
                               opt, cache.block_table(), {}, last.view());

  auto stats = [&](index_t b, index_t hk) {
    const auto L = std::size_t(cache.length(b, hk));
    const std::span<const float> acc(&accumulated(b, hk, 0), L), lst(&last(b, hk, 0), L);
    return kv::token_stats{.accumulated = acc, .last = lst, .window = acc};
  };
  auto follow = [&](index_t b, index_t hk, const std::vector<index_t>& kept) {
    auto& held = h.held[std::size_t(b * kHkv + hk)];
    std::vector<index_t> now;
    for (index_t s : kept) now.push_back(held[std::size_t(s)]);
    held = now;
  };
  // A different policy and budget per head, so heads hold different numbers of tokens.
  follow(0, 0, kv::evict(cache, 0, 0, kv::h2o{.recent = 5}, stats(0, 0), 20));
  follow(0, 1, kv::evict(cache, 0, 1, kv::tova{}, stats(0, 1), 7));
  follow(1, 0, kv::evict(cache, 1, 0, kv::snapkv{.window = 4, .kernel = 3}, stats(1, 0), 12));
  follow(1, 1, kv::evict(cache, 1, 1, kv::streaming_llm{.sinks = 2}, stats(1, 1), 9));
  EXPECT_EQ(cache.length(0, 0), 20);
  EXPECT_EQ(cache.length(0, 1), 7);
  EXPECT_EQ(cache.length(1, 0), 12);
  EXPECT_EQ(cache.length(1, 1), 9);
  expect_decode_matches_kept(cache, h, 1, 30);

  // Decoding goes on: a token, then a draft of three checked at once.
  append(cache, h, 0, 1, 5);
  append(cache, h, 1, 1, 7);
  expect_decode_matches_kept(cache, h, 1, 31);
  append(cache, h, 0, 3, 8);
  append(cache, h, 1, 3, 9);
  expect_decode_matches_kept(cache, h, 3, 32);
}

TEST(DecodeAfterEviction, ContiguousFloatEqualsReferenceOverKeptTokens) { run<float>(kv_layout::contiguous); }
TEST(DecodeAfterEviction, PagedFloatEqualsReferenceOverKeptTokens) { run<float>(kv_layout::paged); }

}  // namespace
}  // namespace attnkit::test
