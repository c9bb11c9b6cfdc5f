// SPDX-License-Identifier: Apache-2.0
// kv_cache feeding flash_attention_with_kvcache: prefill, per-head eviction (keep / remove),
// more tokens, and decoding over the cache's own views (contiguous and paged; float, bf16, int8)
// against the double reference over the same views.
#include <attnkit/exact/kvcache.hpp>
#include <attnkit/exact/reference_kvcache.hpp>
#include <attnkit/kv/kv_cache.hpp>

#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "support/random.hpp"
#include "support/tensor.hpp"

namespace attnkit::test {
namespace {

constexpr index_t kB = 2, kHkv = 2, kHq = 6, kD = 24, kDv = 20;

template <class C>
void decode_and_compare(const kv_cache<C>& cache, index_t Sq, std::uint64_t seed) {
  const auto q = random_tensor<float, 4>({kB, Sq, kHq, kD}, seed);
  attention_options opt;
  opt.causal = true;
  tensor<float, 4> out({kB, Sq, kHq, kDv});
  tensor<float, 3> lse({kB, kHq, Sq});
  flash_attention_with_kvcache(q.cview(), cache.keys(), cache.values(), out.view(), cache.seqlens(),
                               opt, cache.block_table(), lse.view());
  const auto qd = convert<double>(q.cview());
  tensor<double, 4> want({kB, Sq, kHq, kDv});
  tensor<double, 3> want_lse({kB, kHq, Sq});
  reference::attention_with_kvcache<double>(qd.cview(), cache.keys(), cache.values(), want.view(),
                                            cache.seqlens(), opt, cache.block_table(),
                                            want_lse.view());
  for_each_index(want.extents(), [&](const auto& i) {
    ASSERT_NEAR(out(i[0], i[1], i[2], i[3]), want(i[0], i[1], i[2], i[3]), 2e-6)
        << "b " << i[0] << " query " << i[1] << " head " << i[2];
  });
  for_each_index(want_lse.extents(), [&](const auto& i) {
    ASSERT_NEAR(lse(i[0], i[1], i[2]), want_lse(i[0], i[1], i[2]), 2e-6 * (1 + std::abs(want_lse(i[0], i[1], i[2]))));
  });
}

template <class C>
void append_tokens(kv_cache<C>& cache, index_t b, index_t n, std::uint64_t seed) {
  const auto k = random_tensor<float, 3>({n, kHkv, kD}, seed);
  const auto v = random_tensor<float, 3>({n, kHkv, kDv}, seed + 1);
  cache.append(b, k.cview(), v.cview());
}

template <class C>
void run(kv_layout layout) {
  SCOPED_TRACE(layout == kv_layout::paged ? "paged" : "contiguous");
  kv_cache<C> cache({.batch = kB, .kv_heads = kHkv, .head_dim = kD, .value_dim = kDv,
                     .capacity = 80, .layout = layout, .block_size = 5});
  append_tokens(cache, 0, 41, 1);  // prefill
  append_tokens(cache, 1, 23, 3);
  decode_and_compare(cache, 1, 10);
  // Per-head eviction: the heads of a sequence now hold different tokens and counts.
  std::vector<index_t> even;
  for (index_t s = 0; s < 41; s += 2) even.push_back(s);
  cache.keep(0, 0, even);
  const std::vector<index_t> middle = {3, 4, 5, 17, 30};
  cache.remove(0, 1, middle);
  cache.keep(1, 1, std::vector<index_t>{0, 1, 2, 20, 21, 22});
  decode_and_compare(cache, 1, 11);
  // Decoding goes on: one token, then a draft of three checked at once (speculative decoding).
  append_tokens(cache, 0, 1, 5);
  append_tokens(cache, 1, 1, 7);
  decode_and_compare(cache, 1, 12);
  append_tokens(cache, 0, 3, 8);
  append_tokens(cache, 1, 3, 9);
  decode_and_compare(cache, 3, 13);
  EXPECT_EQ(cache.length(0, 0), 21 + 4);
  EXPECT_EQ(cache.length(0, 1), 36 + 4);
}

TEST(KvCacheDecode, FloatContiguousAndPaged) {
  run<float>(kv_layout::contiguous);
  run<float>(kv_layout::paged);
}
TEST(KvCacheDecode, Bf16ContiguousAndPaged) {
  run<bf16>(kv_layout::contiguous);
  run<bf16>(kv_layout::paged);
}
TEST(KvCacheDecode, Int8ContiguousAndPaged) {
  run<std::int8_t>(kv_layout::contiguous);
  run<std::int8_t>(kv_layout::paged);
}

}  // namespace
}  // namespace attnkit::test
