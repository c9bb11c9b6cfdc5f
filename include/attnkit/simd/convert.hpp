// SPDX-License-Identifier: Apache-2.0
// Loads of float, bf16, fp16 (and int8, for quantised caches) into fp32 batches and the rounding
// stores back (full and partial).
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <type_traits>

#include <attnkit/core/bf16.hpp>
#include <attnkit/core/fp16.hpp>
#include <attnkit/simd/arch.hpp>

namespace attnkit::simd {

/// The element types a kernel can load into and store from fp32 batches.
template <class T>
concept storage_type =
    std::is_same_v<T, float> || std::is_same_v<T, bf16> || std::is_same_v<T, fp16>;

/// The element types a kernel can load into fp32 batches: the storage types and int8.
template <class T>
concept loadable_type = storage_type<T> || std::is_same_v<T, std::int8_t>;

namespace detail {

template <class Arch, class T>
xsimd::batch<float, Arch> load_scalarwise(const T* p) noexcept {
  alignas(64) float lanes[xsimd::batch<float, Arch>::size];
  for (std::size_t l = 0; l < xsimd::batch<float, Arch>::size; ++l) lanes[l] = float(p[l]);
  return xsimd::batch<float, Arch>::load_aligned(lanes);
}

template <class Arch, class T>
void store_scalarwise(T* p, const xsimd::batch<float, Arch>& x) noexcept {
  alignas(64) float lanes[xsimd::batch<float, Arch>::size];
  x.store_aligned(lanes);
  for (std::size_t l = 0; l < xsimd::batch<float, Arch>::size; ++l) p[l] = T(lanes[l]);
}

// bf16 bits of x in the low half of each 32-bit lane, rounded to nearest even with NaN kept
// quiet: the arithmetic of attnkit::bf16's constructor. Signed lanes wrap like the hardware;
// shifts are arithmetic, hence the masks.
template <class Arch>
xsimd::batch<std::int32_t, Arch> bf16_bits(const xsimd::batch<float, Arch>& x) noexcept {
  using ibatch = xsimd::batch<std::int32_t, Arch>;
  const ibatch u = xsimd::bitwise_cast<ibatch>(x);
  const ibatch high = (u >> 16) & ibatch(0xFFFF);
  const ibatch rounded = ((u + ibatch(0x7FFF) + (high & ibatch(1))) >> 16) & ibatch(0xFFFF);
  const auto is_nan = (u & ibatch(0x7FFFFFFF)) > ibatch(0x7F800000);
  return xsimd::select(is_nan, high | ibatch(0x40), rounded);
}

}  // namespace detail

/// Loads batch<float, Arch>::size consecutive elements of p as fp32 (exact for every type).
template <class Arch, loadable_type T>
xsimd::batch<float, Arch> load(const T* p) noexcept {
  using batch = xsimd::batch<float, Arch>;
  if constexpr (std::is_same_v<T, float>) {
    return batch::load_unaligned(p);
  } else if constexpr (std::is_same_v<T, std::int8_t>) {
    [[maybe_unused]] const void* src = p;
#if defined(__AVX512F__)
    if constexpr (is_avx512<Arch>)
      return batch(_mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128(static_cast<const __m128i*>(src)))));
    else
#endif
#if defined(__AVX2__)
    if constexpr (std::is_base_of_v<xsimd::avx2, Arch>)
      return batch(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64(static_cast<const __m128i*>(src)))));
    else
#endif
#if defined(__AVX__)
    if constexpr (is_avx<Arch>) {
      std::int32_t lo, hi;
      std::memcpy(&lo, p, sizeof(lo));
      std::memcpy(&hi, p + 4, sizeof(hi));
      const __m256i w = _mm256_insertf128_si256(
          _mm256_castsi128_si256(_mm_cvtepi8_epi32(_mm_cvtsi32_si128(lo))),
          _mm_cvtepi8_epi32(_mm_cvtsi32_si128(hi)), 1);
      return batch(_mm256_cvtepi32_ps(w));
    } else
#endif
#if defined(__SSE4_1__)
    if constexpr (std::is_base_of_v<xsimd::sse4_1, Arch>) {
      std::int32_t four;
      std::memcpy(&four, src, sizeof(four));
      return batch(_mm_cvtepi32_ps(_mm_cvtepi8_epi32(_mm_cvtsi32_si128(four))));
    } else
#endif
      return detail::load_scalarwise<Arch>(p);
  } else if constexpr (std::is_same_v<T, bf16>) {
    [[maybe_unused]] const void* src = p;
#if defined(__AVX512F__)
    if constexpr (is_avx512<Arch>) {
      const __m512i w = _mm512_cvtepu16_epi32(_mm256_loadu_si256(static_cast<const __m256i*>(src)));
      return batch(_mm512_castsi512_ps(_mm512_slli_epi32(w, 16)));
    } else
#endif
#if defined(__AVX2__)
    if constexpr (std::is_base_of_v<xsimd::avx2, Arch>) {
      const __m256i w = _mm256_cvtepu16_epi32(_mm_loadu_si128(static_cast<const __m128i*>(src)));
      return batch(_mm256_castsi256_ps(_mm256_slli_epi32(w, 16)));
    } else
#endif
#if defined(__AVX__)
    if constexpr (is_avx<Arch>) {
      const __m128i h = _mm_loadu_si128(static_cast<const __m128i*>(src));
      const __m128i z = _mm_setzero_si128();
      return batch(_mm256_castsi256_ps(
          _mm256_insertf128_si256(_mm256_castsi128_si256(_mm_unpacklo_epi16(z, h)),
                                  _mm_unpackhi_epi16(z, h), 1)));
    } else
#endif
#if defined(__SSE2__)
    if constexpr (is_sse<Arch>) {
      const __m128i h = _mm_loadl_epi64(static_cast<const __m128i*>(src));
      return batch(_mm_castsi128_ps(_mm_unpacklo_epi16(_mm_setzero_si128(), h)));
    } else
#endif
      return detail::load_scalarwise<Arch>(p);
  } else {
    [[maybe_unused]] const void* src = p;
#if defined(__AVX512F__)
    if constexpr (is_avx512<Arch>)
      return batch(_mm512_cvtph_ps(_mm256_loadu_si256(static_cast<const __m256i*>(src))));
    else
#endif
#if defined(__F16C__)
    if constexpr (is_avx<Arch>)
      return batch(_mm256_cvtph_ps(_mm_loadu_si128(static_cast<const __m128i*>(src))));
    else if constexpr (is_sse<Arch>)
      return batch(_mm_cvtph_ps(_mm_loadl_epi64(static_cast<const __m128i*>(src))));
    else
#endif
      return detail::load_scalarwise<Arch>(p);
  }
}

/// Stores the lanes of x to batch<float, Arch>::size consecutive elements of p, rounding to
/// nearest even exactly as the scalar bf16 / fp16 constructors do.
template <class Arch, storage_type T>
void store(T* p, const xsimd::batch<float, Arch>& x) noexcept {
  if constexpr (std::is_same_v<T, float>) {
    x.store_unaligned(p);
  } else if constexpr (std::is_same_v<T, bf16>) {
    [[maybe_unused]] void* dst = p;
#if defined(__AVX512F__)
    if constexpr (is_avx512<Arch>) {
      _mm256_storeu_si256(static_cast<__m256i*>(dst), _mm512_cvtepi32_epi16(detail::bf16_bits(x)));
      return;
    } else
#endif
#if defined(__AVX__)
    if constexpr (is_avx<Arch>) {
      const __m256i b = detail::bf16_bits(x);
      _mm_storeu_si128(static_cast<__m128i*>(dst),
                       _mm_packus_epi32(_mm256_castsi256_si128(b), _mm256_extractf128_si256(b, 1)));
      return;
    } else
#endif
#if defined(__SSE4_1__)
    if constexpr (std::is_base_of_v<xsimd::sse4_1, Arch>) {
      const __m128i b = detail::bf16_bits(x);
      _mm_storel_epi64(static_cast<__m128i*>(dst), _mm_packus_epi32(b, b));
      return;
    } else
#endif
      detail::store_scalarwise(p, x);
  } else {
    [[maybe_unused]] void* dst = p;
    [[maybe_unused]] constexpr int kRound = 0x08;  // _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC
#if defined(__AVX512F__)
    if constexpr (is_avx512<Arch>) {
      _mm256_storeu_si256(static_cast<__m256i*>(dst), _mm512_cvtps_ph(x, kRound));
      return;
    } else
#endif
#if defined(__F16C__)
    if constexpr (is_avx<Arch>) {
      _mm_storeu_si128(static_cast<__m128i*>(dst), _mm256_cvtps_ph(x, kRound));
      return;
    } else if constexpr (is_sse<Arch>) {
      _mm_storel_epi64(static_cast<__m128i*>(dst), _mm_cvtps_ph(x, kRound));
      return;
    } else
#endif
      detail::store_scalarwise(p, x);
  }
}

/// Loads the first n (< batch size) elements of p; the other lanes are 0. Reads nothing past n.
template <class Arch, loadable_type T>
xsimd::batch<float, Arch> load_partial(const T* p, std::size_t n) noexcept {
  alignas(64) T lanes[xsimd::batch<float, Arch>::size] = {};
  std::memcpy(lanes, p, n * sizeof(T));
  return simd::load<Arch>(static_cast<const T*>(lanes));
}

/// Stores the first n (< batch size) lanes of x to p. Writes nothing past n.
template <class Arch, storage_type T>
void store_partial(T* p, const xsimd::batch<float, Arch>& x, std::size_t n) noexcept {
  alignas(64) T lanes[xsimd::batch<float, Arch>::size];
  simd::store<Arch>(static_cast<T*>(lanes), x);
  std::memcpy(p, lanes, n * sizeof(T));
}

}  // namespace attnkit::simd
