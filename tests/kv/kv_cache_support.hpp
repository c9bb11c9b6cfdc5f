// SPDX-License-Identifier: Apache-2.0
// Test support of kv_cache: reading tokens back through the public views only, a plain model of
// the per-head token lists, the whole-state snapshot, and the checks that tie them together.
#pragma once

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <set>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include <attnkit/kv/kv_cache.hpp>

#include "support/tensor.hpp"

namespace attnkit::test {

/// Where token s of sequence b lives in keys()/values(): (first index, second index), found
/// through block_table() the way flash_attention_with_kvcache finds it.
template <class C>
std::array<index_t, 2> token_address(const kv_cache<C>& cache, index_t b, index_t s) {
  const kv_cache_config& c = cache.config();
  if (c.layout == kv_layout::contiguous) return {b, s};
  return {cache.block_table()(b, s / c.block_size), s % c.block_size};
}

/// One stored row read back as doubles (int8: scale * q) and its scale (0 unless int8).
struct stored_row {
  std::vector<double> values;
  double scale = 0.0;
};

template <class C>
stored_row read_row(const kv_cache<C>& cache, bool key, index_t b, index_t h, index_t s) {
  const auto [x, r] = token_address(cache, b, s);
  const auto view = key ? cache.keys() : cache.values();
  stored_row row;
  if constexpr (std::is_same_v<C, std::int8_t>) {
    row.scale = view.scales(x, r, h);
    for (index_t d = 0; d < view.values.extent(3); ++d)
      row.values.push_back(row.scale * view.values(x, r, h, d));
  } else {
    for (index_t d = 0; d < view.extent(3); ++d) row.values.push_back(float(view(x, r, h, d)));
  }
  return row;
}

/// The tokens a kv_cache should hold: per (sequence, head), the rows appended (as the floats
/// that went in, after the input type's rounding), in order.
struct kv_model {
  struct token {
    std::vector<float> k, v;
  };
  index_t B, H;
  std::vector<std::vector<token>> heads;  // [b * H + h]

  kv_model(index_t batch, index_t kv_heads)
      : B(batch), H(kv_heads), heads(static_cast<std::size_t>(batch * kv_heads)) {}
  std::vector<token>& at(index_t b, index_t h) { return heads[std::size_t(b * H + h)]; }
  const std::vector<token>& at(index_t b, index_t h) const { return heads[std::size_t(b * H + h)]; }

  template <class T>
  void append(index_t b, const tensor_view<const T, 3>& k, const tensor_view<const T, 3>& v) {
    for (index_t h = 0; h < H; ++h)
      for (index_t t = 0; t < k.extent(0); ++t) {
        token tok;
        for (index_t d = 0; d < k.extent(2); ++d) tok.k.push_back(float(k(t, h, d)));
        for (index_t d = 0; d < v.extent(2); ++d) tok.v.push_back(float(v(t, h, d)));
        at(b, h).push_back(std::move(tok));
      }
  }
  void keep(index_t b, index_t h, const std::vector<index_t>& positions) {
    std::vector<token> kept;
    for (index_t p : positions) kept.push_back(at(b, h)[std::size_t(p)]);
    at(b, h) = std::move(kept);
  }
  void remove(index_t b, index_t h, const std::vector<index_t>& positions) {
    std::vector<index_t> kept;
    const std::set<index_t> gone(positions.begin(), positions.end());
    for (index_t s = 0; s < index_t(at(b, h).size()); ++s)
      if (!gone.count(s)) kept.push_back(s);
    keep(b, h, kept);
  }
  index_t max_length(index_t b) const {
    std::size_t m = 0;
    for (index_t h = 0; h < H; ++h) m = std::max(m, at(b, h).size());
    return index_t(m);
  }
};

/// Expects `stored` to be what cache element C makes of `given`: C(x) exactly for float, bf16
/// and fp16; within half a quantisation step for int8.
template <class C>
void expect_stored(const std::vector<float>& given, const stored_row& stored) {
  ASSERT_EQ(given.size(), stored.values.size());
  for (std::size_t d = 0; d < given.size(); ++d) {
    if constexpr (std::is_same_v<C, std::int8_t>) {
      EXPECT_LE(std::fabs(given[d] - stored.values[d]), stored.scale * (0.5 + 1e-6)) << d;
    } else {
      EXPECT_EQ(stored.values[d], double(float(C(given[d])))) << d;
    }
  }
}

/// Checks every observable of `cache` against `model`: lengths through length(), seqlens() and
/// max_length(); every valid row through the views; and, paged, the block table (each sequence
/// holds ceil(max length / block_size) distinct blocks, -1 after them, no block shared) and the
/// free count.
template <class C>
void expect_matches(const kv_cache<C>& cache, const kv_model& model) {
  const kv_cache_config& c = cache.config();
  ASSERT_EQ(cache.seqlens().size(), std::size_t(c.batch * c.kv_heads));
  for (index_t b = 0; b < c.batch; ++b) {
    EXPECT_EQ(cache.max_length(b), model.max_length(b)) << "b " << b;
    for (index_t h = 0; h < c.kv_heads; ++h) {
      const auto& tokens = model.at(b, h);
      ASSERT_EQ(cache.length(b, h), index_t(tokens.size())) << "b " << b << " h " << h;
      EXPECT_EQ(cache.seqlens()[std::size_t(b * c.kv_heads + h)], std::int32_t(tokens.size()));
      for (index_t s = 0; s < index_t(tokens.size()); ++s) {
        SCOPED_TRACE(testing::Message() << "b " << b << " h " << h << " s " << s);
        expect_stored<C>(tokens[std::size_t(s)].k, read_row(cache, true, b, h, s));
        expect_stored<C>(tokens[std::size_t(s)].v, read_row(cache, false, b, h, s));
      }
    }
  }
  const auto table = cache.block_table();
  if (c.layout == kv_layout::contiguous) {
    EXPECT_EQ(table.data(), nullptr);
    EXPECT_EQ(table.size(), 0);
    EXPECT_EQ(cache.num_free_blocks(), 0);
    return;
  }
  const index_t max_blocks = (c.capacity + c.block_size - 1) / c.block_size;
  ASSERT_EQ(table.extent(0), c.batch);
  ASSERT_EQ(table.extent(1), max_blocks);
  std::set<std::int32_t> used;
  for (index_t b = 0; b < c.batch; ++b) {
    const index_t blocks = (model.max_length(b) + c.block_size - 1) / c.block_size;
    for (index_t j = 0; j < max_blocks; ++j) {
      if (j >= blocks) {
        EXPECT_EQ(table(b, j), -1) << "b " << b << " entry " << j;
        continue;
      }
      EXPECT_GE(table(b, j), 0);
      EXPECT_LT(table(b, j), c.num_blocks);
      EXPECT_TRUE(used.insert(table(b, j)).second) << "block " << table(b, j) << " shared";
    }
  }
  EXPECT_EQ(cache.num_free_blocks() + index_t(used.size()), c.num_blocks);
}

/// Every byte of a cache's state: lengths, table, free count, the whole storage.
struct kv_snapshot {
  std::vector<std::int32_t> seqlens, table;
  index_t free_blocks = 0;
  std::vector<unsigned char> bytes;

  template <class C>
  explicit kv_snapshot(const kv_cache<C>& cache)
      : seqlens(cache.seqlens().begin(), cache.seqlens().end()),
        free_blocks(cache.num_free_blocks()) {
    const auto table_view = cache.block_table();
    table.assign(table_view.data(), table_view.data() + table_view.size());
    const auto add = [&](const auto& view) {
      const auto* p = reinterpret_cast<const unsigned char*>(view.data());
      bytes.insert(bytes.end(), p, p + view.size() * sizeof(*view.data()));
    };
    if constexpr (std::is_same_v<C, std::int8_t>) {
      add(cache.keys().values);
      add(cache.keys().scales);
      add(cache.values().values);
      add(cache.values().scales);
    } else {
      add(cache.keys());
      add(cache.values());
    }
  }
  bool operator==(const kv_snapshot&) const = default;
};

/// A random [n, H, D] tensor of T in [-range, range), stored in the order `order` with `pad`
/// (so views of it are strided).
template <class T>
tensor<T, 3> random_rows(index_t n, index_t H, index_t D, std::mt19937_64& rng, double range = 2.0,
                         std::array<std::size_t, 3> order = {0, 1, 2}, index_t pad = 0) {
  tensor<T, 3> t({n, H, D}, order, pad, T(0.0f));
  std::uniform_real_distribution<double> dist(-range, range);
  for_each_index(t.extents(), [&](const auto& idx) { at(t.view(), idx) = T(float(dist(rng))); });
  return t;
}

/// Appends random rows of T to both the cache and the model.
template <class T, class C>
void append_random(kv_cache<C>& cache, kv_model& model, index_t b, index_t n, std::mt19937_64& rng,
                   std::array<std::size_t, 3> order = {0, 1, 2}, index_t pad = 0) {
  const kv_cache_config& c = cache.config();
  const auto k = random_rows<T>(n, c.kv_heads, c.head_dim, rng, 2.0, order, pad);
  const auto v = random_rows<T>(n, c.kv_heads, c.value_dim, rng, 2.0, order, pad);
  cache.append(b, k.cview(), v.cview());
  model.append(b, k.cview(), v.cview());
}

/// A cache of `config` whose sequence b holds lengths[b] random float rows (seeded).
template <class C>
kv_cache<C> random_filled_cache(const kv_cache_config& config, const std::vector<index_t>& lengths,
                                std::uint64_t seed) {
  kv_cache<C> cache(config);
  kv_model model(config.batch, config.kv_heads);
  std::mt19937_64 rng(seed);
  for (std::size_t b = 0; b < lengths.size(); ++b)
    append_random<float>(cache, model, index_t(b), lengths[b], rng);
  return cache;
}

}  // namespace attnkit::test
