// SPDX-License-Identifier: Apache-2.0
// tile::gemm_column_ranges: C = C diag(alpha) + A B with each column of the product summed over
// its own range of k, the exact (and slow) form of a masked Oᵀ += Vᵀ Pᵀ.
#pragma once

#include <attnkit/core/tensor_view.hpp>
#include <attnkit/tile/gemm_tile.hpp>

namespace attnkit::tile {

/// C[r][c] = alpha[c] C[r][c] + sum over k_begin[c] <= k < k_end[c] of A(r, k) B[k][c], for
/// r < M, c < N. A product restricted to the visible keys leaves out the terms 0 x v of the
/// masked ones, which a full product adds and which are NaN when v is not finite: the flash
/// kernels take this path for partially masked blocks whose V rows hold a NaN or an infinity
/// (DESIGN 1.3 rule 5: such a value must reach only the rows that see it). Scalar: it only
/// runs on non-finite input.
inline void gemm_column_ranges(index_t M, index_t N, a_operand a, const float* b, index_t ldb,
                               float* c, index_t ldc, const float* alpha, const index_t* k_begin,
                               const index_t* k_end) noexcept {
  for (index_t r = 0; r < M; ++r)
    for (index_t col = 0; col < N; ++col) {
      float sum = alpha[col] * c[r * ldc + col];
      for (index_t k = k_begin[col]; k < k_end[col]; ++k)
        sum += a.data[r * a.row_stride + k * a.k_stride] * b[k * ldb + col];
      c[r * ldc + col] = sum;
    }
}

}  // namespace attnkit::tile
