// SPDX-License-Identifier: Apache-2.0
// The tolerance rule of DESIGN 4: kernel error against the double reference versus the error of a
// naive float implementation of the same formula.
#pragma once

#include <cmath>
#include <limits>
#include <sstream>

#include <gtest/gtest.h>

#include "support/tensor.hpp"

namespace attnkit::test {

/// max |got - want| over all elements; a NaN where `want` is not NaN (or the reverse) counts as
/// infinite error, NaN where both are NaN as none.
template <class T, class U, std::size_t Rank>
double max_abs_error(const tensor_view<T, Rank>& got, const tensor_view<U, Rank>& want) {
  double worst = 0.0;
  for_each_index(got.extents(), [&](const auto& idx) {
    const double g = double(at(got, idx)), w = double(at(want, idx));
    if (std::isnan(g) || std::isnan(w)) {
      if (std::isnan(g) != std::isnan(w)) worst = std::numeric_limits<double>::infinity();
      return;
    }
    if (g == w) return;  // equal infinities
    worst = std::max(worst, std::fabs(g - w));
  });
  return worst;
}

/// sqrt(sum (got - want)^2 / sum want^2): the bf16 / fp16 error measure.
template <class T, class U, std::size_t Rank>
double rms_relative_error(const tensor_view<T, Rank>& got, const tensor_view<U, Rank>& want) {
  double num = 0.0, den = 0.0;
  for_each_index(got.extents(), [&](const auto& idx) {
    const double g = double(at(got, idx)), w = double(at(want, idx));
    if (std::isinf(w) && g == w) return;  // equal infinities (an lse of -inf) carry no error
    num += (g - w) * (g - w);
    den += w * w;
  });
  return den == 0.0 ? std::sqrt(num) : std::sqrt(num / den);
}

/// DESIGN 4's fp32 rule: the kernel's max error against the double reference is at most
/// `factor` (2; 3 for gradients) times the naive float implementation's, plus `absolute`.
template <class K, class N, class R, std::size_t Rank>
::testing::AssertionResult within_fp32_tolerance(const tensor_view<K, Rank>& kernel,
                                                 const tensor_view<N, Rank>& naive,
                                                 const tensor_view<R, Rank>& reference,
                                                 double factor = 2.0, double absolute = 1e-6) {
  const double kernel_error = max_abs_error(kernel, reference);
  const double naive_error = max_abs_error(naive, reference);
  const double bound = factor * naive_error + absolute;
  if (kernel_error <= bound) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure()
         << "max error " << kernel_error << " exceeds " << factor << " x the naive float error "
         << naive_error << " + " << absolute << " = " << bound;
}

/// DESIGN 4's bf16 rule: RMS relative error below `limit` (1e-2).
template <class K, class R, std::size_t Rank>
::testing::AssertionResult within_rms_tolerance(const tensor_view<K, Rank>& kernel,
                                                const tensor_view<R, Rank>& reference,
                                                double limit = 1e-2) {
  const double e = rms_relative_error(kernel, reference);
  if (e < limit) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "RMS relative error " << e << " >= " << limit;
}

}  // namespace attnkit::test
