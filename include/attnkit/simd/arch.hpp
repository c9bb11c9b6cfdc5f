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

/// The architectures this translation unit can instantiate kernels for (best first): what the
/// tests and the fuzzer run every kernel on. With ATTNKIT_FEW_ARCHS defined, only the best and
/// the narrowest (sse2, 4 lanes), which still cover both tail widths at a fraction of the build
/// time (the sanitizer builds define it).
#ifdef ATTNKIT_FEW_ARCHS
using compiled_archs = xsimd::arch_list<xsimd::default_arch, xsimd::sse2>;
#else
using compiled_archs = xsimd::supported_architectures;
#endif

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

/// True when the CPU running this program (and its OS, for the AVX register state) can execute
/// code built for Arch. On x86 with GCC or Clang this asks the compiler runtime, which checks
/// XGETBV; xsimd 8.1's own table reads the AVX bit from the wrong CPUID leaf.
template <class Arch>
bool cpu_supports() noexcept {
#if (defined(__GNUC__) || defined(__clang__)) && (defined(__x86_64__) || defined(__i386__))
  using xsimd::fma3;
  if constexpr (std::is_same_v<Arch, xsimd::sse2>) return __builtin_cpu_supports("sse2");
  else if constexpr (std::is_same_v<Arch, xsimd::sse3>) return __builtin_cpu_supports("sse3");
  else if constexpr (std::is_same_v<Arch, xsimd::ssse3>) return __builtin_cpu_supports("ssse3");
  else if constexpr (std::is_same_v<Arch, xsimd::sse4_1>) return __builtin_cpu_supports("sse4.1");
  else if constexpr (std::is_same_v<Arch, xsimd::sse4_2>) return __builtin_cpu_supports("sse4.2");
  else if constexpr (std::is_same_v<Arch, fma3<xsimd::sse4_2>>) return __builtin_cpu_supports("sse4.2") && __builtin_cpu_supports("fma");
  else if constexpr (std::is_same_v<Arch, xsimd::fma4>) return __builtin_cpu_supports("sse4.2") && __builtin_cpu_supports("fma4");
  else if constexpr (std::is_same_v<Arch, xsimd::avx>) return __builtin_cpu_supports("avx");
  else if constexpr (std::is_same_v<Arch, fma3<xsimd::avx>>) return __builtin_cpu_supports("avx") && __builtin_cpu_supports("fma");
  else if constexpr (std::is_same_v<Arch, xsimd::avx2>) return __builtin_cpu_supports("avx2");
  else if constexpr (std::is_same_v<Arch, fma3<xsimd::avx2>>) return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  else if constexpr (std::is_same_v<Arch, xsimd::avx512f>) return __builtin_cpu_supports("avx512f");
  else if constexpr (std::is_same_v<Arch, xsimd::avx512cd>) return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512cd");
  else if constexpr (std::is_same_v<Arch, xsimd::avx512dq>)
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512cd") && __builtin_cpu_supports("avx512dq");
  else if constexpr (std::is_same_v<Arch, xsimd::avx512bw>)
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512cd") && __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512bw");
  else
    return false;
#else
  return Arch::version() <= xsimd::available_architectures().best;
#endif
}

}  // namespace simd
}  // namespace attnkit
