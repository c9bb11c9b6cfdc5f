// SPDX-License-Identifier: Apache-2.0
// Packing between strided tensors and the contiguous fp32 tiles the micro-kernels read: row copies
// (K, V) and the two transposes of the transposed formulation (Q in, O out), in column panels.
#pragma once

#include <cstring>

#include <attnkit/core/tensor_view.hpp>
#include <attnkit/simd/convert.hpp>

namespace attnkit::tile {

/// dst[r * ld + c] = src[r][c] as fp32 for r < rows, c < cols; rows [rows, rows_pad) and columns
/// [cols, ld) are zeroed. src row r starts at src + r * src_stride (unit stride within a row).
/// Returns whether every copied value is finite (x - x is 0 exactly then, NaN otherwise; the
/// bitwise OR of those differences costs one cycle of latency per batch).
/// Plain copies stream at load/store speed and take K, V rows away from the 4 KiB-aliased BSHD
/// strides, which cost the O += P V loop half its speed when read in place (DESIGN 6).
template <class Arch, class T>
bool copy_rows(const T* src, index_t src_stride, index_t rows, index_t cols, float* dst,
               index_t ld, index_t rows_pad) noexcept {
  using batch = xsimd::batch<float, Arch>;
  constexpr index_t w = static_cast<index_t>(batch::size);
  batch nonfinite(0.0f);
  for (index_t r = 0; r < rows; ++r) {
    const T* s = src + r * src_stride;
    float* d = dst + r * ld;
    index_t c = 0;
    for (; c + w <= cols; c += w) {
      const batch x = simd::load<Arch>(s + c);
      x.store_unaligned(d + c);
      nonfinite = nonfinite | (x - x);
    }
    if (c < cols) {
      const auto n = static_cast<std::size_t>(cols - c);
      const batch x = simd::load_partial<Arch>(s + c, n);
      simd::store_partial(d + c, x, n);
      nonfinite = nonfinite | (x - x);
    }
    for (c = cols; c < ld; ++c) d[c] = 0.0f;
  }
  std::memset(static_cast<void*>(dst + rows * ld), 0,
              static_cast<std::size_t>((rows_pad - rows) * ld) * sizeof(float));
  return xsimd::all(nonfinite == batch(0.0f));  // false in a NaN lane (ordered compare)
}

/// Packs rows [0, rows) of src (queries x cols) transposed and scaled into column panels of
/// kPanel queries: dst[(r / kPanel) * cols * kPanel + c * kPanel + r % kPanel] =
/// scale * src[r][c], with queries [rows, rows_pad) zero. Each panel (cols x kPanel floats) is
/// contiguous: with one row of a wider tile every 256 bytes instead, the panel's 128 lines fall
/// into 16 of the 64 L1 sets and the micro-kernel dropped from 81% to 62% of the FMA peak.
/// Once per query block, so scalar code is enough.
template <index_t kPanel, class T>
void pack_transposed_panels(const T* src, index_t src_stride, index_t rows, index_t cols,
                            float scale, float* dst, index_t rows_pad) noexcept {
  for (index_t r = 0; r < rows_pad; ++r) {
    float* d = dst + (r / kPanel) * cols * kPanel + r % kPanel;
    if (r < rows)
      for (index_t c = 0; c < cols; ++c) d[c * kPanel] = scale * float(src[r * src_stride + c]);
    else
      for (index_t c = 0; c < cols; ++c) d[c * kPanel] = 0.0f;
  }
}

/// The inverse layout on the way out: dst[r][c] = T(src(r, c) * row_scale[r]) for r < rows,
/// c < cols, where src holds column panels as pack_transposed_panels writes them.
template <index_t kPanel, class T>
void unpack_transposed_panels(const float* src, const float* row_scale, index_t rows, index_t cols,
                              T* dst, index_t dst_stride) noexcept {
  for (index_t r = 0; r < rows; ++r) {
    const float* s = src + (r / kPanel) * cols * kPanel + r % kPanel;
    T* d = dst + r * dst_stride;
    const float f = row_scale[r];
    for (index_t c = 0; c < cols; ++c) d[c] = T(s[c * kPanel] * f);
  }
}

}  // namespace attnkit::tile
