// SPDX-License-Identifier: Apache-2.0
// tile::axpy_rows: O = diag(alpha) O + P V for a few queries over cache rows, the Oᵀ += Vᵀ Pᵀ of
// decoding.
#pragma once

#include <cstddef>

#include <attnkit/core/tensor_view.hpp>
#include <attnkit/simd/convert.hpp>

namespace attnkit::tile {

/// o[r * ldo + d] = alpha[r] o[r * ldo + d] + sum over j < n of p[j * ldp + r] row_scale[j]
/// rows[j][d], for queries r < m (a multiple of 4) and d < Dv. rows[j] points to Dv elements of
/// type C (row_scale nullptr means 1); o rows are aligned with ldo a multiple of the batch width
/// and at least Dv rounded up to it (lanes past Dv receive zeros times p). Reads nothing of a
/// row past Dv.
///
/// Each V batch is converted once per four queries and feeds four FMAs with broadcast weights;
/// kVecs batches of four output rows stay in registers across the n keys.
template <class Arch, class C, int kVecs = (xsimd::batch<float, Arch>::size >= 16 ? 4 : 2)>
void axpy_rows(index_t n, index_t m, index_t Dv, const C* const* rows, const float* row_scale,
               const float* p, index_t ldp, const float* alpha, float* o, index_t ldo) noexcept {
  using batch = xsimd::batch<float, Arch>;
  constexpr index_t w = static_cast<index_t>(batch::size);
  constexpr index_t kQueries = 4;
  for (index_t r0 = 0; r0 < m; r0 += kQueries) {
    float* out = o + r0 * ldo;
    // Columns [d0, d0 + vecs * w): vecs full batches, or one batch ending at Dv (partial load).
    auto columns = [&]<int vecs>(index_t d0, index_t valid) {
      batch acc[kQueries][vecs];
      for (index_t r = 0; r < kQueries; ++r)
        for (int v = 0; v < vecs; ++v)
          acc[r][v] = batch(alpha[r0 + r]) * batch::load_aligned(out + r * ldo + d0 + v * w);
      for (index_t j = 0; j < n; ++j) {
        const float f = row_scale ? row_scale[j] : 1.0f;
        batch x[vecs];
        for (int v = 0; v < vecs; ++v)
          x[v] = valid == w * vecs ? simd::load<Arch>(rows[j] + d0 + v * w)
                                   : simd::load_partial<Arch>(rows[j] + d0, static_cast<std::size_t>(valid));
        for (index_t r = 0; r < kQueries; ++r) {
          const batch weight(f * p[j * ldp + r0 + r]);
          for (int v = 0; v < vecs; ++v) acc[r][v] = xsimd::fma(weight, x[v], acc[r][v]);
        }
      }
      for (index_t r = 0; r < kQueries; ++r)
        for (int v = 0; v < vecs; ++v) acc[r][v].store_aligned(out + r * ldo + d0 + v * w);
    };
    index_t d0 = 0;
    for (; d0 + kVecs * w <= Dv; d0 += kVecs * w) columns.template operator()<kVecs>(d0, kVecs * w);
    for (; d0 + w <= Dv; d0 += w) columns.template operator()<1>(d0, w);
    if (d0 < Dv) columns.template operator()<1>(d0, Dv - d0);
  }
}

}  // namespace attnkit::tile
