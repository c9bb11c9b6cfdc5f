// SPDX-License-Identifier: Apache-2.0
// Tests of the arch layer: default_arch, the compiled arch list and the CPU check.
#include <attnkit/simd/arch.hpp>

#include <gtest/gtest.h>

namespace attnkit {
namespace {

TEST(SimdArch, DefaultArchIsCompiledAndRunsHere) {
  EXPECT_TRUE(simd::compiled_archs::contains<default_arch>());
  // The tests are built for the machine that runs them (-march=native), so the CPU has it.
  EXPECT_TRUE(simd::cpu_supports<default_arch>());
  EXPECT_GE(simd::width<default_arch>, 4u);
}

TEST(SimdArch, EveryCompiledArchUpToTheDefaultRunsHere) {
  // -march=native compiles in exactly what the CPU has, so every compiled arch must pass the
  // runtime check, or the cpu_supports mapping is wrong.
  simd::compiled_archs::for_each([](auto arch) {
    using Arch = decltype(arch);
    EXPECT_TRUE(simd::cpu_supports<Arch>()) << Arch::name();
  });
}

TEST(SimdArch, FamiliesAreDisjoint) {
  static_assert(simd::is_sse<xsimd::sse2> && !simd::is_avx<xsimd::sse2>);
  static_assert(simd::is_sse<xsimd::fma3<xsimd::sse4_2>>);
  static_assert(simd::is_avx<xsimd::fma3<xsimd::avx2>> && !simd::is_sse<xsimd::avx2>);
  static_assert(simd::is_avx512<xsimd::avx512bw> && !simd::is_avx<xsimd::avx512bw>);
  SUCCEED();
}

}  // namespace
}  // namespace attnkit
