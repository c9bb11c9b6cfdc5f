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
/// rounding. `s` is scratch of at least 64 x centers.m4 floats.
template <class Arch>
void nearest_center(const float* const* points, index_t n, const packed_centers<Arch>& centers,
                    bool signed_too, float* s, std::int32_t* out) noexcept {
  constexpr index_t kRows = 64;
  const index_t m = centers.m, lds = centers.m4;
  for (index_t p0 = 0; p0 < n; p0 += kRows) {
    const index_t nb = std::min(kRows, n - p0);
    // S: [nb x m4] fp32, point p in row p, center c in column c
    tile::dot_rows<Arch>(nb, centers.m4, centers.D, points + p0, nullptr, centers.rows.data(),
                         centers.ld, s, lds);
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
