// SPDX-License-Identifier: Apache-2.0
// Packing between strided tensors and the contiguous fp32 tiles the micro-kernels read: row copies
// (K, V) and the two transposes that the transposed formulation needs (Q in, O out).
#pragma once

#include <cstring>

#include <attnkit/core/tensor_view.hpp>
#include <attnkit/simd/convert.hpp>

namespace attnkit::tile {

/// dst[r * ld + c] = src[r][c] as fp32 for r < rows, c < cols; rows [rows, rows_pad) and columns
/// [cols, ld) are zeroed. src row r starts at src + r * src_stride (unit stride within a row).
/// Plain copies stream at load/store speed and take K, V rows away from the 4 KiB-aliased BSHD
/// strides, which cost the O += P V loop half its speed when read in place (DESIGN 6).
template <class Arch, class T>
void copy_rows(const T* src, index_t src_stride, index_t rows, index_t cols, float* dst,
               index_t ld, index_t rows_pad) noexcept {
  constexpr index_t w = static_cast<index_t>(xsimd::batch<float, Arch>::size);
  for (index_t r = 0; r < rows; ++r) {
    const T* s = src + r * src_stride;
    float* d = dst + r * ld;
    index_t c = 0;
    for (; c + w <= cols; c += w) simd::load<Arch>(s + c).store_unaligned(d + c);
    if (c < cols) {
      const auto n = static_cast<std::size_t>(cols - c);
      simd::store_partial(d + c, simd::load_partial<Arch>(s + c, n), n);
    }
    for (c = cols; c < ld; ++c) d[c] = 0.0f;
  }
  std::memset(static_cast<void*>(dst + rows * ld), 0,
              static_cast<std::size_t>((rows_pad - rows) * ld) * sizeof(float));
}

/// dst[c * ld + r] = scale * src[r][c]: rows of src (queries) become columns of dst. Columns
/// [rows, ld) of dst are zeroed. Done once per query block, so scalar code is enough.
template <class T>
void transpose_scaled(const T* src, index_t src_stride, index_t rows, index_t cols, float scale,
                      float* dst, index_t ld) noexcept {
  for (index_t c = 0; c < cols; ++c) {
    float* d = dst + c * ld;
    for (index_t r = 0; r < rows; ++r) d[r] = scale * float(src[r * src_stride + c]);
    for (index_t r = rows; r < ld; ++r) d[r] = 0.0f;
  }
}

/// dst[r][c] = T(src[c * ld + r] * row_scale[r]) for r < rows, c < cols: columns of the
/// transposed output tile become rows of the output. Once per query block.
template <class T>
void transpose_out(const float* src, index_t ld, const float* row_scale, index_t rows, index_t cols,
                   T* dst, index_t dst_stride) noexcept {
  for (index_t r = 0; r < rows; ++r) {
    T* d = dst + r * dst_stride;
    const float s = row_scale[r];
    for (index_t c = 0; c < cols; ++c) d[c] = T(src[c * ld + r] * s);
  }
}

}  // namespace attnkit::tile
