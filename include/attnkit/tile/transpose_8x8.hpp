// SPDX-License-Identifier: Apache-2.0
// tile::transpose_8x8: an 8 x 8 block of floats transposed through registers (AVX) or element
// by element (other archs).
#pragma once

#if defined(__AVX__)
#include <immintrin.h>
#endif

#include <attnkit/core/tensor_view.hpp>
#include <attnkit/simd/arch.hpp>

namespace attnkit::tile {

/// dst[c * ldd + r] = src[r * lds + c] for r, c < 8. On AVX the block goes through eight
/// registers and leaves as eight 32-byte stores, where a scalar transpose writes one float
/// per destination row (4x slower for a [64 x 128] key block). Any alignment.
template <class Arch>
inline void transpose_8x8(const float* src, index_t lds, float* dst, index_t ldd) noexcept {
#if defined(__AVX__)
  if constexpr (simd::is_avx<Arch>) {
    __m256 r[8], t[8];
    for (int x = 0; x < 8; ++x) r[x] = _mm256_loadu_ps(src + x * lds);
    for (int x = 0; x < 8; x += 2) {
      t[x] = _mm256_unpacklo_ps(r[x], r[x + 1]);
      t[x + 1] = _mm256_unpackhi_ps(r[x], r[x + 1]);
    }
    for (int x = 0; x < 8; x += 4) {
      r[x] = _mm256_shuffle_ps(t[x], t[x + 2], _MM_SHUFFLE(1, 0, 1, 0));
      r[x + 1] = _mm256_shuffle_ps(t[x], t[x + 2], _MM_SHUFFLE(3, 2, 3, 2));
      r[x + 2] = _mm256_shuffle_ps(t[x + 1], t[x + 3], _MM_SHUFFLE(1, 0, 1, 0));
      r[x + 3] = _mm256_shuffle_ps(t[x + 1], t[x + 3], _MM_SHUFFLE(3, 2, 3, 2));
    }
    for (int x = 0; x < 4; ++x) {
      _mm256_storeu_ps(dst + x * ldd, _mm256_permute2f128_ps(r[x], r[x + 4], 0x20));
      _mm256_storeu_ps(dst + (x + 4) * ldd, _mm256_permute2f128_ps(r[x], r[x + 4], 0x31));
    }
    return;
  }
#endif
  for (index_t r = 0; r < 8; ++r)
    for (index_t c = 0; c < 8; ++c) dst[c * ldd + r] = src[r * lds + c];
}

}  // namespace attnkit::tile
