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

/// Every arch this binary is compiled for; tests skip the ones the CPU lacks.
using compiled_archs = typename to_gtest_types<simd::compiled_archs>::type;

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
