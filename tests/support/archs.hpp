// SPDX-License-Identifier: Apache-2.0
// Typed-test plumbing over every SIMD architecture compiled into the test binary.
#pragma once

#include <string>

#include <gtest/gtest.h>

#include <attnkit/simd/arch.hpp>

namespace attnkit::test {

template <class List>
struct to_gtest_types;
template <class... Archs>
struct to_gtest_types<xsimd::arch_list<Archs...>> {
  using type = ::testing::Types<Archs...>;
};

/// The archs the per-arch tests run (an xsimd::arch_list): every arch this binary is compiled
/// for (simd::compiled_archs), or with ATTNKIT_TEST_DEFAULT_ARCH_ONLY (the sanitizer presets set
/// it; the unsanitized tests preset runs every arch) the default arch alone. Tests skip the ones
/// the CPU lacks.
#ifdef ATTNKIT_TEST_DEFAULT_ARCH_ONLY
using tested_archs = xsimd::arch_list<default_arch>;
#else
using tested_archs = simd::compiled_archs;
#endif

/// test::tested_archs as GoogleTest types, for typed suites.
using compiled_archs = typename to_gtest_types<tested_archs>::type;

/// Names typed tests after the arch ("avx2", "fma3<avx2>" becomes "fma3_avx2").
struct arch_name {
  template <class Arch>
  static std::string GetName(int) {
    std::string name = Arch::name();
    for (char& c : name)
      if (c == '<' || c == '>' || c == ',') c = '_';
    while (!name.empty() && name.back() == '_') name.pop_back();
    return name;
  }
};

}  // namespace attnkit::test

/// Skips the current test when the CPU cannot run Arch.
#define ATTNKIT_SKIP_UNLESS_CPU_SUPPORTS(Arch)                                      \
  do {                                                                              \
    if (!::attnkit::simd::cpu_supports<Arch>())                                     \
      GTEST_SKIP() << "this CPU does not support " << Arch::name();                 \
  } while (0)
