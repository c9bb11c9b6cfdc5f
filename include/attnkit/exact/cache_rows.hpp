// SPDX-License-Identifier: Apache-2.0
// detail::cache_rows: where the K and V rows of a cached position live (contiguous or paged,
// float / bf16 / fp16 / int8 with scales), as row pointers for the decode micro-kernels.
#pragma once

#include <cstdint>

#include <attnkit/core/tensor_view.hpp>
#include <attnkit/exact/quantized_kv.hpp>

namespace attnkit::detail {

/// A K and a V cache, contiguous [B, S_cache, Hkv, D] or paged [num_blocks, block_size, Hkv, D]
/// with a block table [B, max_blocks]; for int8 (C = std::int8_t) with scales [.., .., Hkv].
template <class C>
struct cache_rows {
  using element = C;
  tensor_view<const C, 4> k, v;
  tensor_view<const float, 3> k_scale, v_scale;  ///< int8 only
  tensor_view<const std::int32_t, 2> table;       ///< empty: contiguous

  /// Pointers to the K and V rows of positions [s0, s0 + n) of sequence b, kv head hk, and
  /// their scales (when the cache is int8; ks and vs may be null otherwise).
  void get(index_t b, index_t hk, index_t s0, index_t n, const C** kr, const C** vr, float* ks,
           float* vs) const noexcept {
    const index_t block = table.empty() ? 0 : k.extent(1);
    for (index_t t = 0; t < n; ++t) {
      const index_t s = s0 + t;
      const index_t x = block ? table(b, s / block) : b, row = block ? s % block : s;
      kr[t] = k.data() + x * k.stride(0) + row * k.stride(1) + hk * k.stride(2);
      vr[t] = v.data() + x * v.stride(0) + row * v.stride(1) + hk * v.stride(2);
      if (ks) {
        ks[t] = k_scale(x, row, hk);
        vs[t] = v_scale(x, row, hk);
      }
    }
  }
};

/// The rows of a float, bf16 or fp16 cache.
template <class C>
cache_rows<C> make_cache_rows(const tensor_view<const C, 4>& k, const tensor_view<const C, 4>& v,
                              const tensor_view<const std::int32_t, 2>& table) {
  return {k, v, {}, {}, table};
}

/// The rows of an int8 cache and their scales.
inline cache_rows<std::int8_t> make_cache_rows(const quantized_kv& k, const quantized_kv& v,
                                               const tensor_view<const std::int32_t, 2>& table) {
  return {k.values, v.values, k.scales, v.scales, table};
}

}  // namespace attnkit::detail
