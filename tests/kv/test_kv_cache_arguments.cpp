// SPDX-License-Identifier: Apache-2.0
// kv_cache's argument checks: every invalid argument of every member throws attnkit::error naming
// it and leaves the whole cache unchanged (capacity and pool exhaustion included); config checks.
#include <attnkit/kv.hpp>

#include <array>
#include <cstdint>
#include <functional>
#include <limits>
#include <random>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "exact/argument_cases.hpp"
#include "kv/kv_cache_support.hpp"

namespace attnkit {
namespace {

using test::kv_snapshot;
using test::argument_cases::expect_rejected;

/// One invalid call: where the message must start, the argument it must name, the call.
template <class C>
struct bad_call {
  std::string label, where, name;
  std::function<void(kv_cache<C>&)> call;
};

/// A paged int8-capable cache in a used state: B 2, Hkv 2, D 3, Dv 2, capacity 7, blocks of 2,
/// a pool of 6 blocks; sequence 0 heads hold 5 and 3 tokens, sequence 1 heads 2 and 2.
template <class C>
kv_cache<C> used_cache(kv_layout layout) {
  kv_cache<C> cache({.batch = 2,
                     .kv_heads = 2,
                     .head_dim = 3,
                     .value_dim = 2,
                     .capacity = 7,
                     .layout = layout,
                     .block_size = 2,
                     .num_blocks = 6});
  test::kv_model model(2, 2);
  std::mt19937_64 rng(21);
  test::append_random<float>(cache, model, 0, 5, rng);
  test::append_random<float>(cache, model, 1, 2, rng);
  cache.remove(0, 1, std::vector<index_t>{1, 3});
  return cache;
}

/// Runs each call on a fresh used cache: it throws attnkit::error from `where` naming the
/// argument, and every byte of the cache's state is as before.
template <class C>
void run_calls(kv_layout layout, const std::vector<bad_call<C>>& calls) {
  for (const auto& c : calls) {
    SCOPED_TRACE(c.label);
    kv_cache<C> cache = used_cache<C>(layout);
    const kv_snapshot before(cache);
    expect_rejected([&] { c.call(cache); }, c.where, c.name);
    EXPECT_TRUE(before == kv_snapshot(cache));
  }
}

template <class C>
std::vector<bad_call<C>> bad_calls() {
  using rows = test::tensor<float, 3>;
  const auto good = [](index_t n, index_t H, index_t D) { return rows({n, H, D}, 0.5f); };
  const auto append = [](index_t b, rows k, rows v) {
    return [=](kv_cache<C>& cache) { cache.append(b, k.cview(), v.cview()); };
  };
  const auto positions = [](std::vector<index_t> p) { return p; };
  std::vector<bad_call<C>> calls = {
      {"append b -1", "kv_cache::append", "b", append(-1, good(1, 2, 3), good(1, 2, 2))},
      {"append b 2", "kv_cache::append", "b", append(2, good(1, 2, 3), good(1, 2, 2))},
      {"k_new 3 heads", "kv_cache::append", "k_new", append(0, good(1, 3, 3), good(1, 2, 2))},
      {"k_new dim 2", "kv_cache::append", "k_new", append(0, good(1, 2, 2), good(1, 2, 2))},
      {"v_new 1 head", "kv_cache::append", "v_new", append(0, good(1, 2, 3), good(1, 1, 2))},
      {"v_new dim 3", "kv_cache::append", "v_new", append(0, good(1, 2, 3), good(1, 2, 3))},
      {"v_new 2 tokens, k_new 1", "kv_cache::append", "v_new",
       append(0, good(1, 2, 3), good(2, 2, 2))},
      {"k_new null data", "kv_cache::append", "k_new",
       [](kv_cache<C>& cache) {
         const rows v({1, 2, 2}, 0.5f);
         cache.append(0, tensor_view<const float, 3>(nullptr, {1, 2, 3}), v.cview());
       }},
      {"capacity: head 0 of sequence 0 holds 5 of 7", "kv_cache::append", "k_new",
       append(0, good(3, 2, 3), good(3, 2, 2))},
      {"capacity: sequence 1 holds 2 of 7", "kv_cache::append", "k_new",
       append(1, good(6, 2, 3), good(6, 2, 2))},
      {"keep b 2", "kv_cache::keep", "b", [=](kv_cache<C>& c) { c.keep(2, 0, positions({0})); }},
      {"keep h 2", "kv_cache::keep", "h", [=](kv_cache<C>& c) { c.keep(0, 2, positions({0})); }},
      {"keep h -1", "kv_cache::keep", "h", [=](kv_cache<C>& c) { c.keep(0, -1, positions({0})); }},
      {"keep position 3 of 3", "kv_cache::keep", "positions",
       [=](kv_cache<C>& c) {
         c.keep(0, 1, positions({0, 3}));
       }},
      {"keep position -1", "kv_cache::keep", "positions",
       [=](kv_cache<C>& c) {
         c.keep(0, 0, positions({-1, 2}));
       }},
      {"keep duplicate", "kv_cache::keep", "positions",
       [=](kv_cache<C>& c) {
         c.keep(0, 0, positions({1, 1, 2}));
       }},
      {"keep descending", "kv_cache::keep", "positions",
       [=](kv_cache<C>& c) {
         c.keep(0, 0, positions({0, 3, 2}));
       }},
      {"remove b -1", "kv_cache::remove", "b",
       [=](kv_cache<C>& c) { c.remove(-1, 0, positions({0})); }},
      {"remove h 5", "kv_cache::remove", "h",
       [=](kv_cache<C>& c) { c.remove(1, 5, positions({0})); }},
      {"remove position 2 of 2", "kv_cache::remove", "positions",
       [=](kv_cache<C>& c) { c.remove(1, 1, positions({2})); }},
      {"remove descending", "kv_cache::remove", "positions",
       [=](kv_cache<C>& c) {
         c.remove(0, 0, positions({4, 0}));
       }},
      {"remove duplicate last", "kv_cache::remove", "positions",
       [=](kv_cache<C>& c) {
         c.remove(0, 0, positions({0, 4, 4}));
       }},
      {"drop_last b 2", "kv_cache::drop_last", "b", [](kv_cache<C>& c) { c.drop_last(2, 1); }},
      {"drop_last -1", "kv_cache::drop_last", "n", [](kv_cache<C>& c) { c.drop_last(0, -1); }},
      {"drop_last 4, shortest head 3", "kv_cache::drop_last", "n",
       [](kv_cache<C>& c) { c.drop_last(0, 4); }},
      {"reset b -1", "kv_cache::reset", "b", [](kv_cache<C>& c) { c.reset(-1); }},
      {"length b 2", "kv_cache::length", "b", [](kv_cache<C>& c) { (void)c.length(2, 0); }},
      {"length h 2", "kv_cache::length", "h", [](kv_cache<C>& c) { (void)c.length(0, 2); }},
      {"max_length b -1", "kv_cache::max_length", "b",
       [](kv_cache<C>& c) { (void)c.max_length(-1); }},
      {"can_append b 2", "kv_cache::can_append", "b",
       [](kv_cache<C>& c) { (void)c.can_append(2, 0); }},
      {"can_append n -1", "kv_cache::can_append", "n",
       [](kv_cache<C>& c) { (void)c.can_append(0, -1); }},
  };
  if constexpr (std::is_same_v<C, std::int8_t>) {
    const float nan = std::numeric_limits<float>::quiet_NaN();
    const float inf = std::numeric_limits<float>::infinity();
    auto k_nan = good(2, 2, 3);
    k_nan(1, 1, 2) = nan;
    auto v_inf = good(2, 2, 2);
    v_inf(1, 1, 1) = -inf;  // the very last element: nothing may be written before the check
    calls.push_back({"int8 NaN key", "kv_cache::append", "k_new", append(1, k_nan, good(2, 2, 2))});
    calls.push_back(
        {"int8 -inf value", "kv_cache::append", "v_new", append(1, good(2, 2, 3), v_inf)});
  }
  return calls;
}

template <class C>
class KvCacheArguments : public testing::Test {};
using cache_elements = testing::Types<float, bf16, fp16, std::int8_t>;
TYPED_TEST_SUITE(KvCacheArguments, cache_elements);

TYPED_TEST(KvCacheArguments, EveryInvalidArgumentIsNamedAndChangesNothing) {
  for (kv_layout layout : {kv_layout::contiguous, kv_layout::paged}) {
    SCOPED_TRACE(layout == kv_layout::paged ? "paged" : "contiguous");
    run_calls<TypeParam>(layout, bad_calls<TypeParam>());
  }
}

TYPED_TEST(KvCacheArguments, PoolExhaustionChangesNothing) {
  using C = TypeParam;
  // Pool of 6 blocks of 2: sequence 0 holds 3, sequence 1 holds 1; 2 are free.
  kv_cache<C> cache = used_cache<C>(kv_layout::paged);
  ASSERT_EQ(cache.num_free_blocks(), 2);
  test::kv_model unused(2, 2);
  std::mt19937_64 rng(22);
  // Sequence 1 (2 tokens in 1 block) can take 4 more (2 free blocks) + 0 room in its block.
  EXPECT_TRUE(cache.can_append(1, 4));
  EXPECT_FALSE(cache.can_append(1, 5));
  const kv_snapshot before(cache);
  const test::tensor<float, 3> k({5, 2, 3}, 0.25f), v({5, 2, 2}, 0.25f);
  expect_rejected([&] { cache.append(1, k.cview(), v.cview()); }, "kv_cache::append", "k_new");
  EXPECT_TRUE(before == kv_snapshot(cache));
  try {
    cache.append(1, k.cview(), v.cview());
  } catch (const error& e) {
    EXPECT_NE(std::string(e.what()).find("free blocks"), std::string::npos) << e.what();
  }
  // Sequence 0 (5 tokens, 3 blocks) has 1 free row and 2 free blocks: 5 fit, but capacity 7
  // allows only 2: the capacity error comes first.
  const test::tensor<float, 3> k3({3, 2, 3}, 0.25f), v3({3, 2, 2}, 0.25f);
  try {
    cache.append(0, k3.cview(), v3.cview());
    ADD_FAILURE() << "no error";
  } catch (const error& e) {
    EXPECT_NE(std::string(e.what()).find("capacity 7"), std::string::npos) << e.what();
  }
  EXPECT_TRUE(before == kv_snapshot(cache));
  // What fits does fit, exactly up to the last free row.
  const test::tensor<float, 3> k4({4, 2, 3}, 0.25f), v4({4, 2, 2}, 0.25f);
  cache.append(1, k4.cview(), v4.cview());
  EXPECT_EQ(cache.num_free_blocks(), 0);
  EXPECT_EQ(cache.length(1, 0), 6);
}

// ---- configuration ------------------------------------------------------------------------------

TEST(KvCacheConfig, RejectsEachInvalidField) {
  const kv_cache_config valid{.batch = 2,
                              .kv_heads = 2,
                              .head_dim = 4,
                              .capacity = 8,
                              .layout = kv_layout::paged,
                              .block_size = 4};
  EXPECT_NO_THROW(kv_cache<float>{valid});
  const index_t big = index_t{1} << 31;
  const std::vector<std::pair<std::string, std::function<void(kv_cache_config&)>>> cases = {
      {"config.batch", [](kv_cache_config& c) { c.batch = 0; }},
      {"config.kv_heads", [](kv_cache_config& c) { c.kv_heads = -1; }},
      {"config.head_dim", [](kv_cache_config& c) { c.head_dim = 0; }},
      {"config.value_dim", [](kv_cache_config& c) { c.value_dim = -2; }},
      {"config.capacity", [](kv_cache_config& c) { c.capacity = 0; }},
      {"config.capacity", [=](kv_cache_config& c) { c.capacity = big; }},
      {"config.layout", [](kv_cache_config& c) { c.layout = static_cast<kv_layout>(7); }},
      {"config.block_size", [](kv_cache_config& c) { c.block_size = 0; }},
      {"config.num_blocks", [](kv_cache_config& c) { c.num_blocks = -1; }},
      {"config.num_blocks", [=](kv_cache_config& c) { c.num_blocks = big; }},
      {"config.num_blocks",  // the default, batch x blocks per sequence, passes int32
       [=](kv_cache_config& c) {
         c.batch = 3;
         c.capacity = big - 1;
         c.block_size = 1;
       }},
      {"config",  // more elements than index_t can count
       [](kv_cache_config& c) {
         c.layout = kv_layout::contiguous;
         c.batch = index_t{1} << 40;
         c.capacity = index_t{1} << 30;
       }},
  };
  for (const auto& [name, spoil] : cases) {
    kv_cache_config config = valid;
    spoil(config);
    SCOPED_TRACE(name);
    expect_rejected([&] { kv_cache<float> cache(config); }, "kv_cache", name);
  }
}

TEST(KvCacheConfig, ResolvesDefaultsAndIgnoresPagedFieldsWhenContiguous) {
  const kv_cache<std::int8_t> paged({.batch = 3,
                                     .kv_heads = 1,
                                     .head_dim = 8,
                                     .capacity = 10,
                                     .layout = kv_layout::paged,
                                     .block_size = 4});
  EXPECT_EQ(paged.config().value_dim, 8);
  EXPECT_EQ(paged.config().num_blocks, 9);  // 3 x ceil(10 / 4)
  EXPECT_EQ(paged.num_free_blocks(), 9);
  const kv_cache<float> contiguous({.batch = 1,
                                    .kv_heads = 1,
                                    .head_dim = 2,
                                    .value_dim = 3,
                                    .capacity = 5,
                                    .block_size = 0,
                                    .num_blocks = -4});
  EXPECT_EQ(contiguous.config().value_dim, 3);
  EXPECT_EQ(contiguous.num_free_blocks(), 0);
  EXPECT_EQ(contiguous.keys().extents(), (std::array<index_t, 4>{1, 5, 1, 2}));
}

}  // namespace
}  // namespace attnkit
