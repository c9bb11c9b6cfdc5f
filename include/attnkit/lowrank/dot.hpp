// SPDX-License-Identifier: Apache-2.0
// detail::dot: the fp32 dot product of two rows, in SIMD batches with two accumulators.
#pragma once

#include <attnkit/core/tensor_view.hpp>
#include <attnkit/simd/arch.hpp>
#include <attnkit/simd/reduce.hpp>

namespace attnkit::detail {

/// sum_i a[i] b[i] (unaligned rows, any n). Two independent accumulator chains hide half of the
/// FMA latency; the reduction order differs from a scalar loop's (fp32 rounding only).
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
  float sum = simd::reduce_sum<Arch>(acc0 + acc1);
  for (; i < n; ++i) sum += a[i] * b[i];
  return sum;
}

}  // namespace attnkit::detail
