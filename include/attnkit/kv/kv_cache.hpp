// SPDX-License-Identifier: Apache-2.0
// attnkit::kv_cache, the owning KV cache (contiguous or paged; float, bf16, fp16 or int8) whose
// views feed flash_attention_with_kvcache.
#pragma once

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include <attnkit/core/aligned_buffer.hpp>
#include <attnkit/core/error.hpp>
#include <attnkit/core/tensor_view.hpp>
#include <attnkit/exact/arguments.hpp>
#include <attnkit/exact/quantized_kv.hpp>
#include <attnkit/kv/block_allocator.hpp>
#include <attnkit/kv/elements.hpp>
#include <attnkit/kv/kv_cache_config.hpp>
#include <attnkit/kv/quantize.hpp>

namespace attnkit {

/// An owning KV cache of B sequences x Hkv kv heads in which every (sequence, kv head) keeps its
/// own number of tokens, so eviction policies can drop different tokens per head.
///
/// Its views are the arguments of flash_attention_with_kvcache:
/// @code
///   flash_attention_with_kvcache(q, cache.keys(), cache.values(), out, cache.seqlens(), opt,
///                                cache.block_table());
/// @endcode
/// - contiguous layout: keys() [B, capacity, Hkv, D], values() [B, capacity, Hkv, Dv]; token s
///   of head h of sequence b is keys()(b, s, h, :); block_table() is the empty view.
/// - paged layout: keys() [num_blocks, block_size, Hkv, D] (the pool), block_table()
///   [B, ceil(capacity / block_size)] int32; token s lives in block block_table(b, s /
///   block_size), row s % block_size. A sequence holds exactly ceil(max_h length(b, h) /
///   block_size) blocks, in table entries 0, 1, ...; the other entries are -1. Blocks come from
///   a pool shared by all sequences, so one sequence's blocks interleave with another's.
/// - seqlens(): B x Hkv int32 lengths, row-major (the per-head form of cache_seqlens).
/// - C = std::int8_t: keys() and values() are quantized_kv, int8 values with one fp32 scale per
///   (token, kv head): each row is quantised on append by detail::quantize_int8_row (scale =
///   max|x| / 127 rounded up, round half away from zero, |x - scale * q| <= scale / 2, an
///   all-zero row has scale 0). Non-finite inputs are rejected: int8 cannot hold them.
///
/// All storage is allocated (and zeroed) by the constructor and never moves, so views and
/// seqlens() taken once stay valid, and see every later change, for the cache's lifetime.
/// Memory past each head's length holds stale data that no kernel reads.
///
/// Every member function checks its arguments and throws attnkit::error naming the argument,
/// the expected and the actual value before it changes anything. A kv_cache is not
/// synchronised: const members may run concurrently, a mutating one needs exclusive access.
/// Move-only (the storage is large; copy through the views when a fork is wanted); a moved-from
/// cache may only be assigned to or destroyed.
template <kv_cache_element C = float>
class kv_cache {
 public:
  using element_type = C;
  static constexpr bool kQuantized = std::is_same_v<C, std::int8_t>;
  /// What keys() and values() return: a 4-d view, or int8 values with scales.
  using cache_view = std::conditional_t<kQuantized, quantized_kv, tensor_view<const C, 4>>;

  /// Allocates the whole cache, every sequence empty. Throws attnkit::error naming the invalid
  /// field of `config` (see kv_cache_config for the ranges).
  explicit kv_cache(const kv_cache_config& config)
      : config_(detail::resolve_kv_cache_config("kv_cache", config, sizeof(C))) {
    const index_t slots =
        paged() ? config_.num_blocks * config_.block_size : config_.batch * config_.capacity;
    const index_t rows = slots * config_.kv_heads;
    k_ = zeroed<C>(rows * config_.head_dim);
    v_ = zeroed<C>(rows * config_.value_dim);
    if constexpr (kQuantized) {
      k_scales_ = zeroed<float>(rows);
      v_scales_ = zeroed<float>(rows);
    }
    seqlens_.assign(static_cast<std::size_t>(config_.batch * config_.kv_heads), 0);
    if (paged()) {
      max_blocks_ = detail::blocks_for(config_.capacity, config_.block_size);
      table_.assign(static_cast<std::size_t>(config_.batch * max_blocks_), -1);
      blocks_used_.assign(static_cast<std::size_t>(config_.batch), 0);
      pool_ = detail::block_allocator(config_.num_blocks);
    }
  }

  kv_cache(const kv_cache&) = delete;
  kv_cache& operator=(const kv_cache&) = delete;
  kv_cache(kv_cache&&) noexcept = default;
  kv_cache& operator=(kv_cache&&) noexcept = default;

  /// The configuration with its defaults resolved (value_dim, paged num_blocks).
  const kv_cache_config& config() const noexcept { return config_; }

  /// The tokens head h of sequence b holds. @pre 0 <= b < B, 0 <= h < Hkv.
  index_t length(index_t b, index_t h) const {
    check_sequence("kv_cache::length", b);
    check_head("kv_cache::length", h);
    return seqlens_[static_cast<std::size_t>(b * config_.kv_heads + h)];
  }

  /// The tokens the longest head of sequence b holds (what sizes its blocks). @pre 0 <= b < B.
  index_t max_length(index_t b) const {
    check_sequence("kv_cache::max_length", b);
    return max_length_unchecked(b);
  }

  /// The B x Hkv lengths, row-major: the cache_seqlens of flash_attention_with_kvcache.
  std::span<const std::int32_t> seqlens() const noexcept { return seqlens_; }

  /// The key storage: [B, capacity, Hkv, D] (contiguous) or [num_blocks, block_size, Hkv, D]
  /// (paged), contiguous row-major; quantized_kv with scales [.., .., Hkv] for int8.
  cache_view keys() const { return view_of(k_, k_scales_, config_.head_dim); }
  /// The value storage, as keys() with Dv.
  cache_view values() const { return view_of(v_, v_scales_, config_.value_dim); }

  /// Paged: the block table [B, ceil(capacity / block_size)] (unused entries -1).
  /// Contiguous: the empty view, which flash_attention_with_kvcache reads as "no table".
  tensor_view<const std::int32_t, 2> block_table() const noexcept {
    if (!paged()) return {};
    return {table_.data(), {config_.batch, max_blocks_}};
  }

  /// Paged: the blocks of the pool no sequence holds. Contiguous: 0.
  index_t num_free_blocks() const noexcept { return paged() ? pool_.num_free() : 0; }

  /// True when sequence b has room for n more tokens: every head stays within capacity and
  /// (paged) the pool has the blocks, so append of n (valid) tokens succeeds.
  /// @pre 0 <= b < B, n >= 0.
  bool can_append(index_t b, index_t n) const {
    check_sequence("kv_cache::can_append", b);
    detail::require(n >= 0, "kv_cache::can_append", "n", ">= 0", n);
    return n <= capacity_room(b) && n <= pool_room(b);
  }

  /// Appends n tokens to sequence b: k_new [n, Hkv, D] and v_new [n, Hkv, Dv] of float, bf16 or
  /// fp16, any strides (stride 0 broadcasts). Head h receives its n rows at positions
  /// length(b, h) .. length(b, h) + n - 1, converted to C (rounded to nearest even; quantised
  /// for int8); paged: blocks are taken from the pool as the longest head needs them.
  /// @pre 0 <= b < B; k_new, v_new shaped as above with non-null data when non-empty; every
  /// head keeps <= capacity tokens; paged: the pool has the blocks; int8: finite values; the
  /// new rows do not overlap the cache's own storage. Throws attnkit::error otherwise, before
  /// anything changes. O(n Hkv (D + Dv)).
  template <kv_input_element TK, kv_input_element TV>
  void append(index_t b, const tensor_view<TK, 3>& k_new, const tensor_view<TV, 3>& v_new) {
    constexpr std::string_view kWhere = "kv_cache::append";
    check_sequence(kWhere, b);
    check_new_rows(kWhere, "k_new", k_new, config_.head_dim, "D, the head dim of the cache");
    check_new_rows(kWhere, "v_new", v_new, config_.value_dim, "Dv, the value dim of the cache");
    const index_t n = k_new.extent(0);
    detail::check_extent(kWhere, "v_new", v_new, 0, n, "the new tokens of k_new");
    const index_t longest = max_length_unchecked(b);
    if (n > capacity_room(b))  // messages are built only on failure: append runs every step
      detail::throw_argument_error(
          kWhere, "k_new",
          "extent(0) <= " + std::to_string(capacity_room(b)) + " (capacity " +
              std::to_string(config_.capacity) + " minus the " + std::to_string(longest) +
              " tokens of the longest head of sequence " + std::to_string(b) + ")",
          n);
    if (n > pool_room(b))
      detail::throw_argument_error(kWhere, "k_new",
                                   "extent(0) <= " + std::to_string(pool_room(b)) +
                                       " (what the blocks of sequence " + std::to_string(b) +
                                       " and the pool's free blocks (" +
                                       std::to_string(num_free_blocks()) + ") hold)",
                                   n);
    if constexpr (kQuantized) {
      check_finite(kWhere, "k_new", k_new);
      check_finite(kWhere, "v_new", v_new);
    }
    if (paged()) grow(b, longest + n);
    for (index_t h = 0; h < config_.kv_heads; ++h) {
      std::int32_t& length = seqlens_[static_cast<std::size_t>(b * config_.kv_heads + h)];
      for (index_t t = 0; t < n; ++t) {
        const index_t row = head_row(b, length + t, h);
        store_row(k_, k_scales_, row, config_.head_dim, k_new, t, h);
        store_row(v_, v_scales_, row, config_.value_dim, v_new, t, h);
      }
      length += static_cast<std::int32_t>(n);
    }
  }

  /// Compacts head h of sequence b to the tokens at `positions`, moved to the front in order:
  /// token positions[i] becomes token i and the length becomes positions.size(). Paged: blocks
  /// that no head of the sequence needs any longer return to the pool. Rows move bit for bit
  /// (int8 rows with their scales: nothing is requantised).
  /// @pre 0 <= b < B, 0 <= h < Hkv; positions strictly ascending, each < length(b, h).
  /// O(moved rows x (D + Dv)).
  void keep(index_t b, index_t h, std::span<const index_t> positions) {
    check_positions("kv_cache::keep", b, h, positions);
    keep_unchecked(b, h, positions);
  }

  /// Removes the tokens at `positions` from head h of sequence b and compacts the rest in
  /// order: keep() of the complement. @pre as keep().
  void remove(index_t b, index_t h, std::span<const index_t> positions) {
    check_positions("kv_cache::remove", b, h, positions);
    const index_t length = seqlens_[static_cast<std::size_t>(b * config_.kv_heads + h)];
    std::vector<index_t> kept;
    kept.reserve(static_cast<std::size_t>(length) - positions.size());
    std::size_t next = 0;  // the next position to remove
    for (index_t s = 0; s < length; ++s) {
      if (next < positions.size() && positions[next] == s)
        ++next;
      else
        kept.push_back(s);
    }
    keep_unchecked(b, h, kept);
  }

  /// Sets key channels `channels` of every token head h of sequence b holds to zero (ThinK's
  /// channel pruning, kv::prune_channels): a zeroed channel adds nothing to q . k, so attention
  /// over the head equals attention over its other channels. Memory is not reclaimed; values,
  /// lengths and the block table are unchanged; int8: the int8 values are zeroed and each row
  /// keeps its scale. Tokens appended later are stored whole.
  /// @pre 0 <= b < B, 0 <= h < Hkv; channels strictly ascending, each < D. O(length x channels).
  void zero_key_channels(index_t b, index_t h, std::span<const index_t> channels) {
    constexpr std::string_view kWhere = "kv_cache::zero_key_channels";
    check_sequence(kWhere, b);
    check_head(kWhere, h);
    for (std::size_t i = 0; i < channels.size(); ++i) {
      const auto element = [&] { return "channels[" + std::to_string(i) + "]"; };
      if (channels[i] < 0 || channels[i] >= config_.head_dim)
        detail::throw_argument_error(
            kWhere, "channels",
            element() + " in [0, " + std::to_string(config_.head_dim) + ") (D, the head dim)",
            channels[i]);
      if (i > 0 && channels[i] <= channels[i - 1])
        detail::throw_argument_error(
            kWhere, "channels",
            "strictly ascending channels; " + element() + " > " + std::to_string(channels[i - 1]),
            channels[i]);
    }
    const index_t length = seqlens_[static_cast<std::size_t>(b * config_.kv_heads + h)];
    for (index_t s = 0; s < length; ++s) {
      C* row = k_.data() + head_row(b, s, h) * config_.head_dim;
      for (const index_t d : channels) row[d] = C(0.0f);
    }
  }

  /// Drops the last n tokens of every head of sequence b (a rejected speculative draft); paged:
  /// freed blocks return to the pool. @pre 0 <= b < B, 0 <= n <= the shortest head's length.
  void drop_last(index_t b, index_t n) {
    constexpr std::string_view kWhere = "kv_cache::drop_last";
    check_sequence(kWhere, b);
    const auto lengths = head_lengths(b);
    const index_t shortest = *std::min_element(lengths.begin(), lengths.end());
    detail::require(n >= 0 && n <= shortest, kWhere, "n",
                    "0 <= n <= " + std::to_string(shortest) +
                        " (the tokens of the shortest head of sequence " + std::to_string(b) + ")",
                    n);
    for (std::int32_t& length : lengths) length -= static_cast<std::int32_t>(n);
    if (paged()) shrink(b);
  }

  /// Empties sequence b; paged: all its blocks return to the pool. @pre 0 <= b < B.
  void reset(index_t b) {
    check_sequence("kv_cache::reset", b);
    for (std::int32_t& length : head_lengths(b)) length = 0;
    if (paged()) shrink(b);
  }

  /// Empties every sequence; paged: the whole pool is free again.
  void clear() {
    for (index_t b = 0; b < config_.batch; ++b) reset(b);
  }

 private:
  template <class T>
  static detail::aligned_buffer<T> zeroed(index_t n) {
    detail::aligned_buffer<T> buffer(static_cast<std::size_t>(n));
    if (n > 0) std::memset(static_cast<void*>(buffer.data()), 0, buffer.size() * sizeof(T));
    return buffer;
  }

  bool paged() const noexcept { return config_.layout == kv_layout::paged; }

  std::span<std::int32_t> head_lengths(index_t b) noexcept {
    return std::span<std::int32_t>(seqlens_).subspan(static_cast<std::size_t>(b * config_.kv_heads),
                                                     static_cast<std::size_t>(config_.kv_heads));
  }

  index_t max_length_unchecked(index_t b) const noexcept {
    const auto first = seqlens_.begin() + b * config_.kv_heads;
    return *std::max_element(first, first + config_.kv_heads);
  }

  /// The tokens every head of sequence b can still take within capacity.
  index_t capacity_room(index_t b) const noexcept {
    return config_.capacity - max_length_unchecked(b);
  }

  /// The tokens the blocks of sequence b and the free blocks of the pool hold beyond its longest
  /// head (contiguous: no limit beyond capacity).
  index_t pool_room(index_t b) const noexcept {
    if (!paged()) return config_.capacity;
    const index_t blocks = blocks_used_[static_cast<std::size_t>(b)] + pool_.num_free();
    return blocks * config_.block_size - max_length_unchecked(b);
  }

  /// The token row (the first index of keys() and values()) of token s of sequence b.
  index_t slot(index_t b, index_t s) const noexcept {
    if (!paged()) return b * config_.capacity + s;
    const index_t block =
        table_[static_cast<std::size_t>(b * max_blocks_ + s / config_.block_size)];
    return block * config_.block_size + s % config_.block_size;
  }

  /// The (token row, head) row of the storage, in units of one head's vector.
  index_t head_row(index_t b, index_t s, index_t h) const noexcept {
    return slot(b, s) * config_.kv_heads + h;
  }

  cache_view view_of(const detail::aligned_buffer<C>& data,
                     const detail::aligned_buffer<float>& scales, index_t dim) const {
    const std::array<index_t, 3> rows =
        paged() ? std::array<index_t, 3>{config_.num_blocks, config_.block_size, config_.kv_heads}
                : std::array<index_t, 3>{config_.batch, config_.capacity, config_.kv_heads};
    const tensor_view<const C, 4> values(data.data(), {rows[0], rows[1], rows[2], dim});
    if constexpr (kQuantized)
      return quantized_kv{values, tensor_view<const float, 3>(scales.data(), rows)};
    else
      return values;
  }

  /// Takes blocks from the pool until sequence b has those of `tokens` tokens.
  void grow(index_t b, index_t tokens) {
    index_t& used = blocks_used_[static_cast<std::size_t>(b)];
    for (const index_t target = detail::blocks_for(tokens, config_.block_size); used < target;
         ++used)
      table_[static_cast<std::size_t>(b * max_blocks_ + used)] = pool_.allocate();
  }

  /// Returns the blocks past those the longest head of sequence b needs to the pool.
  void shrink(index_t b) {
    index_t& used = blocks_used_[static_cast<std::size_t>(b)];
    const index_t target = detail::blocks_for(max_length_unchecked(b), config_.block_size);
    for (; used > target; --used) {
      std::int32_t& entry = table_[static_cast<std::size_t>(b * max_blocks_ + used - 1)];
      pool_.release(entry);
      entry = -1;
    }
  }

  template <class T>
  static void store_row(detail::aligned_buffer<C>& data, detail::aligned_buffer<float>& scales,
                        index_t row, index_t dim, const tensor_view<T, 3>& x, index_t t,
                        index_t h) {
    C* out = data.data() + row * dim;
    const auto get = [&](index_t d) { return static_cast<float>(x(t, h, d)); };
    if constexpr (kQuantized)
      scales[static_cast<std::size_t>(row)] = detail::quantize_int8_row(dim, get, out);
    else
      for (index_t d = 0; d < dim; ++d) out[d] = C(get(d));
  }

  void move_row(index_t b, index_t h, index_t from, index_t to) noexcept {
    const index_t src = head_row(b, from, h), dst = head_row(b, to, h);
    std::copy_n(k_.data() + src * config_.head_dim, config_.head_dim,
                k_.data() + dst * config_.head_dim);
    std::copy_n(v_.data() + src * config_.value_dim, config_.value_dim,
                v_.data() + dst * config_.value_dim);
    if constexpr (kQuantized) {
      k_scales_[static_cast<std::size_t>(dst)] = k_scales_[static_cast<std::size_t>(src)];
      v_scales_[static_cast<std::size_t>(dst)] = v_scales_[static_cast<std::size_t>(src)];
    }
  }

  /// keep() after its checks. Moving forward in place is safe: positions[i] >= i, and a row i
  /// written here is never a later source (later sources are > positions[i] >= i).
  void keep_unchecked(index_t b, index_t h, std::span<const index_t> positions) {
    for (std::size_t i = 0; i < positions.size(); ++i)
      if (positions[i] != static_cast<index_t>(i))
        move_row(b, h, positions[i], static_cast<index_t>(i));
    seqlens_[static_cast<std::size_t>(b * config_.kv_heads + h)] =
        static_cast<std::int32_t>(positions.size());
    if (paged()) shrink(b);
  }

  void check_sequence(std::string_view where, index_t b) const {
    detail::require(b >= 0 && b < config_.batch, where, "b",
                    "a sequence in [0, " + std::to_string(config_.batch) + ")", b);
  }

  void check_head(std::string_view where, index_t h) const {
    detail::require(h >= 0 && h < config_.kv_heads, where, "h",
                    "a kv head in [0, " + std::to_string(config_.kv_heads) + ")", h);
  }

  template <class T>
  void check_new_rows(std::string_view where, std::string_view name, const tensor_view<T, 3>& x,
                      index_t dim, std::string_view what) const {
    detail::check_view(where, name, x, false);
    detail::check_extent(where, name, x, 1, config_.kv_heads, "Hkv, the kv heads of the cache");
    detail::check_extent(where, name, x, 2, dim, what);
  }

  template <class T>
  static void check_finite(std::string_view where, std::string_view name,
                           const tensor_view<T, 3>& x) {
    for (index_t t = 0; t < x.extent(0); ++t)
      for (index_t h = 0; h < x.extent(1); ++h)
        for (index_t d = 0; d < x.extent(2); ++d) {
          const float value = static_cast<float>(x(t, h, d));
          if (!std::isfinite(value))
            detail::throw_argument_error(
                where, name,
                "finite values (an int8 cache cannot hold NaN or infinity); element (" +
                    std::to_string(t) + ", " + std::to_string(h) + ", " + std::to_string(d) +
                    ") finite",
                value);
        }
  }

  /// Checks b, h and positions (strictly ascending, each < length(b, h)) of keep and remove.
  void check_positions(std::string_view where, index_t b, index_t h,
                       std::span<const index_t> positions) const {
    check_sequence(where, b);
    check_head(where, h);
    const index_t length = seqlens_[static_cast<std::size_t>(b * config_.kv_heads + h)];
    for (std::size_t i = 0; i < positions.size(); ++i) {
      const auto element = [&] { return "positions[" + std::to_string(i) + "]"; };
      if (positions[i] < 0 || positions[i] >= length)
        detail::throw_argument_error(where, "positions",
                                     element() + " in [0, " + std::to_string(length) +
                                         ") (the length of head " + std::to_string(h) +
                                         " of sequence " + std::to_string(b) + ")",
                                     positions[i]);
      if (i > 0 && positions[i] <= positions[i - 1])
        detail::throw_argument_error(
            where, "positions",
            "strictly ascending positions; " + element() + " > " + std::to_string(positions[i - 1]),
            positions[i]);
    }
  }

  kv_cache_config config_;
  detail::aligned_buffer<C> k_, v_;                    // [token rows, Hkv, D] and [.., Dv]
  detail::aligned_buffer<float> k_scales_, v_scales_;  // int8: [token rows, Hkv]; else empty
  std::vector<std::int32_t> seqlens_;                  // [B, Hkv]
  // paged only:
  index_t max_blocks_ = 0;            // table entries per sequence
  std::vector<std::int32_t> table_;   // [B, max_blocks_], -1 past blocks_used_[b]
  std::vector<index_t> blocks_used_;  // per sequence
  detail::block_allocator pool_;
};

}  // namespace attnkit
