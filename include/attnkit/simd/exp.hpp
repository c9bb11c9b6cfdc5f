// SPDX-License-Identifier: Apache-2.0
// simd::exp, the vector exponential of the softmax: a few ulp, exp(-inf) = 0, NaN in gives NaN out.
#pragma once

#include <cstdint>

#include <attnkit/simd/arch.hpp>

namespace attnkit::simd {
namespace detail {

/// The shared core of exp and exp_nonpositive for an x already clamped: returns e^r, where
/// r = x - n ln2 and n = round(x log2 e), and leaves in `t` a float whose low mantissa bits hold
/// n as an integer (t = x log2 e + 1.5 * 2^23). Method: Cody and Waite's reduction with ln2 split
/// in two, then Cephes' expf polynomial e^r = 1 + r + r^2 P(r) on |r| <= ln2/2 by Horner.
template <class Arch>
xsimd::batch<float, Arch> exp_reduced(const xsimd::batch<float, Arch>& x,
                                      xsimd::batch<float, Arch>& t) noexcept {
  using batch = xsimd::batch<float, Arch>;
  const batch magic(12582912.0f);
  t = xsimd::fma(x, batch(1.44269504088896341f), magic);
  const batch n = t - magic;
  batch r = xsimd::fnma(n, batch(0.693359375f), x);
  r = xsimd::fnma(n, batch(-2.12194440e-4f), r);
  batch p(1.9875691500e-4f);
  p = xsimd::fma(p, r, batch(1.3981999507e-3f));
  p = xsimd::fma(p, r, batch(8.3334519073e-3f));
  p = xsimd::fma(p, r, batch(4.1665795894e-2f));
  p = xsimd::fma(p, r, batch(1.6666665459e-1f));
  p = xsimd::fma(p, r, batch(5.0000001201e-1f));
  return xsimd::fma(p, r * r, r + batch(1.0f));
}

/// 2^(n + shift) as a float, from the t of exp_reduced; exponent field 0 gives +0.
template <class Arch>
xsimd::batch<float, Arch> exp2_of_reduced(const xsimd::batch<float, Arch>& t, int shift) noexcept {
  using ibatch = xsimd::batch<std::int32_t, Arch>;
  const ibatch bits = (xsimd::bitwise_cast<ibatch>(t) - ibatch(0x4B400000 - 127 - shift)) << 23;
  return xsimd::bitwise_cast<xsimd::batch<float, Arch>>(bits);
}

}  // namespace detail

/// e^x lane by lane, within 2 ulp of the exact value wherever it is at least 2^-125 (tested over
/// [-86.9, 88.7] on every arch). Results below about 2^-125 (x < -86.99, -inf included) are
/// flushed to +0, x above ln(FLT_MAX) gives +inf, and a NaN lane stays NaN. The result is
/// 2 e^r * 2^(n-1): building 2^(n-1) keeps n = 128 representable, so the whole float range needs
/// no second scaling step. About 17 vector operations per batch.
template <class Arch>
xsimd::batch<float, Arch> exp(xsimd::batch<float, Arch> x) noexcept {
  using batch = xsimd::batch<float, Arch>;
  // Clamp so that n stays in [-126, 128]. Operand order matters for NaN: max(lo, x) and
  // min(hi, x) return x when x is NaN on x86 (maxps/minps return their second operand).
  x = xsimd::min(batch(89.0f), xsimd::max(batch(-87.0f), x));
  batch t;
  const batch p = detail::exp_reduced(x, t);
  return (p + p) * detail::exp2_of_reduced(t, -1);  // n = -126 gives +0
}

/// e^x for x <= 0 (or NaN): the softmax case, exp(s - max). Two operations cheaper than exp():
/// no upper clamp, and 2^n is built directly since n <= 0. Within 2 ulp wherever the result is
/// at least 2^-126 (x >= -87.3); x < -87.68, -inf included, gives +0; NaN gives NaN. Positive x
/// is outside the contract (the result is wrong, not undefined behaviour).
template <class Arch>
xsimd::batch<float, Arch> exp_nonpositive(xsimd::batch<float, Arch> x) noexcept {
  using batch = xsimd::batch<float, Arch>;
  x = xsimd::max(batch(-88.0f), x);  // n >= -127; max(lo, NaN) is NaN on x86
  batch t;
  const batch p = detail::exp_reduced(x, t);
  return p * detail::exp2_of_reduced(t, 0);  // n = -127 gives +0
}

}  // namespace attnkit::simd
