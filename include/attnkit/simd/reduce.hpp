// SPDX-License-Identifier: Apache-2.0
// Horizontal reductions of a batch (sum, max): wrapped here because xsimd 8.1 only has hadd.
#pragma once

#include <algorithm>
#include <cstddef>

#include <attnkit/simd/arch.hpp>

namespace attnkit::simd {

namespace detail {
#if defined(__SSE2__)
inline float reduce_max_128(__m128 m) noexcept {
  m = _mm_max_ps(m, _mm_movehl_ps(m, m));
  m = _mm_max_ss(m, _mm_shuffle_ps(m, m, 1));
  return _mm_cvtss_f32(m);
}
#endif
}  // namespace detail

/// The sum of the lanes of x.
template <class Arch>
float reduce_sum(const xsimd::batch<float, Arch>& x) noexcept {
  return xsimd::hadd(x);
}

/// The largest lane of x. A NaN lane may or may not win; softmax code relies on NaN reaching
/// the result through exp(x - max) instead.
template <class Arch>
float reduce_max(const xsimd::batch<float, Arch>& x) noexcept {
#if defined(__AVX512F__)
  if constexpr (is_avx512<Arch>) return _mm512_reduce_max_ps(x);
  else
#endif
#if defined(__AVX__)
  if constexpr (is_avx<Arch>) {
    return detail::reduce_max_128(_mm_max_ps(_mm256_castps256_ps128(x), _mm256_extractf128_ps(x, 1)));
  } else
#endif
#if defined(__SSE2__)
  if constexpr (is_sse<Arch>) return detail::reduce_max_128(x);
  else
#endif
  {
    alignas(64) float lanes[xsimd::batch<float, Arch>::size];
    x.store_aligned(lanes);
    return *std::max_element(lanes, lanes + xsimd::batch<float, Arch>::size);
  }
}

}  // namespace attnkit::simd
