// SPDX-License-Identifier: Apache-2.0
// detail::nearest_center: for each row, the center of largest inner product (the k-means
// assignment of spherical k-means, the angular LSH hash), on the decode micro-kernel.
#pragma once

#include <algorithm>
#include <cstdint>
#include <limits>

#include <attnkit/core/aligned_buffer.hpp>
#include <attnkit/core/tensor_view.hpp>
#include <attnkit/tile/dot_rows.hpp>
#include <attnkit/tile/gemm_tile.hpp>
#include <attnkit/tile/tile_config.hpp>

namespace attnkit::detail {

/// Centers packed for tile::dot_rows: m rows of D floats at a stride ld (the batch width's
/// multiple), zero past D, zero rows up to a multiple of 4.
template <class Arch>
struct packed_centers {
  static constexpr index_t kWidth = static_cast<index_t>(xsimd::batch<float, Arch>::size);
  index_t m = 0, m4 = 0, D = 0, ld = 0;
  aligned_buffer<float> rows;

  packed_centers() = default;
  packed_centers(index_t count, index_t dim)
      : m(count), m4((count + 3) / 4 * 4), D(dim), ld((dim + kWidth - 1) / kWidth * kWidth),
        rows(std::size_t(m4 * ld)) {
    std::fill(rows.data(), rows.data() + rows.size(), 0.0f);
  }
  float* row(index_t c) const noexcept { return rows.data() + c * ld; }
};

/// out[p] = argmax over c < centers.m of <x_p, center_c> for the n rows x_p = points[p] (D
/// floats each), or with `signed_too` over the 2m values [<x, c_0> .. <x, c_{m-1}>,
/// -<x, c_0> .. -<x, c_{m-1}>] (indices m + c for the negated ones). The first maximum wins
/// (ties go to the lower index); a NaN product never wins, so a row of NaN gets 0. Products in
/// fp32 on Arch, so the choice is deterministic per arch, not across archs with different FMA
/// rounding. `s` is scratch of at least 64 x centers.m4 floats (used below 16 centers).
template <class Arch>
void nearest_center(const float* const* points, index_t n, const packed_centers<Arch>& centers,
                    bool signed_too, float* s, std::int32_t* out) {
  constexpr index_t kRows = 64;
  using config = tile::tile_config<Arch>;
  const index_t m = centers.m, D = centers.D;
  // 16 centers or more: S = X Cᵀ on the flash micro-kernel over copied point rows (the decode
  // kernel's horizontal sums cost it about half its speed as a GEMM); fewer: tile::dot_rows.
  const bool gemm = m >= 16;
  const index_t lds = gemm ? (m + config::kCols - 1) / config::kCols * config::kCols : centers.m4;
  aligned_buffer<float> ct, x, sg;
  if (gemm) {  // Cᵀ: [D x lds], X: [kRows x D], S: [kRows x lds]
    ct = aligned_buffer<float>(std::size_t(D * lds));
    x = aligned_buffer<float>(std::size_t(kRows * D));
    sg = aligned_buffer<float>(std::size_t(kRows * lds));
    std::fill(ct.data(), ct.data() + ct.size(), 0.0f);
    for (index_t c = 0; c < m; ++c)
      for (index_t d = 0; d < D; ++d) ct[std::size_t(d * lds + c)] = centers.row(c)[d];
    s = sg.data();
  }
  for (index_t p0 = 0; p0 < n; p0 += kRows) {
    const index_t nb = std::min(kRows, n - p0);
    // S: [nb x lds] fp32, point p in row p, center c in column c
    if (gemm) {
      for (index_t p = 0; p < nb; ++p) std::copy_n(points[p0 + p], D, x.data() + p * D);
      tile::gemm<Arch, config::kRows, config::kVecs>(nb, lds, D, {x.data(), D, 1}, ct.data(), lds, s,
                                                     lds, nullptr);
    } else {
      tile::dot_rows<Arch>(nb, centers.m4, D, points + p0, nullptr, centers.rows.data(), centers.ld,
                           s, lds);
    }
    for (index_t p = 0; p < nb; ++p) {
      const float* row = s + p * lds;
      float best = -std::numeric_limits<float>::infinity();
      std::int32_t arg = 0;
      for (index_t c = 0; c < m; ++c)
        if (row[c] > best) best = row[c], arg = static_cast<std::int32_t>(c);
      if (signed_too)
        for (index_t c = 0; c < m; ++c)
          if (-row[c] > best) best = -row[c], arg = static_cast<std::int32_t>(m + c);
      out[p0 + p] = arg;
    }
  }
}

}  // namespace attnkit::detail
