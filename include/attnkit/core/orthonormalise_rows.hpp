// SPDX-License-Identifier: Apache-2.0
// detail::orthonormalise_rows: modified Gram-Schmidt on the rows of a small double matrix.
#pragma once

#include <cmath>

#include <attnkit/core/tensor_view.hpp>

namespace attnkit::detail {

/// Rows 0..n-1 of `rows` (each D doubles, contiguous) made orthonormal in order by modified
/// Gram-Schmidt, with `passes` sweeps of projections per row (a second restores the
/// orthogonality one loses to rounding). @pre n <= D and the rows independent (true with
/// probability 1 for Gaussian draws). O(passes n^2 D).
inline void orthonormalise_rows(double* rows, index_t n, index_t D, int passes = 1) noexcept {
  for (index_t r = 0; r < n; ++r) {
    double* row = rows + r * D;
    for (int pass = 0; pass < passes; ++pass)
      for (index_t s = 0; s < r; ++s) {
        const double* prev = rows + s * D;
        double dot = 0;
        for (index_t d = 0; d < D; ++d) dot += row[d] * prev[d];
        for (index_t d = 0; d < D; ++d) row[d] -= dot * prev[d];
      }
    double norm = 0;
    for (index_t d = 0; d < D; ++d) norm += row[d] * row[d];
    norm = std::sqrt(norm);
    for (index_t d = 0; d < D; ++d) row[d] /= norm;
  }
}

}  // namespace attnkit::detail
