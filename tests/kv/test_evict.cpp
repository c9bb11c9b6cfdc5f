// SPDX-License-Identifier: Apache-2.0
// Tests of kv::evict on kv_cache (contiguous and paged; float, bf16, fp16, int8): exactly the
// selected rows stay, bit for bit, in order; other heads untouched; compacted statistics line up
// for the next eviction; keys gathered for knorm; bad arguments change nothing.
#include <attnkit/kv/evict.hpp>

#include <cstdint>
#include <random>
#include <vector>

#include <gtest/gtest.h>

#include <attnkit/kv.hpp>

#include "kv/eviction_support.hpp"
#include "kv/kv_cache_support.hpp"

namespace attnkit {
namespace {

using V = std::vector<index_t>;

template <class C>
class Evict : public testing::Test {};
using elements = testing::Types<float, bf16, fp16, std::int8_t>;
TYPED_TEST_SUITE(Evict, elements);

/// B 2, Hkv 3, D 4, Dv 3, capacity 13: sequence 0 holds 13 tokens, sequence 1 holds 9
/// (paged: blocks of 3).
template <class C>
kv_cache<C> filled_cache(kv_layout layout) {
  return test::random_filled_cache<C>(
      {.batch = 2, .kv_heads = 3, .head_dim = 4, .value_dim = 3, .capacity = 13, .layout = layout,
       .block_size = 3},
      {13, 9}, 31);
}

/// Every valid row of every head (keys and values, with int8 scales), read through the views.
template <class C>
std::vector<std::vector<std::pair<test::stored_row, test::stored_row>>> all_rows(
    const kv_cache<C>& cache) {
  std::vector<std::vector<std::pair<test::stored_row, test::stored_row>>> all;
  for (index_t b = 0; b < cache.config().batch; ++b)
    for (index_t h = 0; h < cache.config().kv_heads; ++h) {
      all.emplace_back();
      for (index_t s = 0; s < cache.length(b, h); ++s)
        all.back().emplace_back(test::read_row(cache, true, b, h, s),
                                test::read_row(cache, false, b, h, s));
    }
  return all;
}

bool same(const test::stored_row& x, const test::stored_row& y) {
  return x.values == y.values && x.scale == y.scale;
}

const std::vector<float> kAccumulated = {3.0f, 0.1f, 0.2f, 2.0f, 0.0f, 0.3f, 1.0f,
                                         0.4f, 0.5f, 0.1f, 0.2f, 0.6f, 0.7f};

TYPED_TEST(Evict, KeepsExactlyTheSelectedRowsOfOneHead) {
  using C = TypeParam;
  for (kv_layout layout : {kv_layout::contiguous, kv_layout::paged}) {
    SCOPED_TRACE(layout == kv_layout::paged ? "paged" : "contiguous");
    kv_cache<C> cache = filled_cache<C>(layout);
    const auto before = all_rows(cache);
    const kv::h2o policy{.recent = 2};
    const V kept = kv::evict(cache, 0, 1, policy, {.accumulated = kAccumulated}, 6);
    // The heavy hitters 0, 3, 6, 8 and the newest 11, 12.
    EXPECT_EQ(kept, (V{0, 3, 6, 8, 11, 12}));
    EXPECT_EQ(kept, kv::select(policy, {}, {.accumulated = kAccumulated}, 6));
    const auto after = all_rows(cache);
    ASSERT_EQ(after[1].size(), kept.size());
    for (std::size_t i = 0; i < kept.size(); ++i) {
      EXPECT_TRUE(same(after[1][i].first, before[1][std::size_t(kept[i])].first)) << i;
      EXPECT_TRUE(same(after[1][i].second, before[1][std::size_t(kept[i])].second)) << i;
    }
    for (std::size_t head : {0u, 2u, 3u, 4u, 5u}) {
      ASSERT_EQ(after[head].size(), before[head].size());
      for (std::size_t s = 0; s < after[head].size(); ++s)
        EXPECT_TRUE(same(after[head][s].first, before[head][s].first) &&
                    same(after[head][s].second, before[head][s].second))
            << head << " " << s;
    }
  }
}

TYPED_TEST(Evict, CompactedStatisticsLineUpForTheNextEviction) {
  using C = TypeParam;
  for (kv_layout layout : {kv_layout::contiguous, kv_layout::paged}) {
    kv_cache<C> cache = filled_cache<C>(layout);
    const auto before = all_rows(cache);
    std::vector<float> acc = kAccumulated;
    const kv::h2o policy{.recent = 2};
    const V first = kv::evict(cache, 0, 2, policy, {.accumulated = acc}, 6);
    kv::compact(acc, first);
    ASSERT_EQ(acc.size(), first.size());
    for (std::size_t i = 0; i < first.size(); ++i)
      EXPECT_EQ(acc[i], kAccumulated[std::size_t(first[i])]);
    // H2O is nested: evicting the compacted head to 3 keeps what one eviction to 3 would.
    const V second = kv::evict(cache, 0, 2, policy, {.accumulated = acc}, 3);
    V original;
    for (index_t i : second) original.push_back(first[std::size_t(i)]);
    EXPECT_EQ(original, kv::select(policy, {}, {.accumulated = kAccumulated}, 3));
    const auto after = all_rows(cache);
    ASSERT_EQ(after[2].size(), 3u);
    for (std::size_t i = 0; i < 3; ++i)
      EXPECT_TRUE(same(after[2][i].first, before[2][std::size_t(original[i])].first));
  }
}

TYPED_TEST(Evict, KnormReadsTheCachedKeys) {
  using C = TypeParam;
  for (kv_layout layout : {kv_layout::contiguous, kv_layout::paged}) {
    kv_cache<C> cache = filled_cache<C>(layout);
    const std::vector<float> keys = kv::gather_keys(cache, 1, 0);
    const V expected =
        kv::select(kv::knorm{}, tensor_view<const float, 2>(keys.data(), {9, 4}), {}, 4);
    // Independently: the four smallest norms of the rows read through the views.
    std::vector<double> minus_norm;
    for (index_t s = 0; s < 9; ++s) {
      double n2 = 0;
      for (double x : test::read_row(cache, true, 1, 0, s).values) n2 += x * x;
      minus_norm.push_back(-n2);
    }
    EXPECT_EQ(expected, test::top_by_sort(minus_norm, test::iota_positions(0, 9), 4));
    EXPECT_EQ(kv::evict(cache, 1, 0, kv::knorm{}, {}, 4), expected);
    EXPECT_EQ(cache.length(1, 0), 4);
  }
}

TYPED_TEST(Evict, EveryHeadEvictedReturnsPagedBlocks) {
  using C = TypeParam;
  kv_cache<C> cache = filled_cache<C>(kv_layout::paged);
  const index_t free_before = cache.num_free_blocks();
  // Sequence 1 holds 9 tokens in 3 blocks; evicting every head to 2 (StreamingLLM: L from the
  // cache, no statistics) leaves one block.
  for (index_t h = 0; h < 3; ++h)
    EXPECT_EQ(kv::evict(cache, 1, h, kv::streaming_llm{.sinks = 1}, {}, 2), (V{0, 8}));
  EXPECT_EQ(cache.num_free_blocks(), free_before + 2);
  EXPECT_EQ(cache.max_length(1), 2);
  // Budgets >= L keep everything; 0 empties the head.
  EXPECT_EQ(kv::evict(cache, 1, 0, kv::random{.seed = 3}, {}, 5), (V{0, 1}));
  EXPECT_EQ(kv::evict(cache, 1, 0, kv::random{.seed = 3}, {}, 0), V{});
  EXPECT_EQ(cache.length(1, 0), 0);
}

TYPED_TEST(Evict, BadArgumentsChangeNothing) {
  using C = TypeParam;
  for (kv_layout layout : {kv_layout::contiguous, kv_layout::paged}) {
    kv_cache<C> cache = filled_cache<C>(layout);
    const test::kv_snapshot before(cache);
    const std::string where = "kv::evict";
    const std::vector<float> nine(9, 1.0f), thirteen(13, 1.0f);
    test::expect_rejected([&] { kv::evict(cache, 2, 0, kv::h2o{}, {.accumulated = nine}, 3); }, where,
                       "b");
    test::expect_rejected([&] { kv::evict(cache, 1, 3, kv::h2o{}, {.accumulated = nine}, 3); }, where,
                       "h");
    test::expect_rejected([&] { kv::evict(cache, 1, 0, kv::h2o{}, {.accumulated = nine}, -1); }, where,
                       "budget");
    test::expect_rejected(
        [&] { kv::evict(cache, 1, 0, kv::h2o{.recent = -1}, {.accumulated = nine}, 3); }, where,
        "policy.recent");
    // Statistics of the other sequence's length, or absent.
    test::expect_rejected([&] { kv::evict(cache, 1, 0, kv::h2o{}, {.accumulated = thirteen}, 3); },
                       where, "stats.accumulated");
    test::expect_rejected([&] { kv::evict(cache, 1, 0, kv::h2o{}, {}, 3); }, where,
                       "stats.accumulated");
    test::expect_rejected([&] { kv::evict(cache, 1, 0, kv::snapkv{}, {.accumulated = nine}, 3); },
                       where, "stats.window");
    test::expect_rejected(
        [&] { kv::evict(cache, 1, 0, kv::tova{}, {.last = nine, .window = thirteen}, 3); }, where,
        "stats.window");
    test::expect_rejected([&] { kv::evict(cache, 1, 0, kv::knorm{}, {.last = thirteen}, 3); }, where,
                       "stats.last");
    EXPECT_TRUE(test::kv_snapshot(cache) == before);
  }
}

}  // namespace
}  // namespace attnkit
