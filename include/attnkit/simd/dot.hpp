// SPDX-License-Identifier: Apache-2.0
// simd::dot: the fp32 dot product of two rows in SIMD batches.
#pragma once

#include <cstddef>

#include <attnkit/core/tensor_view.hpp>
#include <attnkit/simd/arch.hpp>
#include <attnkit/simd/convert.hpp>
#include <attnkit/simd/reduce.hpp>

namespace attnkit::simd {

/// sum_i a[i] b[i] over n floats (unaligned rows, unit strides, any n; nothing read past n).
/// Two accumulator chains hide half of the FMA latency, and the tail is one partial batch; the
/// sum's order is not a scalar loop's (fp32 rounding only).
template <class Arch>
float dot(const float* a, const float* b, index_t n) noexcept {
  using batch = xsimd::batch<float, Arch>;
  constexpr index_t w = static_cast<index_t>(batch::size);
  batch acc0(0.0f), acc1(0.0f);
  index_t i = 0;
  for (; i + 2 * w <= n; i += 2 * w) {
    acc0 = xsimd::fma(batch::load_unaligned(a + i), batch::load_unaligned(b + i), acc0);
    acc1 = xsimd::fma(batch::load_unaligned(a + i + w), batch::load_unaligned(b + i + w), acc1);
  }
  if (i + w <= n) {
    acc0 = xsimd::fma(batch::load_unaligned(a + i), batch::load_unaligned(b + i), acc0);
    i += w;
  }
  if (i < n) {
    const auto rest = static_cast<std::size_t>(n - i);
    acc1 = xsimd::fma(load_partial<Arch>(a + i, rest), load_partial<Arch>(b + i, rest), acc1);
  }
  return reduce_sum<Arch>(acc0 + acc1);
}

}  // namespace attnkit::simd
