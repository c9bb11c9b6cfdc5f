// SPDX-License-Identifier: Apache-2.0
// tile::dot_rows: the scores of a few queries against cache rows, the Sᵀ = K Qᵀ of decoding.
#pragma once

#include <cstddef>

#include <attnkit/core/tensor_view.hpp>
#include <attnkit/simd/convert.hpp>

namespace attnkit::tile {

/// s[j * lds + r] = row_scale[j] * <rows[j], q_r> for keys j < n and queries r < m, where q_r is
/// the fp32 row q + r * ldq (ldq a multiple of the batch width, aligned, zero past D, m a
/// multiple of 4) and rows[j] points to D elements of type C (float, bf16, fp16 or int8;
/// row_scale nullptr means 1). Reads nothing of a row past D.
///
/// With a few queries per key the product is memory-bound, not a GEMM: each K row is converted
/// once per group of four queries and multiplied lane-wise, kKeys keys x 4 queries = one batch
/// width of accumulators, which one haddp folds into a batch of scores. Per batch of K elements
/// that is 4 FMAs, enough for tens of GB/s per core.
template <class Arch, class C>
void dot_rows(index_t n, index_t m, index_t D, const C* const* rows, const float* row_scale,
              const float* q, index_t ldq, float* s, index_t lds) noexcept {
  using batch = xsimd::batch<float, Arch>;
  constexpr index_t w = static_cast<index_t>(batch::size);
  constexpr index_t kQueries = 4;
  constexpr index_t kKeys = w / kQueries;
  const index_t full = D / w * w;
  for (index_t j0 = 0; j0 < n; j0 += kKeys) {
    const C* k[kKeys];
    for (index_t t = 0; t < kKeys; ++t) k[t] = rows[j0 + t < n ? j0 + t : n - 1];
    for (index_t r0 = 0; r0 < m; r0 += kQueries) {
      batch acc[w];
      for (auto& a : acc) a = batch(0.0f);
      const float* qr = q + r0 * ldq;
      auto step = [&](index_t d, const batch* kv) {
        for (index_t r = 0; r < kQueries; ++r) {
          const batch qv = batch::load_aligned(qr + r * ldq + d);
          for (index_t t = 0; t < kKeys; ++t) acc[t * kQueries + r] = xsimd::fma(kv[t], qv, acc[t * kQueries + r]);
        }
      };
      batch kv[kKeys];
      for (index_t d = 0; d < full; d += w) {
        for (index_t t = 0; t < kKeys; ++t) kv[t] = simd::load<Arch>(k[t] + d);
        step(d, kv);
      }
      if (full < D) {
        for (index_t t = 0; t < kKeys; ++t)
          kv[t] = simd::load_partial<Arch>(k[t] + full, static_cast<std::size_t>(D - full));
        step(full, kv);
      }
      alignas(64) float sums[w];
      xsimd::haddp(acc).store_aligned(sums);
      for (index_t t = 0; t < kKeys && j0 + t < n; ++t) {
        const float f = row_scale ? row_scale[j0 + t] : 1.0f;
        for (index_t r = 0; r < kQueries; ++r) s[(j0 + t) * lds + r0 + r] = f * sums[t * kQueries + r];
      }
    }
  }
}

}  // namespace attnkit::tile
