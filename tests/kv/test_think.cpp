// SPDX-License-Identifier: Apache-2.0
// Tests of kv::think: select_channels ranks ||Q[:, j]|| ||K[:, j]||; prune_channels zeroes the
// other channels of one cached head (contiguous and paged; float, bf16, fp16, int8) and nothing
// else; kv_cache::zero_key_channels and the argument checks.
#include <attnkit/kv/think.hpp>

#include <cstdint>
#include <random>
#include <vector>

#include <gtest/gtest.h>

#include "kv/eviction_support.hpp"
#include "kv/kv_cache_support.hpp"

namespace attnkit {
namespace {

using test::kNaN;
using V = std::vector<index_t>;

// Key column norms 1, 2, 0, 5; query column norms 5, 1, 12.7, 0.1: products 5, 2, 0, 0.5.
// (Keys alone would rank 3, 1, 0, 2; queries alone 2, 0, 1, 3.)
struct hand_case {
  test::matrix k{3, 4}, q{2, 4};
  hand_case() {
    k(0, 0) = 1;
    k(1, 1) = 2;
    k(0, 3) = 3;
    k(1, 3) = 4;
    q(0, 0) = 3;
    q(1, 0) = 4;
    q(0, 1) = 1;
    q(0, 2) = 9;
    q(1, 2) = 9;
    q(1, 3) = 0.1f;
  }
};

TEST(SelectChannels, RanksByQueryTimesKeyColumnNorms) {
  const hand_case c;
  const auto run = [&](index_t budget) {
    return kv::select_channels(kv::think{}, c.k.view(), c.q.view(), budget);
  };
  EXPECT_EQ(run(0), V{});
  EXPECT_EQ(run(1), V{0});
  EXPECT_EQ(run(2), (V{0, 1}));
  EXPECT_EQ(run(3), (V{0, 1, 3}));
  EXPECT_EQ(run(4), (V{0, 1, 2, 3}));
  EXPECT_EQ(run(8), (V{0, 1, 2, 3}));
}

TEST(SelectChannels, TiesToTheHigherChannelNanLast) {
  const test::matrix k(5, 4, 1.0f), none(0, 4);
  EXPECT_EQ(kv::select_channels(kv::think{}, k.view(), none.view(), 2), (V{2, 3}));
  test::matrix q(1, 4, 1.0f), nan_keys(5, 4, 1.0f);
  nan_keys(2, 3) = kNaN;
  EXPECT_EQ(kv::select_channels(kv::think{}, nan_keys.view(), q.view(), 3), (V{0, 1, 2}));
  // No keys: every score 0.
  const test::matrix no_keys(0, 4);
  EXPECT_EQ(kv::select_channels(kv::think{}, no_keys.view(), q.view(), 1), V{3});
}

TEST(SelectChannels, BadArgumentsAreRejected) {
  const hand_case c;
  const test::matrix wide(2, 5);
  const std::string where = "kv::select_channels";
  test::expect_rejected([&] { kv::select_channels(kv::think{}, c.k.view(), wide.view(), 2); }, where,
                     "queries");
  test::expect_rejected([&] { kv::select_channels(kv::think{}, c.k.view(), c.q.view(), -1); }, where,
                     "channel_budget");
  const tensor_view<const float, 2> null_keys(nullptr, {3, 4});
  test::expect_rejected([&] { kv::select_channels(kv::think{}, null_keys, c.q.view(), 2); }, where,
                     "keys");
}

template <class C>
class PruneChannels : public testing::Test {};
using elements = testing::Types<float, bf16, fp16, std::int8_t>;
TYPED_TEST_SUITE(PruneChannels, elements);

/// A cache of B 2, Hkv 2, D 6, Dv 3 with 7 and 11 tokens (paged: blocks of 4).
template <class C>
kv_cache<C> filled_cache(kv_layout layout) {
  return test::random_filled_cache<C>(
      {.batch = 2, .kv_heads = 2, .head_dim = 6, .value_dim = 3, .capacity = 11, .layout = layout,
       .block_size = 4},
      {7, 11}, 12);
}

TYPED_TEST(PruneChannels, ZeroesExactlyThePrunedChannelsOfOneHead) {
  using C = TypeParam;
  for (kv_layout layout : {kv_layout::contiguous, kv_layout::paged}) {
    kv_cache<C> cache = filled_cache<C>(layout);
    // Queries with nothing on channels 1 and 4: those score 0 and are pruned at budget 4.
    test::matrix q(3, 6, 0.5f);
    for (index_t w = 0; w < 3; ++w) q(w, 1) = q(w, 4) = 0.0f;
    std::vector<std::vector<test::stored_row>> before;  // [b * 2 + h][s], keys then values
    const auto rows = [&](bool key) {
      std::vector<std::vector<test::stored_row>> all;
      for (index_t b = 0; b < 2; ++b)
        for (index_t h = 0; h < 2; ++h) {
          all.emplace_back();
          for (index_t s = 0; s < cache.length(b, h); ++s)
            all.back().push_back(test::read_row(cache, key, b, h, s));
        }
      return all;
    };
    const auto keys_before = rows(true), values_before = rows(false);
    const std::vector<std::int32_t> lengths(cache.seqlens().begin(), cache.seqlens().end());
    EXPECT_EQ(kv::prune_channels(cache, 1, 0, kv::think{}, q.view(), 4), (V{0, 2, 3, 5}));
    const auto keys_after = rows(true), values_after = rows(false);
    EXPECT_EQ(std::vector<std::int32_t>(cache.seqlens().begin(), cache.seqlens().end()), lengths);
    for (std::size_t head = 0; head < 4; ++head) {
      for (std::size_t s = 0; s < keys_before[head].size(); ++s) {
        SCOPED_TRACE(testing::Message() << "head " << head << " s " << s);
        const auto& k0 = keys_before[head][s];
        const auto& k1 = keys_after[head][s];
        EXPECT_EQ(k1.scale, k0.scale);
        EXPECT_EQ(values_after[head][s].values, values_before[head][s].values);
        for (std::size_t d = 0; d < 6; ++d) {
          if (head == 2 && (d == 1 || d == 4))
            EXPECT_EQ(k1.values[d], 0.0) << d;
          else
            EXPECT_EQ(k1.values[d], k0.values[d]) << d;
        }
      }
    }
    // The kept channels equal select_channels on the gathered keys (checked on another head).
    const std::vector<float> gathered = kv::gather_keys(cache, 0, 1);
    const tensor_view<const float, 2> keys(gathered.data(), {7, 6});
    test::matrix q2(2, 6);
    for (index_t d = 0; d < 6; ++d) q2(0, d) = q2(1, d) = float(d % 3) + 0.25f;
    const V expected = kv::select_channels(kv::think{}, keys, q2.view(), 3);
    EXPECT_EQ(kv::prune_channels(cache, 0, 1, kv::think{}, q2.view(), 3), expected);
    // Budget >= D prunes nothing.
    const test::kv_snapshot full(cache);
    EXPECT_EQ(kv::prune_channels(cache, 1, 1, kv::think{}, q.view(), 6), (V{0, 1, 2, 3, 4, 5}));
    EXPECT_TRUE(test::kv_snapshot(cache) == full);
  }
}

TYPED_TEST(PruneChannels, BadArgumentsChangeNothing) {
  using C = TypeParam;
  for (kv_layout layout : {kv_layout::contiguous, kv_layout::paged}) {
    kv_cache<C> cache = filled_cache<C>(layout);
    const test::kv_snapshot before(cache);
    const test::matrix q(2, 6, 1.0f), wide(2, 7, 1.0f);
    const std::string where = "kv::prune_channels";
    test::expect_rejected([&] { kv::prune_channels(cache, 2, 0, kv::think{}, q.view(), 3); }, where,
                       "b");
    test::expect_rejected([&] { kv::prune_channels(cache, 0, -1, kv::think{}, q.view(), 3); }, where,
                       "h");
    test::expect_rejected([&] { kv::prune_channels(cache, 0, 0, kv::think{}, wide.view(), 3); }, where,
                       "queries");
    test::expect_rejected([&] { kv::prune_channels(cache, 0, 0, kv::think{}, q.view(), -1); }, where,
                       "channel_budget");
    const std::string zero = "kv_cache::zero_key_channels";
    test::expect_rejected([&] { cache.zero_key_channels(0, 0, V{0, 6}); }, zero, "channels");
    test::expect_rejected([&] { cache.zero_key_channels(0, 0, V{-1}); }, zero, "channels");
    test::expect_rejected([&] { cache.zero_key_channels(0, 0, V{3, 3}); }, zero, "channels");
    test::expect_rejected([&] { cache.zero_key_channels(0, 0, V{4, 2}); }, zero, "channels");
    test::expect_rejected([&] { cache.zero_key_channels(0, 2, V{1}); }, zero, "h");
    test::expect_rejected([&] { cache.zero_key_channels(5, 0, V{1}); }, zero, "b");
    EXPECT_TRUE(test::kv_snapshot(cache) == before);
  }
}

}  // namespace
}  // namespace attnkit
