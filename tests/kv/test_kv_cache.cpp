// SPDX-License-Identifier: Apache-2.0
// Tests of kv_cache: append and read back through the kernel-facing views (every element and
// input type, both layouts, odd sizes, strided inputs), paged block bookkeeping, per-head
// keep/remove compaction, drop_last, reset, and a random walk of all of them against a model.
#include <attnkit/kv.hpp>

#include <algorithm>
#include <array>
#include <cstdint>
#include <random>
#include <string>
#include <type_traits>
#include <vector>

#include <gtest/gtest.h>

#include "kv/kv_cache_support.hpp"

namespace attnkit {
namespace {

using test::append_random;
using test::expect_matches;
using test::kv_model;

/// A (cache element, input element) pair.
template <class Cache, class Input>
struct types {
  using C = Cache;
  using T = Input;
};

template <class P>
class KvCacheTyped : public testing::Test {};

using type_pairs = testing::Types<types<float, float>, types<bf16, bf16>, types<fp16, fp16>,
                                  types<std::int8_t, float>, types<std::int8_t, bf16>,
                                  types<bf16, float>, types<fp16, float>, types<float, fp16>>;
TYPED_TEST_SUITE(KvCacheTyped, type_pairs);

/// The layouts of the sweeps: contiguous, and paged with blocks of 1, 3 and 16 tokens.
std::vector<kv_cache_config> layouts(kv_cache_config base) {
  std::vector<kv_cache_config> all = {base};
  for (index_t block_size : {1, 3, 16}) {
    base.layout = kv_layout::paged;
    base.block_size = block_size;
    all.push_back(base);
  }
  return all;
}

std::string describe(const kv_cache_config& c) {
  return "D " + std::to_string(c.head_dim) + " Dv " + std::to_string(c.value_dim) +
         (c.layout == kv_layout::paged ? " paged, block " + std::to_string(c.block_size)
                                       : " contiguous");
}

/// Runs body(cache, model) on a fresh empty cache of element C and its model for every layout
/// of `base`.
template <class C, class Body>
void for_each_layout(const kv_cache_config& base, Body&& body) {
  for (const kv_cache_config& config : layouts(base)) {
    SCOPED_TRACE(describe(config));
    kv_cache<C> cache(config);
    kv_model model(config.batch, config.kv_heads);
    body(cache, model);
  }
}

TYPED_TEST(KvCacheTyped, AppendsReadBackThroughTheViews) {
  using C = typename TypeParam::C;
  using T = typename TypeParam::T;
  std::mt19937_64 rng(11);
  for (index_t D : {1, 3, 17, 128}) {
    for (index_t Dv : {D, index_t{5}}) {
      kv_cache_config base{
          .batch = 3, .kv_heads = 2, .head_dim = D, .value_dim = Dv, .capacity = 20};
      for_each_layout<C>(base, [&](kv_cache<C>& cache, kv_model& model) {
        expect_matches(cache, model);
        // Prefill of uneven lengths, then token-by-token decode steps, interleaved.
        append_random<T>(cache, model, 1, 7, rng);
        append_random<T>(cache, model, 0, 1, rng);
        append_random<T>(cache, model, 2, 0, rng);
        for (int step = 0; step < 5; ++step)
          for (index_t b = 0; b < 3; ++b) append_random<T>(cache, model, b, 1, rng);
        append_random<T>(cache, model, 2, 15, rng);  // sequence 2 at capacity
        expect_matches(cache, model);
        EXPECT_FALSE(cache.can_append(2, 1));
        EXPECT_TRUE(cache.can_append(0, 14));
        EXPECT_FALSE(cache.can_append(0, 15));
      });
    }
  }
}

TYPED_TEST(KvCacheTyped, StridedAndBroadcastInputs) {
  using C = typename TypeParam::C;
  using T = typename TypeParam::T;
  std::mt19937_64 rng(12);
  for_each_layout<C>({.batch = 2, .kv_heads = 3, .head_dim = 17, .value_dim = 4, .capacity = 9},
                     [&](kv_cache<C>& cache, kv_model& model) {
                       // [B, H, S, D]-style storage with padded rows, and the reverse dimension
                       // order.
                       append_random<T>(cache, model, 0, 4, rng, {1, 0, 2}, 3);
                       append_random<T>(cache, model, 1, 5, rng, {2, 1, 0}, 0);
                       // One token broadcast to three positions (stride 0) and one head to all
                       // heads.
                       const auto row = test::random_rows<T>(1, 3, 17, rng);
                       const auto vrow = test::random_rows<T>(1, 1, 4, rng);
                       const tensor_view<const T, 3> k(row.cview().data(), {3, 3, 17}, {0, 17, 1});
                       const tensor_view<const T, 3> v(vrow.cview().data(), {3, 3, 4}, {0, 0, 1});
                       cache.append(0, k, v);
                       model.append(0, k, v);
                       // A non-const view is accepted too.
                       auto mk = test::random_rows<T>(1, 3, 17, rng);
                       auto mv = test::random_rows<T>(1, 3, 4, rng);
                       cache.append(1, mk.view(), mv.view());
                       model.append(1, mk.cview(), mv.cview());
                       expect_matches(cache, model);
                     });
}

TYPED_TEST(KvCacheTyped, KeepAndRemoveCompactEachHeadInOrder) {
  using C = typename TypeParam::C;
  using T = typename TypeParam::T;
  std::mt19937_64 rng(13);
  for_each_layout<C>(
      {.batch = 2, .kv_heads = 3, .head_dim = 3, .capacity = 17},
      [&](kv_cache<C>& cache, kv_model& model) {
        append_random<T>(cache, model, 0, 11, rng);
        append_random<T>(cache, model, 1, 17, rng);
        const auto step = [&](auto op, index_t b, index_t h, std::vector<index_t> positions) {
          op(b, h, positions);
          expect_matches(cache, model);
        };
        const auto keep = [&](index_t b, index_t h, const std::vector<index_t>& p) {
          cache.keep(b, h, p);
          model.keep(b, h, p);
        };
        const auto remove = [&](index_t b, index_t h, const std::vector<index_t>& p) {
          cache.remove(b, h, p);
          model.remove(b, h, p);
        };
        step(keep, 0, 1, {0, 2, 3, 9, 10});  // only head 1 of sequence 0 changes
        EXPECT_EQ(cache.length(0, 1), 5);
        EXPECT_EQ(cache.length(0, 0), 11);
        step(remove, 0, 2, {0, 1, 5, 10});  // the complement: 7 left, in order
        EXPECT_EQ(cache.length(0, 2), 7);
        step(keep, 1, 0, {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16});  // all
        step(remove, 1, 0, {});                                                        // none
        step(keep, 1, 1, {16});  // the last token becomes the only one
        step(remove, 1, 2, {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16});  // all
        EXPECT_EQ(cache.length(1, 2), 0);
        step(keep, 0, 0, {});
        // Heads of different lengths grow on: each head appends at its own length.
        append_random<T>(cache, model, 0, 6, rng);
        append_random<T>(cache, model, 1, 0, rng);
        expect_matches(cache, model);
        EXPECT_EQ(cache.length(0, 0), 6);
        EXPECT_EQ(cache.length(0, 1), 11);
        EXPECT_EQ(cache.length(0, 2), 13);
        EXPECT_FALSE(cache.can_append(0, 5));  // head 2 would pass capacity 17
        EXPECT_TRUE(cache.can_append(0, 4));
      });
}

TYPED_TEST(KvCacheTyped, DropLastResetAndClear) {
  using C = typename TypeParam::C;
  using T = typename TypeParam::T;
  std::mt19937_64 rng(14);
  for_each_layout<C>({.batch = 3, .kv_heads = 2, .head_dim = 17, .capacity = 10},
                     [&](kv_cache<C>& cache, kv_model& model) {
                       for (index_t b = 0; b < 3; ++b)
                         append_random<T>(cache, model, b, 3 + 2 * b, rng);
                       cache.remove(2, 1, std::vector<index_t>{0, 4});
                       model.remove(2, 1, {0, 4});
                       cache.drop_last(2, 3);  // heads of 7 and 5 tokens: 4 and 2 left
                       for (index_t h = 0; h < 2; ++h)
                         model.at(2, h).resize(model.at(2, h).size() - 3);
                       cache.drop_last(1, 0);
                       expect_matches(cache, model);
                       EXPECT_EQ(cache.length(2, 0), 4);
                       EXPECT_EQ(cache.length(2, 1), 2);
                       cache.reset(1);
                       for (index_t h = 0; h < 2; ++h) model.at(1, h).clear();
                       expect_matches(cache, model);
                       append_random<T>(cache, model, 1, 10,
                                        rng);  // the reset sequence takes its full capacity
                       expect_matches(cache, model);
                       cache.clear();
                       expect_matches(cache, kv_model(3, 2));
                       if (cache.config().layout == kv_layout::paged) {
                         EXPECT_EQ(cache.num_free_blocks(), cache.config().num_blocks);
                       }
                     });
}

TYPED_TEST(KvCacheTyped, RandomWalkAgainstTheModel) {
  using C = typename TypeParam::C;
  using T = typename TypeParam::T;
  std::mt19937_64 rng(15);
  // A pool smaller than batch x capacity, so appends also run out of blocks.
  for (index_t block_size : {1, 3, 16}) {
    const kv_cache_config config{.batch = 3,
                                 .kv_heads = 2,
                                 .head_dim = 3,
                                 .value_dim = 2,
                                 .capacity = 33,
                                 .layout = kv_layout::paged,
                                 .block_size = block_size,
                                 .num_blocks = 2 * ((33 + block_size - 1) / block_size)};
    SCOPED_TRACE(describe(config));
    kv_cache<C> cache(config);
    kv_model model(3, 2);
    std::uniform_int_distribution<index_t> pick_b(0, 2), pick_h(0, 1), pick_op(0, 9);
    for (int step = 0; step < 300; ++step) {
      const index_t b = pick_b(rng), h = pick_h(rng);
      const index_t op = pick_op(rng);
      const index_t length = cache.length(b, h);
      if (op < 5) {
        const index_t n = std::uniform_int_distribution<index_t>(0, 12)(rng);
        if (cache.can_append(b, n)) {
          append_random<T>(cache, model, b, n, rng);
        } else {
          const test::kv_snapshot before(cache);
          const auto k = test::random_rows<T>(n, 2, 3, rng);
          const auto v = test::random_rows<T>(n, 2, 2, rng);
          EXPECT_THROW(cache.append(b, k.cview(), v.cview()), error);
          EXPECT_TRUE(before == test::kv_snapshot(cache));
        }
      } else if (op < 8) {
        std::vector<index_t> positions;
        for (index_t s = 0; s < length; ++s)
          if (rng() % 3 != 0) positions.push_back(s);
        if (op == 5) {
          cache.keep(b, h, positions);
          model.keep(b, h, positions);
        } else {
          cache.remove(b, h, positions);
          model.remove(b, h, positions);
        }
      } else if (op == 8) {
        const index_t n = std::min(cache.length(b, 0), cache.length(b, 1)) / 2;
        cache.drop_last(b, n);
        for (index_t g = 0; g < 2; ++g) model.at(b, g).resize(model.at(b, g).size() - n);
      } else if (rng() % 4 == 0) {
        cache.reset(b);
        for (index_t g = 0; g < 2; ++g) model.at(b, g).clear();
      }
      expect_matches(cache, model);
      if (testing::Test::HasFailure()) FAIL() << "at step " << step;
    }
  }
}

// ---- paged bookkeeping (the element type does not matter here) ---------------------------------

TEST(KvCachePaged, BlocksInterleaveBetweenSequencesAndReturnToThePool) {
  kv_cache<float> cache({.batch = 3,
                         .kv_heads = 2,
                         .head_dim = 3,
                         .capacity = 12,
                         .layout = kv_layout::paged,
                         .block_size = 3});
  EXPECT_EQ(cache.config().num_blocks, 12);  // 3 sequences x ceil(12 / 3) blocks
  EXPECT_EQ(cache.config().value_dim, 3);
  EXPECT_EQ(cache.keys().extents(), (std::array<index_t, 4>{12, 3, 2, 3}));
  EXPECT_EQ(cache.block_table().extents(), (std::array<index_t, 2>{3, 4}));
  kv_model model(3, 2);
  std::mt19937_64 rng(16);
  append_random<float>(cache, model, 0, 2, rng);  // block 0
  append_random<float>(cache, model, 1, 4, rng);  // blocks 1, 2
  append_random<float>(cache, model, 2, 3, rng);  // block 3
  append_random<float>(cache, model, 0, 5, rng);  // 7 tokens: blocks 0, 4, 5
  expect_matches(cache, model);
  const auto table = cache.block_table();
  const auto row = [&](index_t b) {
    return std::vector<std::int32_t>{table(b, 0), table(b, 1), table(b, 2), table(b, 3)};
  };
  EXPECT_EQ(row(0), (std::vector<std::int32_t>{0, 4, 5, -1}));
  EXPECT_EQ(row(1), (std::vector<std::int32_t>{1, 2, -1, -1}));
  EXPECT_EQ(row(2), (std::vector<std::int32_t>{3, -1, -1, -1}));
  EXPECT_EQ(cache.num_free_blocks(), 6);

  // A block goes back only when no head of the sequence needs it.
  cache.keep(0, 0, std::vector<index_t>{1, 4});
  model.keep(0, 0, {1, 4});
  EXPECT_EQ(cache.num_free_blocks(), 6);  // head 1 still holds 7 tokens
  cache.remove(0, 1, std::vector<index_t>{0, 2, 3, 6});
  model.remove(0, 1, {0, 2, 3, 6});  // 3 tokens left: one block
  expect_matches(cache, model);
  EXPECT_EQ(row(0), (std::vector<std::int32_t>{0, -1, -1, -1}));
  EXPECT_EQ(cache.num_free_blocks(), 8);

  // Freed blocks are handed out again, most recently freed first (4 after 5).
  append_random<float>(cache, model, 2, 4, rng);  // 7 tokens: blocks 3, 4, 5
  EXPECT_EQ(row(2), (std::vector<std::int32_t>{3, 4, 5, -1}));
  cache.reset(1);
  EXPECT_EQ(row(1), (std::vector<std::int32_t>{-1, -1, -1, -1}));
  for (index_t h = 0; h < 2; ++h) model.at(1, h).clear();
  EXPECT_EQ(cache.num_free_blocks(), 8);
  expect_matches(cache, model);
}

TEST(KvCachePaged, ASmallPoolIsSharedUntilItRunsOut) {
  kv_cache<bf16> cache({.batch = 4,
                        .kv_heads = 1,
                        .head_dim = 2,
                        .capacity = 100,
                        .layout = kv_layout::paged,
                        .block_size = 4,
                        .num_blocks = 5});
  EXPECT_EQ(cache.config().num_blocks, 5);
  EXPECT_EQ(cache.block_table().extents(), (std::array<index_t, 2>{4, 25}));
  kv_model model(4, 1);
  std::mt19937_64 rng(17);
  append_random<bf16>(cache, model, 3, 9, rng);  // 3 blocks
  append_random<bf16>(cache, model, 0, 8, rng);  // 2 blocks: the pool is empty
  EXPECT_EQ(cache.num_free_blocks(), 0);
  EXPECT_TRUE(cache.can_append(3, 3));  // the last block of sequence 3 has room for 3
  EXPECT_FALSE(cache.can_append(3, 4));
  EXPECT_FALSE(cache.can_append(1, 1));
  EXPECT_TRUE(cache.can_append(1, 0));
  append_random<bf16>(cache, model, 3, 3, rng);
  expect_matches(cache, model);
  cache.drop_last(3, 8);  // 4 tokens left: 2 blocks back
  model.at(3, 0).resize(4);
  EXPECT_EQ(cache.num_free_blocks(), 2);
  append_random<bf16>(cache, model, 1, 8, rng);
  expect_matches(cache, model);
}

TEST(KvCacheContiguous, ViewsHaveTheDecodeKernelShapes) {
  kv_cache<fp16> cache({.batch = 2, .kv_heads = 3, .head_dim = 5, .value_dim = 7, .capacity = 4});
  EXPECT_EQ(cache.keys().extents(), (std::array<index_t, 4>{2, 4, 3, 5}));
  EXPECT_EQ(cache.values().extents(), (std::array<index_t, 4>{2, 4, 3, 7}));
  EXPECT_TRUE(cache.keys().is_contiguous());
  EXPECT_EQ(cache.block_table().data(), nullptr);
  EXPECT_EQ(cache.seqlens().size(), 6u);
  const fp16* storage = cache.keys().data();
  const auto seqlens = cache.seqlens();
  std::mt19937_64 rng(18);
  kv_model model(2, 3);
  append_random<fp16>(cache, model, 1, 4, rng);
  // Storage never moves: views and seqlens taken before an append see it.
  EXPECT_EQ(cache.keys().data(), storage);
  EXPECT_EQ(seqlens[3], 4);
  EXPECT_EQ(cache.keys()(1, 2, 0, 4), fp16(model.at(1, 0)[2].k[4]));
  kv_cache<fp16> moved = std::move(cache);
  EXPECT_EQ(moved.keys().data(), storage);
  expect_matches(moved, model);
}

TEST(KvCacheInt8, ViewsAreQuantizedKvWithOneScalePerTokenAndHead) {
  kv_cache<std::int8_t> cache({.batch = 1,
                               .kv_heads = 2,
                               .head_dim = 4,
                               .value_dim = 3,
                               .capacity = 5,
                               .layout = kv_layout::paged,
                               .block_size = 2});
  static_assert(std::is_same_v<decltype(cache.keys()), quantized_kv>);
  EXPECT_EQ(cache.keys().values.extents(), (std::array<index_t, 4>{3, 2, 2, 4}));
  EXPECT_EQ(cache.keys().scales.extents(), (std::array<index_t, 3>{3, 2, 2}));
  EXPECT_EQ(cache.values().values.extents(), (std::array<index_t, 4>{3, 2, 2, 3}));
  // head 0: a zero row and a row with max 127; head 1: scale 2 / 127 rounded up.
  const std::vector<float> k = {0,   0,     0, 0, 1,     -2, 0.5f, 2,  //
                                127, -3.5f, 0, 1, 0.25f, 0,  0,    0};
  const std::vector<float> v(2 * 2 * 3, 1.0f);
  cache.append(0, tensor_view<const float, 3>(k.data(), {2, 2, 4}),
               tensor_view<const float, 3>(v.data(), {2, 2, 3}));
  const quantized_kv keys = cache.keys();
  const std::int32_t block = cache.block_table()(0, 0);
  EXPECT_EQ(keys.scales(block, 0, 0), 0.0f);
  for (index_t d = 0; d < 4; ++d) EXPECT_EQ(keys.values(block, 0, 0, d), 0);
  EXPECT_EQ(keys.scales(block, 0, 1), detail::int8_scale(2.0f));
  EXPECT_EQ(keys.values(block, 0, 1, 1), -127);
  EXPECT_EQ(keys.values(block, 0, 1, 3), 127);
  EXPECT_EQ(keys.scales(block, 1, 0), 1.0f);
  EXPECT_EQ(keys.values(block, 1, 0, 0), 127);
  EXPECT_EQ(keys.values(block, 1, 0, 1), -4);  // -3.5 rounds away from zero
  EXPECT_EQ(cache.values().scales(block, 1, 1), detail::int8_scale(1.0f));
  EXPECT_EQ(cache.values().values(block, 1, 1, 2), 127);
}

}  // namespace
}  // namespace attnkit
