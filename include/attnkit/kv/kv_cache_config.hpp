// SPDX-License-Identifier: Apache-2.0
// kv_layout and kv_cache_config, the shape of a kv_cache, and the check that resolves its defaults.
#pragma once

#include <cstdint>
#include <limits>
#include <string>
#include <string_view>

#include <attnkit/core/error.hpp>
#include <attnkit/core/tensor_view.hpp>

namespace attnkit {

/// How a kv_cache lays out its tokens (DESIGN 1.3, flash_attention_with_kvcache).
enum class kv_layout {
  contiguous,  ///< k [B, capacity, Hkv, D]: each sequence owns `capacity` token rows
  paged,       ///< k [num_blocks, block_size, Hkv, D] + block_table [B, max_blocks]: a shared pool
};

/// The shape of a kv_cache: B sequences x Hkv kv heads, each head holding up to `capacity`
/// tokens of keys (head_dim) and values (value_dim).
struct kv_cache_config {
  index_t batch = 1;      ///< B, the number of sequences (>= 1)
  index_t kv_heads = 1;   ///< Hkv (>= 1)
  index_t head_dim = 0;   ///< D, the key head dim (>= 1)
  index_t value_dim = 0;  ///< Dv (>= 1), or 0 for head_dim
  index_t capacity = 0;   ///< the most tokens any head of a sequence may hold (1 .. INT32_MAX)
  kv_layout layout = kv_layout::contiguous;
  index_t block_size = 16;  ///< paged: tokens per block (>= 1); ignored when contiguous
  /// paged: blocks in the pool (0 .. INT32_MAX), or 0 for enough to hold every sequence at
  /// capacity (batch * ceil(capacity / block_size)); ignored when contiguous
  index_t num_blocks = 0;
};

namespace detail {

/// a * b, or -1 when the product of these non-negative sizes exceeds `limit`.
inline index_t checked_product(index_t a, index_t b, index_t limit) noexcept {
  if (a != 0 && b > limit / a) return -1;
  return a * b;
}

/// The blocks that hold `tokens` tokens: ceil(tokens / block_size).
inline index_t blocks_for(index_t tokens, index_t block_size) noexcept {
  return (tokens + block_size - 1) / block_size;
}

/// Checks `config` (throwing attnkit::error that names the field) and returns it with its
/// defaults resolved: value_dim = head_dim when 0; paged num_blocks = batch * ceil(capacity /
/// block_size) when 0. `element_size` bounds the storage so its byte size fits in index_t.
inline kv_cache_config resolve_kv_cache_config(std::string_view where, kv_cache_config config,
                                               index_t element_size) {
  constexpr index_t kInt32Max = std::numeric_limits<std::int32_t>::max();
  require(config.batch >= 1, where, "config.batch", ">= 1", config.batch);
  require(config.kv_heads >= 1, where, "config.kv_heads", ">= 1", config.kv_heads);
  require(config.head_dim >= 1, where, "config.head_dim", ">= 1", config.head_dim);
  require(config.value_dim >= 0, where, "config.value_dim", ">= 0 (0 for head_dim)",
          config.value_dim);
  require(config.capacity >= 1 && config.capacity <= kInt32Max, where, "config.capacity",
          "1 <= capacity <= 2147483647 (int32 cache_seqlens)", config.capacity);
  if (config.value_dim == 0) config.value_dim = config.head_dim;
  const bool paged = config.layout == kv_layout::paged;
  require(paged || config.layout == kv_layout::contiguous, where, "config.layout",
          "kv_layout::contiguous or kv_layout::paged", static_cast<int>(config.layout));
  index_t slots = 0;  // token rows of the storage: B * capacity, or num_blocks * block_size
  const index_t limit = std::numeric_limits<index_t>::max() / element_size;
  if (paged) {
    require(config.block_size >= 1, where, "config.block_size", ">= 1", config.block_size);
    if (config.num_blocks == 0)
      config.num_blocks =
          checked_product(config.batch, blocks_for(config.capacity, config.block_size), limit);
    require(config.num_blocks >= 0 && config.num_blocks <= kInt32Max, where, "config.num_blocks",
            "0 <= num_blocks <= 2147483647 (int32 block ids; 0 for batch * ceil(capacity / "
            "block_size), which must fit too)",
            config.num_blocks);
    slots = checked_product(config.num_blocks, config.block_size, limit);
  } else {
    slots = checked_product(config.batch, config.capacity, limit);
  }
  const index_t rows = slots < 0 ? -1 : checked_product(slots, config.kv_heads, limit);
  const index_t dim = config.head_dim > config.value_dim ? config.head_dim : config.value_dim;
  const index_t elements = rows < 0 ? -1 : checked_product(rows, dim, limit);
  const index_t lengths = checked_product(config.batch, config.kv_heads, limit);
  const index_t table =
      paged ? checked_product(config.batch, blocks_for(config.capacity, config.block_size), limit)
            : 0;
  require(elements >= 0 && lengths >= 0 && table >= 0, where, "config",
          "a cache of at most " + std::to_string(limit) +
              " elements (token rows x kv_heads x head dim; batch x kv_heads lengths; batch x "
              "blocks per sequence table entries)",
          "a larger one");
  return config;
}

}  // namespace detail
}  // namespace attnkit
