// SPDX-License-Identifier: Apache-2.0
// The int8 row quantiser of quantised KV caches: one fp32 scale per row, symmetric, no zero point.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>

#include <attnkit/core/tensor_view.hpp>

namespace attnkit::detail {

/// The scale of a row whose largest magnitude is `amax` (finite, >= 0): amax / 127 rounded up
/// to a float, so that every |x| / scale <= 127 and no value clips, even where amax / 127
/// falls among the subnormals (rounding to nearest could give 0 or too small a scale there).
/// 0 for an all-zero row.
inline float int8_scale(float amax) noexcept {
  float scale = static_cast<float>(static_cast<double>(amax) / 127.0);
  // float * 127 has at most 31 significant bits: exact in double, so the test is exact.
  if (static_cast<double>(scale) * 127.0 < static_cast<double>(amax))
    scale = std::nextafter(scale, std::numeric_limits<float>::infinity());
  return scale;
}

/// Quantises the `n` values get(0) .. get(n-1) (finite floats) to q[0 .. n-1] and returns the
/// scale s such that each value x is stored as round(x / s), rounded half away from zero, in
/// [-127, 127]: |x - s * q| <= s / 2 up to a few ulps of s. The largest magnitude maps to
/// +-127 (less only where s is subnormal and coarse). An all-zero row gets s = 0 and q = 0.
/// -128 is never used, so the range is symmetric.
/// @pre every value is finite (kv_cache checks this before it writes anything).
template <class Get>
float quantize_int8_row(index_t n, Get&& get, std::int8_t* q) {
  float amax = 0.0f;
  for (index_t d = 0; d < n; ++d) amax = std::max(amax, std::fabs(static_cast<float>(get(d))));
  const float scale = int8_scale(amax);
  if (scale == 0.0f) {
    std::fill(q, q + n, std::int8_t{0});
    return 0.0f;
  }
  // In double: x / scale may exceed the float range when the scale is subnormal.
  const double inverse = 1.0 / static_cast<double>(scale);
  for (index_t d = 0; d < n; ++d) {
    const double r = std::round(static_cast<double>(static_cast<float>(get(d))) * inverse);
    q[d] = static_cast<std::int8_t>(std::clamp(r, -127.0, 127.0));
  }
  return scale;
}

}  // namespace attnkit::detail
