// SPDX-License-Identifier: Apache-2.0
// attnkit::default_arch and the runtime question "does this CPU run Arch?": the arch layer over xsimd.
#pragma once

#include <cstddef>
#include <type_traits>

#include <xsimd/xsimd.hpp>

namespace attnkit {

#ifdef ATTNKIT_DEFAULT_ARCH
/// The architecture kernels use when none is named: ATTNKIT_DEFAULT_ARCH (for example
/// `-DATTNKIT_DEFAULT_ARCH=xsimd::avx2`).
using default_arch = ATTNKIT_DEFAULT_ARCH;
#else
/// The architecture kernels use when none is named: the best one this translation unit is
/// compiled for (xsimd::default_arch); override with `-DATTNKIT_DEFAULT_ARCH=xsimd::avx2`.
using default_arch = xsimd::default_arch;
#endif
static_assert(default_arch::supported(),
              "attnkit::default_arch is not enabled by the compiler flags: compile with the "
              "matching -m flags (for example -march=native) or choose another ATTNKIT_DEFAULT_ARCH.");

namespace simd {

/// The architectures this translation unit can instantiate kernels for (best first).
using compiled_archs = xsimd::supported_architectures;

/// fp32 lanes per register of Arch.
template <class Arch>
inline constexpr std::size_t width = xsimd::batch<float, Arch>::size;

/// True when Arch is an AVX-512 architecture (or derives from one).
template <class Arch>
inline constexpr bool is_avx512 = std::is_base_of_v<xsimd::avx512f, Arch>;
/// True when Arch has 256-bit AVX registers (AVX, AVX2 and their FMA3 variants).
template <class Arch>
inline constexpr bool is_avx = std::is_base_of_v<xsimd::avx, Arch>;
/// True when Arch is one of the 128-bit SSE family (sse2 ... sse4_2, fma3<sse4_2>, fma4).
template <class Arch>
inline constexpr bool is_sse = std::is_base_of_v<xsimd::sse2, Arch>;

/// True when the CPU running this program can execute code built for Arch.
template <class Arch>
bool cpu_supports() noexcept {
  const auto& a = xsimd::available_architectures();
  using xsimd::fma3;
  if constexpr (std::is_same_v<Arch, xsimd::sse2>) return a.sse2;
  else if constexpr (std::is_same_v<Arch, xsimd::sse3>) return a.sse3;
  else if constexpr (std::is_same_v<Arch, xsimd::ssse3>) return a.ssse3;
  else if constexpr (std::is_same_v<Arch, xsimd::sse4_1>) return a.sse4_1;
  else if constexpr (std::is_same_v<Arch, xsimd::sse4_2>) return a.sse4_2;
  else if constexpr (std::is_same_v<Arch, fma3<xsimd::sse4_2>>) return a.fma3_sse;
  else if constexpr (std::is_same_v<Arch, xsimd::fma4>) return a.fma4;
  else if constexpr (std::is_same_v<Arch, xsimd::avx>) return a.avx;
  else if constexpr (std::is_same_v<Arch, fma3<xsimd::avx>>) return a.fma3_avx;
  else if constexpr (std::is_same_v<Arch, xsimd::avx2>) return a.avx2;
  else if constexpr (std::is_same_v<Arch, fma3<xsimd::avx2>>) return a.fma3_avx2;
  else if constexpr (std::is_same_v<Arch, xsimd::avx512f>) return a.avx512f;
  else if constexpr (std::is_same_v<Arch, xsimd::avx512cd>) return a.avx512f && a.avx512cd;
  else if constexpr (std::is_same_v<Arch, xsimd::avx512dq>)
    return a.avx512f && a.avx512cd && a.avx512dq;
  else if constexpr (std::is_same_v<Arch, xsimd::avx512bw>)
    return a.avx512f && a.avx512cd && a.avx512dq && a.avx512bw;
  else
    return Arch::version() <= a.best;
}

}  // namespace simd
}  // namespace attnkit
